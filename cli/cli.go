// Package cli is what every ackmsg command shares: GNU-style flags, the common configuration
// flags, logging to stderr, signal handling and the documented exit codes. Commands stay thin:
// they parse flags here and call the library. It is public because hub.Main, the frame of
// custom hubs, runs in it too; it stands above package config (it loads the configuration) and
// below hub and the commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/ackmsg/ackmsg/config"
)

// Exit codes, the same for every command (README "Exit codes"). A long-running command stopped
// by SIGINT or SIGTERM exits ExitOK once it has flushed what it took in (see [Command.Main]).
const (
	ExitOK      = 0 // success
	ExitRuntime = 1 // runtime error: configuration, bind/connect, certificate, missed --count
	ExitUsage   = 2 // bad usage or bad input
	ExitTimeout = 3 // a guaranteed-delivery publish timed out waiting for ACKs
)

// ExitError carries an exit code out of a command's run function.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Usage wraps err as a bad-usage or bad-input error (exit 2).
func Usage(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Runtime wraps err as a runtime error (exit 1).
func Runtime(err error) error { return &ExitError{Code: ExitRuntime, Err: err} }

// Command is one ackmsg binary.
type Command struct {
	Name    string // e.g. "ackmsg-tail"
	Summary string // one line
	Usage   string // the synopsis after the name, e.g. "[flags]"
	Details string // paragraphs after the flags in --help
	Flags   *pflag.FlagSet
	Config  *config.Flags
	Stdout  io.Writer
	Stderr  io.Writer
	Stdin   io.Reader

	certPrefix   string     // the command's own cert_prefix, see SetCertPrefix
	defaultLevel slog.Level // the command's own default, when neither flag, variable nor file sets one
	level        slog.LevelVar
	log          *slog.Logger
}

// New creates a command with the common flags registered.
func New(name, summary, usage, details string) *Command {
	c := &Command{Name: name, Summary: summary, Usage: usage, Details: details,
		Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	c.Flags = pflag.NewFlagSet(name, pflag.ContinueOnError)
	c.Flags.SortFlags = false
	c.Config = config.RegisterFlags(c.Flags)
	c.SetLogLevel("info")
	return c
}

// SetLogLevel changes the command's default log level, used when neither --log-level,
// $ACKMSG_LOG_LEVEL nor log_level in the configuration sets one. level is one of
// config.LogLevels.
func (c *Command) SetLogLevel(level string) {
	l, err := config.ParseLogLevel(level)
	if err != nil {
		panic(err) // a programming error in the command
	}
	c.defaultLevel = l
	c.Flags.Lookup("log-level").DefValue = level
}

// Main parses args, loads the configuration, runs run, and exits with its code. run receives a
// context cancelled on SIGINT or SIGTERM, and c.Stdin, when run reads it, returns an error
// wrapping [ErrStopped] at that moment instead of waiting for its writer (see [StopReader]).
//
// On SIGINT or SIGTERM a long-running command stops taking in work, finishes and flushes what it
// already took in (bounded by zmq_linger; the hub gives running consumers hub.shutdown_timeout)
// and returns nil: the exit status is ExitOK. A second SIGINT or SIGTERM ends the process at
// once, by the signal's default action, without a flush. Work the signal cut short that the command
// promised to confirm exits with the code that says so (ackmsg-logger: ExitTimeout when a
// message's ACKs were still awaited).
func (c *Command) Main(args []string, run func(ctx context.Context, cfg *config.Config) error) {
	os.Exit(c.Run(args, run))
}

// Run is Main without the exit, for tests.
func (c *Command) Run(args []string, run func(ctx context.Context, cfg *config.Config) error) int {
	if code, ok := c.Parse(args); !ok {
		return code
	}
	cfg, err := c.Load()
	if cfg != nil && c.Config.PrintConfig() {
		if werr := cfg.WriteTOML(c.Stdout); werr != nil {
			fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, werr)
			return ExitRuntime
		}
		if err != nil {
			fmt.Fprintf(c.Stderr, "%s: configuration is not valid:\n%v\n", c.Name, err)
			return ExitRuntime
		}
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s: configuration: %v\n", c.Name, err)
		return ExitRuntime
	}
	for _, ig := range cfg.Ignored {
		c.log.Info("configuration key has no effect in ackmsg", "key", ig)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// On a signal: the default action again, so a second signal ends the command at once. Not
	// when run returns first (stop cancels ctx too), and never after Run returned.
	signalled := make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		defer close(signalled)
		stop()
		c.log.Info("stopping: finishing what was taken in (a second SIGINT or SIGTERM ends the command at once)")
	})
	defer func() {
		if !unregister() {
			<-signalled
		}
	}()
	if c.Stdin != nil {
		// A read blocked on a FIFO or a terminal must not keep a signalled command alive.
		c.Stdin = StopReader(ctx, c.Stdin)
	}
	if err := run(ctx, cfg); err != nil {
		code := ExitRuntime
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, err)
		return code
	}
	return ExitOK
}

