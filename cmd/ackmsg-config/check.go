package main

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
)

const checkDetails = `
Loads the configuration exactly as every ackmsg command does: the defaults, then the *.toml files
of /etc/ackmsg.d and ./ackmsg.d (or only --config / $ACKMSG_CONFIG), then $ACKMSG_NAME and
$ACKMSG_CERTNAME and $ACKMSG_LOG_LEVEL, then the flags given here. It prints every effective key, one per line, as

  key = value  # where it came from

where the origin is "default", "file PATH", "environment $VAR" or "flag --name"; table entries
are printed one per line (endpoints."bodhi.app01" = [...]), hub consumers one per line
(hub.consumers[0] = {...}). The output is for reading, not a configuration file: use
--print-config for that. Comments at the top list the files read and the fedmsg keys they hold
that have no effect in ackmsg.

When the configuration is valid, the files it names are checked the way each command uses them.
With sign_messages: ackmsg-logger signs with certnames["shell.<short hostname>"] (its own
cert_prefix, unless the configuration sets cert_prefix), and that certificate and key must load;
ackmsg-tail --ack, ackmsg-hub, ackmsg-bridge and ackmsg-archive sign as themselves, so when the configuration
names their certificate (certname, cert_prefix or name) it must load, and when it does not, a
comment says that each needs --certname when it starts (not a failure: that is how the README
tour runs them). With validate_signatures, the CA certificate (and the CRL, when crl_location is
set) must load; a URL is downloaded and verified (the CRL against the CA) as each command does at
start, and cached in ca_cert_cache / crl_cache. With transport_security = "curve" it loads the
CURVE key pair and the key of every server the configuration connects to (from the certificates
in ssldir, checked against the CA and CRL). Comments at the top say who signs as what.

A configuration that cannot be loaded or is not valid exits 1 with every problem listed on
standard error, each naming the key and the file, variable or flag that set it; the values are
still printed when the files could be read.`

func runCheck(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-config check", "validate the configuration and show where each value comes from", "[flags]", checkDetails)
	c.Stdout, c.Stderr = stdout, stderr
	if code, ok := c.Parse(args); !ok {
		return code
	}
	if len(c.Args()) > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\nRun '%s --help' for usage.\n", c.Name, c.Args(), c.Name)
		return cli.ExitUsage
	}
	cfg, err := c.Load()
	if cfg == nil {
		fmt.Fprintf(stderr, "%s: configuration cannot be loaded:\n%v\n", c.Name, err)
		return cli.ExitRuntime
	}
	var problems, notes []string
	if err == nil {
		problems, notes = checkFiles(cfg, c.Log())
	}
	if c.Config.PrintConfig() {
		if werr := cfg.WriteTOML(stdout); werr != nil {
			fmt.Fprintf(stderr, "%s: %v\n", c.Name, werr)
			return cli.ExitRuntime
		}
	} else {
		printEffective(stdout, cfg, notes)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration is not valid:\n%v\n", c.Name, err)
		return cli.ExitRuntime
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: configuration is valid, but %d file(s) it names fail:\n  %s\n", c.Name, len(problems), strings.Join(problems, "\n  "))
		return cli.ExitRuntime
	}
	return cli.ExitOK
}

// services are the commands that sign as themselves (cli.Command.RequireIdentity).
const services = "ackmsg-tail --ack, ackmsg-hub, ackmsg-bridge and ackmsg-archive"

// checkFiles loads the certificates, keys, CA and CRL the configuration names, the way each
// command does at start, and returns what fails and, as notes, who signs as what.
func checkFiles(cfg *config.Config, log *slog.Logger) (problems, notes []string) {
	if cfg.SignMessages {
		// ackmsg-logger: its own cert_prefix "shell", unless the configuration sets one.
		logger := "ackmsg-logger (cert_prefix " + cli.WithCertPrefix(cfg, cli.ShellCertPrefix).CertPrefix + ")"
		if cfg.Certname != "" {
			logger = "ackmsg-logger (certname)"
		}
		if s, err := cli.WithCertPrefix(cfg, cli.ShellCertPrefix).Signer(); err != nil {
			problems = append(problems, "sign_messages, "+logger+": "+err.Error())
		} else {
			notes = append(notes, fmt.Sprintf("%s signs as %q", logger, s.Name()))
		}
		switch s, err := cfg.Signer(); {
		case !cli.HasIdentity(cfg):
			notes = append(notes, services+" name no certificate of their own here: each needs --certname when it starts")
		case err != nil:
			problems = append(problems, "sign_messages, "+services+": "+err.Error())
		default:
			notes = append(notes, fmt.Sprintf("%s sign as %q", services, s.Name()))
		}
	}
	if cfg.ValidateSignatures {
		if _, err := cfg.Verifier(false, log); err != nil {
			problems = append(problems, "validate_signatures: "+err.Error())
		}
	}
	if cfg.TransportSecurity == config.SecurityCurve {
		p, n := checkCurve(cfg)
		problems, notes = append(problems, p...), append(notes, n...)
	} else if cfg.Gateway.Security == config.SecurityCurve {
		p, n := checkGatewayCurve(cfg)
		problems, notes = append(problems, p...), append(notes, n...)
	}
	return problems, notes
}

