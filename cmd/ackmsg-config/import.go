package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/pflag"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
)

const importName = "ackmsg-config import"

const importDetails = `
Each argument is a fedmsg.d directory, whose *.py files are read in sorted order (as fedmsg
reads /etc/fedmsg.d), or one .py file; several arguments are merged in the order given, so
fedmsg's own search is "ackmsg-config import /etc/fedmsg.d ~/.fedmsg.d ./fedmsg.d" (fedmsg also
read /etc/fedmsg-config.py, ~/.fedmsg-config.py and ./fedmsg-config.py: name those that exist).

The files are Python, and they are evaluated the way fedmsg/config.py does, with the system
python3 (--python) and without fedmsg: each file is compiled and run in a fresh namespace, so it
may import what it likes (socket.gethostname(), os.getcwd(), ...); its "config" dict is merged
into the result, dicts key by key at every depth, anything else replaced. Values are computed
once, on this host and in the current directory: run the import on each host whose files
depend on the host name, or edit the result. The evaluation has --timeout to finish. A file that
fails (syntax error, exception, no config dict) stops the import with its file and line; unlike
fedmsg, an OSError in a file is an error too, not a warning that skips the file.

ackmsg uses fedmsg's key names, so every key ackmsg has is carried under the same name, with the
file it came from as a comment, and these translations:
  - True/False may also be written "true"/"false", as fedmsg accepts;
  - an endpoints entry that is one string becomes a list of one, as in fedmsg;
  - high_water_mark = 0 is not carried: fedmsg then left libzmq's 1000, ackmsg's 0 is unlimited;
  - ca_cert_location and crl_location URLs are carried as URLs: ackmsg downloads them as fedmsg
    does, verifies the CRL against the CA, caches them in ca_cert_cache / crl_cache and fetches
    the CRL again every crl_cache_expiry seconds, so the result checks the CRL with no manual step;
  - fedmsg-gateway's fedmsg.consumers.gateway.port and .high_water_mark become the [gateway]
    table's bind ("tcp://*:<port>") and hwm (ackmsg-gateway);
  - a None value is not carried: ackmsg's default applies.
Every key that is not carried - fedmsg keys without effect in ackmsg (logging, post_init_sleep,
irc, ...), fedmsg features ackmsg does not implement (replay, gpg, STOMP, SRV records), other
programs' settings (datanommer.*, fedmsg-hub consumers' *.enabled), values TOML cannot hold
(Python functions, objects) - is printed on standard error, one line per key with its files and
the reason, and listed again at the end of the output. Nothing is dropped silently.

Keys that the files leave unset take ackmsg's defaults, which differ from fedmsg's in a few
documented ways (validate_signatures false, high_water_mark 10000, crypto_validate_backends
x509 and x509-ed25519); ackmsg-config check prints them all.

Before anything is written, the result is loaded and validated as every ackmsg command would
load it; if ackmsg rejects it (for example an endpoint "tcp://*:3000", which subscribers cannot
connect to), nothing is written and the import fails with the reasons.`

type importCmd struct {
	fs      *pflag.FlagSet
	out     string
	python  string
	timeout string
}

func newImportCmd() *importCmd {
	c := &importCmd{fs: pflag.NewFlagSet(importName, pflag.ContinueOnError)}
	c.fs.SortFlags = false
	c.fs.StringVarP(&c.out, "out", "o", "", "write the TOML to FILE (replaced atomically; its directory is created) instead of standard output")
	c.fs.StringVar(&c.python, "python", "python3", "the Python interpreter that evaluates the files (a name is looked up in $PATH)")
	c.fs.StringVar(&c.timeout, "timeout", "30", "how long the evaluation may take: seconds (30) or a duration (1m)")
	c.fs.SetOutput(io.Discard)
	c.fs.Usage = func() {}
	return c
}

func (c *importCmd) help(w io.Writer) {
	fmt.Fprintf(w, "%s — convert a fedmsg configuration (fedmsg.d/*.py) to ackmsg TOML\n\nUsage: %s DIR_OR_FILE... [--out FILE]\n\nFlags:\n%s\n%s\n",
		importName, importName, c.fs.FlagUsages(), strings.TrimSpace(importDetails))
	fmt.Fprint(w, "\nExit codes: 0 converted (keys not carried are listed on stderr), 1 runtime error (python3 missing or\n"+
		"failing, a Python error in a file, a value ackmsg cannot take, a result ackmsg rejects), 2 bad usage.\n")
}