// Parse parses args and sets up the logger, the first half of [Command.Run], for commands that
// load the configuration themselves. When it returns ok false the command must exit with code:
// ExitOK after --help, ExitUsage after a bad flag (both already printed).
func (c *Command) Parse(args []string) (code int, ok bool) {
	c.Flags.SetOutput(io.Discard)
	c.Flags.Usage = func() {}
	if err := c.Flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			c.PrintHelp(c.Stdout)
			return ExitOK, false
		}
		fmt.Fprintf(c.Stderr, "%s: %v\nRun '%s --help' for usage.\n", c.Name, err, c.Name)
		return ExitUsage, false
	}
	// Until the configuration is loaded, the level is the flag's or the command's default.
	c.level.Set(c.defaultLevel)
	if c.Flags.Changed("log-level") {
		v := c.Flags.Lookup("log-level").Value.String()
		level, err := config.ParseLogLevel(v)
		if err != nil {
			fmt.Fprintf(c.Stderr, "%s: --log-level %q: want %s\n", c.Name, v, config.LogLevels)
			return ExitUsage, false
		}
		c.level.Set(level)
	}
	c.log = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: &c.level})).With("cmd", c.Name)
	return ExitOK, true
}

// Load loads the configuration as [config.Flags.Load] does (files < environment < flags), applies
// the command's own cert_prefix (SetCertPrefix), and sets the command's log level from log_level
// when something set it. Valid after Parse.
func (c *Command) Load() (*config.Config, error) {
	cfg, err := c.Config.Load()
	if cfg != nil {
		cfg.SetLogger(c.log) // the trust material config loads logs where the command does
	}
	if cfg != nil && c.certPrefix != "" {
		cfg = WithCertPrefix(cfg, c.certPrefix)
	}
	if cfg != nil && cfg.LogLevel != "" {
		if level, perr := config.ParseLogLevel(cfg.LogLevel); perr == nil {
			c.level.Set(level) // an invalid value is in err, from Validate
		}
	}
	return cfg, err
}

// ShellCertPrefix is the cert_prefix of the shell tools (ackmsg-logger), as fedmsg-logger's
// --cert-prefix default: they sign with certnames["shell.<short hostname>"].
const ShellCertPrefix = "shell"

// SetCertPrefix gives the command its own cert_prefix, as fedmsg's commands have one
// (fedmsg-logger "shell", fedmsg-announce "announce"): it becomes the default of --cert-prefix, and
// applies unless a file, variable or flag sets cert_prefix.
func (c *Command) SetCertPrefix(prefix string) {
	c.certPrefix = prefix
	c.Flags.Lookup("cert-prefix").DefValue = prefix
}

// WithCertPrefix returns cfg as a command whose own cert_prefix is prefix sees it: cfg itself
// when a file, variable or flag set cert_prefix, else a copy with cert_prefix = prefix.
func WithCertPrefix(cfg *config.Config, prefix string) *config.Config {
	if cfg.Source("cert_prefix") != "" {
		return cfg
	}
	v := *cfg
	v.CertPrefix = prefix
	return &v
}

// HasIdentity reports whether cfg names the certificate of the program that uses it: certname,
// cert_prefix, or a name other than relay_inbound (which stands for the shell tools).
func HasIdentity(cfg *config.Config) bool {
	return cfg.Certname != "" || cfg.CertPrefix != "" || cfg.Name != "" && cfg.Name != config.RelayInboundKey
}

// IdentityFlags says how to give a command its own certificate, for the error of
// [Command.RequireIdentity] and for ackmsg-config check.
const IdentityFlags = "give --certname NAME (the CN publishers list as a recipient), or set certname, " +
	"cert_prefix or name in the configuration"

// RequireIdentity refuses to run a command that signs as itself (its ACKs, or what it bridges)
// when sign_messages is on and nothing names its own certificate (a bad-usage error naming
// --certname). what says what it signs. Such a command never quietly borrows another service's
// certificate, such as the shell tools' shell.<host>.
func (c *Command) RequireIdentity(cfg *config.Config, what string) error {
	if !cfg.SignMessages || HasIdentity(cfg) {
		return nil
	}
	return Usage("no certificate of its own to sign %s with: %s", what, IdentityFlags)
}

// Log is the command's logger (valid inside run, or after Parse).
func (c *Command) Log() *slog.Logger { return c.log }

// Args are the positional arguments.
func (c *Command) Args() []string { return c.Flags.Args() }

// PrintHelp writes the --help text.
func (c *Command) PrintHelp(w io.Writer) {
	fmt.Fprintf(w, "%s — %s\n\nUsage: %s %s\n\nFlags:\n%s", c.Name, c.Summary, c.Name, c.Usage, c.Flags.FlagUsages())
	if c.Details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Details))
	}
	fmt.Fprintf(w, "\nExit codes: 0 ok, 1 runtime error (configuration, bind/connect, certificate), "+
		"2 bad usage or bad input, 3 ACK timeout; stopped by SIGTERM or SIGINT, 0 once what it took in is flushed.\n")
}