// checkGatewayCurve loads the CURVE key pair of ackmsg-gateway's outward socket when it alone
// runs CURVE (gateway.security = "curve" on a plaintext bus), as the gateway does when it starts.
func checkGatewayCurve(cfg *config.Config) (problems, notes []string) {
	if !cli.HasIdentity(cfg) {
		return nil, []string{"gateway.security curve: ackmsg-gateway needs --certname (its CURVE key pair is its certificate's)"}
	}
	pub, _, err := cfg.GatewayOutward().Keys.KeyPair()
	if err != nil {
		return []string{"gateway.security curve: " + err.Error()}, nil
	}
	return nil, []string{"gateway.security curve: the gateway's outward CURVE public key is " + pub}
}

// checkCurve loads this configuration's CURVE key pair and every server key it may need, as the
// sockets do when they open.
func checkCurve(cfg *config.Config) (problems, notes []string) {
	if !cli.HasIdentity(cfg) {
		return nil, []string{"transport_security curve: each command needs --certname (its CURVE key pair is its certificate's)"}
	}
	keys := cfg.Transport().Security.Keys
	pub, _, err := keys.KeyPair()
	if err != nil {
		return []string{"transport_security curve: " + err.Error()}, nil
	}
	notes = append(notes, "transport_security curve: this configuration's CURVE public key is "+pub)
	servers := cfg.CurveServers()
	addrs := make([]string, 0, len(servers))
	for a := range servers {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	for _, a := range addrs {
		if _, err := keys.ServerKey(a); err != nil {
			problems = append(problems, "transport_security curve: "+err.Error())
		}
	}
	return problems, notes
}

// printEffective prints every key of cfg with its value and origin, after the notes.
func printEffective(w io.Writer, cfg *config.Config, notes []string) {
	if len(cfg.Sources) == 0 {
		fmt.Fprintln(w, "# files read: none, defaults only")
	} else {
		fmt.Fprintln(w, "# files read, in order:")
		for _, s := range cfg.Sources {
			fmt.Fprintf(w, "#   %s\n", s)
		}
	}
	for _, ig := range cfg.Ignored {
		fmt.Fprintf(w, "# fedmsg key without effect in ackmsg: %s\n", ig)
	}
	for _, n := range notes {
		fmt.Fprintf(w, "# %s\n", n)
	}
	effective(cfg, func(key, value, source string) {
		fmt.Fprintf(w, "%s = %s  # %s\n", key, value, sourceLabel(source))
	})
}

// effective calls emit for every key path of cfg, in declaration order.
func effective(cfg *config.Config, emit func(key, value, source string)) {
	src := func(key, parent string) string {
		if s := cfg.Source(key); s != "" {
			return s
		}
		return cfg.Source(parent)
	}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			key, fv := prefix+tag, v.Field(i)
			switch {
			case fv.Kind() == reflect.Struct:
				walk(key+".", fv)
			case fv.Kind() == reflect.Map && fv.Len() > 0:
				names := make([]string, 0, fv.Len())
				for _, k := range fv.MapKeys() {
					names = append(names, k.String())
				}
				slices.Sort(names)
				for _, n := range names {
					sub := key + "." + sourceKey(n)
					emit(key+"."+tomlKey(n), inline(fv.MapIndex(reflect.ValueOf(n).Convert(fv.Type().Key()))), src(sub, key))
				}
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct && fv.Len() > 0:
				for j := range fv.Len() {
					sub := fmt.Sprintf("%s[%d]", key, j)
					emit(sub, inline(fv.Index(j)), src(sub, key))
				}
			case fv.Kind() == reflect.String:
				// persistent_store, outbox.store and bridge.url may be URLs with a password.
				emit(key, inline(reflect.ValueOf(config.RedactURL(fv.String()))), cfg.Source(key))
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
				// bridge.urls too.
				list := make([]string, fv.Len())
				for j := range list {
					list[j] = config.RedactURL(fv.Index(j).String())
				}
				emit(key, inline(reflect.ValueOf(list)), cfg.Source(key))
			default:
				emit(key, inline(fv), cfg.Source(key))
			}
		}
	}
	walk("", reflect.ValueOf(cfg).Elem())
}

// sourceKey renders a table key as the config package records its origin (config.subKey).
func sourceKey(k string) string {
	if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return k
	}
	return fmt.Sprintf("%q", k)
}

// sourceLabel says in words where a value came from.
func sourceLabel(s string) string {
	switch {
	case s == "":
		return "default"
	case strings.HasPrefix(s, "$"):
		return "environment " + s
	case strings.HasPrefix(s, "--"):
		return "flag " + s
	}
	return "file " + s
}