func runImport(args []string, stdout, stderr io.Writer) int {
	c := newImportCmd()
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			c.help(stdout)
			return cli.ExitOK
		}
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", importName, err, importName)
		return cli.ExitUsage
	}
	paths := c.fs.Args()
	if len(paths) == 0 {
		fmt.Fprintf(stderr, "%s: name a fedmsg.d directory or a .py file, e.g. %s /etc/fedmsg.d\nRun '%s --help' for usage.\n",
			importName, importName, importName)
		return cli.ExitUsage
	}
	timeout, err := cli.ParseSeconds(c.timeout)
	if err != nil || timeout == 0 {
		fmt.Fprintf(stderr, "%s: --timeout %q: want a positive number of seconds or a duration\n", importName, c.timeout)
		return cli.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, paths, timeout, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", importName, err)
		return cli.ExitRuntime
	}
	return cli.ExitOK
}

func (c *importCmd) run(ctx context.Context, paths []string, timeout time.Duration, stdout, stderr io.Writer) error {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, pathErr(err))
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a file or directory", p)
		}
	}
	python, err := findPython(c.python)
	if err != nil {
		return err
	}
	ev, pyStderr, err := evaluate(ctx, python, paths, timeout)
	if pyStderr != "" {
		for _, l := range strings.Split(strings.TrimRight(pyStderr, "\n"), "\n") {
			fmt.Fprintf(stderr, "%s: python: %s\n", importName, l)
		}
	}
	if err != nil {
		return err
	}
	if len(ev.Files) == 0 {
		return fmt.Errorf("no *.py files in %s: nothing to convert", strings.Join(paths, ", "))
	}

	cv := convert(ev)
	for _, d := range cv.dropped {
		fmt.Fprintf(stderr, "%s: not carried: %s\n", importName, oneLine(d.String()))
	}
	if len(cv.problems) > 0 {
		return fmt.Errorf("%d value(s) ackmsg cannot take, nothing written:\n  %s", len(cv.problems), strings.Join(cv.problems, "\n  "))
	}
	data, err := writeTOML(cv, paths)
	if err != nil {
		return err
	}
	if err := c.write(data, ev, stdout); err != nil {
		return err
	}
	listed := ""
	if len(cv.dropped) > 0 {
		listed = " (listed above)"
	}
	fmt.Fprintf(stderr, "%s: %d fedmsg file(s), %d key(s) carried, %d not carried%s%s\n",
		importName, len(ev.Files), cv.carriedKeys(), len(cv.dropped), listed, wroteTo(c.out))
	return nil
}

// write checks data by loading it as a command would, from a file next to the destination so
// that it can then be renamed into place, and writes it to --out or stdout.
func (c *importCmd) write(data []byte, ev *evaluated, stdout io.Writer) error {
	dir := os.TempDir()
	if c.out != "" {
		dir = filepath.Dir(c.out)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	tmp, err := os.CreateTemp(dir, ".ackmsg-config-import-*.toml")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	loaded, err := config.Load(config.LoadOptions{File: tmpName, Getenv: func(string) string { return "" }})
	if err != nil {
		return fmt.Errorf("ackmsg rejects the converted configuration, nothing written:\n%s", explainLoadError(err, tmpName, ev))
	}
	if len(loaded.Ignored) > 0 { // the conversion never writes ignored keys
		return fmt.Errorf("internal error: the converted configuration holds ignored keys %q", loaded.Ignored)
	}

	if c.out == "" {
		if _, err := stdout.Write(data); err != nil {
			return err
		}
	} else {
		if err := os.Chmod(tmpName, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmpName, c.out); err != nil {
			return err
		}
	}
	return nil
}

func wroteTo(out string) string {
	if out == "" {
		return ""
	}
	return "; wrote " + out
}

// explainLoadError rewrites the loader's errors about the temporary file in terms of the fedmsg
// files the keys came from.
func explainLoadError(err error, tmpName string, ev *evaluated) string {
	errs := []error{err}
	var me *multierror.Error
	if errors.As(err, &me) {
		errs = me.Errors
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := strings.ReplaceAll(e.Error(), " (set in "+tmpName+")", "")
		msg = strings.ReplaceAll(msg, tmpName, "the converted TOML")
		var ke *config.KeyError
		if errors.As(e, &ke) {
			if files := ev.Origins[topKey(ke.Key)]; len(files) > 0 {
				msg += " (from " + strings.Join(files, ", ") + ")"
			}
		}
		lines = append(lines, "  "+msg)
	}
	return strings.Join(lines, "\n")
}

// topKey is the top-level key of a key path such as `endpoints."a.b"[0]`.
func topKey(path string) string {
	end := strings.IndexAny(path, ".[")
	if end < 0 {
		return path
	}
	return path[:end]
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
