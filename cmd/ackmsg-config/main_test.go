package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
)

var update = flag.Bool("update", false, "rewrite testdata/fedmsg.d.toml")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// needPython skips, with the reason, when python3 is missing, except in CI, which installs it
// (.ci/run).
func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3 is required in CI (.ci/run installs it): %v", err)
		}
		t.Skipf("python3 is not installed (%v): the import evaluates fedmsg.d files with it", err)
	}
}

// runCLI runs the program in-process.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

const notCarriedPrefix = "ackmsg-config import: not carried: "

// notCarried returns the "not carried" lines of the import's standard error, without the prefix.
func notCarried(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if s, ok := strings.CutPrefix(l, notCarriedPrefix); ok {
			out = append(out, s)
		}
	}
	return out
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s differ:\n got:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}

func wantContains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// loadTOML loads data as the only configuration file.
func loadTOML(t *testing.T, data string) *config.Config {
	t.Helper()
	f := filepath.Join(t.TempDir(), "fedmsg.toml")
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.LoadOptions{File: f, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("the output does not load: %v\n%s", err, data)
	}
	return c
}

// writeFiles creates files (name -> content) in a fresh directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fedmsg.d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func shortHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// The shipped fedmsg.d (what distributions install as /etc/fedmsg.d): every key is either carried
// or reported with its reason, and the exact list of the latter is pinned so that a change shows.
func TestImportShipped(t *testing.T) {
	needPython(t)
	code, stdout, stderr := runCLI("import", "testdata/fedmsg.d")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	const d = "testdata/fedmsg.d/"
	wantLines(t, "keys not carried", notCarried(stderr), []string{
		"ca_cert_cache_expiry (" + d + "ssl.py): no effect in ackmsg: ackmsg fetches a ca_cert_location URL at start (and on reload) " +
			"and keeps the cached copy when it cannot",
		"high_water_mark (" + d + "base.py): 0 made fedmsg leave libzmq's default of 1000 messages, but means unlimited in ackmsg: " +
			"ackmsg's default, 10000, applies (write high_water_mark = 1000 to keep fedmsg's behaviour)",
		"irc (" + d + "ircbot.py): no effect in ackmsg: ackmsg has no IRC bot (fedmsg-irc)",
		"irc_color_lookup (" + d + "ircbot.py): no effect in ackmsg: ackmsg has no IRC bot (fedmsg-irc)",
		"irc_default_color (" + d + "ircbot.py): no effect in ackmsg: ackmsg has no IRC bot (fedmsg-irc)",
		"irc_method (" + d + "ircbot.py): no effect in ackmsg: ackmsg has no IRC bot (fedmsg-irc)",
		"logging (" + d + "logging.py): no effect in ackmsg: Python logging configuration; ackmsg commands log to stderr at log_level (--log-level)",
		"post_init_sleep (" + d + "base.py): no effect in ackmsg: ackmsg proves that subscribers are connected instead of sleeping",
		"zmq_enabled (" + d + "base.py): no effect in ackmsg: ackmsg always uses ZeroMQ",
		"zmq_strict (" + d + "base.py): no effect in ackmsg: a moksha subscription option; ackmsg matches topics with its own patterns (hub consumers' topics)",
	})
	wantContains(t, "stderr", stderr, "ackmsg-config import: 7 fedmsg file(s), 27 key(s) carried, 10 not carried (listed above)\n")

	golden := filepath.Join("testdata", "fedmsg.d.toml")
	if *update {
		if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Errorf("output differs from %s (go test -run TestImportShipped -update, then review the diff):\n%s", golden, stdout)
	}

	c := loadTOML(t, stdout)
	wantEndpoints := config.ListMap{"fedora-infrastructure": {"tcp://hub.fedoraproject.org:9940"}, "relay_outbound": {"tcp://127.0.0.1:4001"}}
	if !equalJSON(c.Endpoints, wantEndpoints) || c.RelayInbound != "tcp://127.0.0.1:2003" {
		t.Errorf("endpoints %v, relay_inbound %q", c.Endpoints, c.RelayInbound)
	}
	if !c.ValidateSignatures || c.SignMessages || !slices.Equal(c.CryptoValidateBackends, []string{"x509"}) || c.SSLDir != "/etc/pki/fedmsg" {
		t.Errorf("validate_signatures %v, sign_messages %v, crypto_validate_backends %v, ssldir %q",
			c.ValidateSignatures, c.SignMessages, c.CryptoValidateBackends, c.SSLDir)
	}
	if got := c.RoutingPolicy["org.fedoraproject.prod.announce.announcement"]; !slices.Equal(got, []string{"announce-lockbox.phx2.fedoraproject.org"}) {
		t.Errorf("routing_policy = %v", c.RoutingPolicy)
	}
	if c.HighWaterMark != config.DefaultHighWaterMark {
		t.Errorf("high_water_mark %d: want the default", c.HighWaterMark)
	}
	// fedmsg-gateway's port and high-water mark become the [gateway] table.
	if c.Gateway.Bind != "tcp://*:9940" || c.Gateway.HWM != 10000 {
		t.Errorf("gateway %+v: want bind tcp://*:9940 and hwm 10000 (gateway.py)", c.Gateway)
	}
	// fedmsg's stock CA and CRL URLs stay URLs, so the result checks the CRL with no manual step.
	if c.CRLLocation != "https://fedoraproject.org/fedmsg/crl.pem" || c.CACertLocation != "https://fedoraproject.org/fedmsg/ca.crt" ||
		c.CRLCache != "/var/run/fedmsg/crl.pem" || c.CACertCache != "/var/run/fedmsg/ca.crt" || c.CRLCacheExpiry != 3600 {
		t.Errorf("crl_location %q, ca_cert_location %q, crl_cache %q, ca_cert_cache %q, crl_cache_expiry %v: want fedmsg's",
			c.CRLLocation, c.CACertLocation, c.CRLCache, c.CACertCache, c.CRLCacheExpiry)
	}
	if c.TopicPrefix != "org.fedoraproject" || c.Environment != "dev" || c.ZMQTCPKeepaliveIdle != 60 || c.ZMQReconnectIvlMax != 1000 {
		t.Errorf("topic_prefix %q, environment %q, zmq_tcp_keepalive_idle %d, zmq_reconnect_ivl_max %d",
			c.TopicPrefix, c.Environment, c.ZMQTCPKeepaliveIdle, c.ZMQReconnectIvlMax)
	}
	wantContains(t, "output", stdout,
		`relay_inbound = "tcp://127.0.0.1:2003"  # testdata/fedmsg.d/relay.py`,
		`fedora-infrastructure = ["tcp://hub.fedoraproject.org:9940"]  # testdata/fedmsg.d/endpoints.py`,
		"# Not carried over (also printed on standard error by the import):\n#   ca_cert_cache_expiry (testdata/fedmsg.d/ssl.py): ")
}

func equalJSON[M ~map[string][]string](a, b M) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// No key is ever dropped silently: every key of the merged fedmsg configuration is carried or
// reported, for every real configuration in testdata.
func TestImportAccountsForEveryKey(t *testing.T) {
	needPython(t)
	for _, path := range []string{"testdata/fedmsg.d", "testdata/fedmsg-docs/deployment", "testdata/fedmsg-docs/config-reference",
		"testdata/fedmsg-tests/fedmsg-test-config.py"} {
		ev, _, err := evaluate(context.Background(), "python3", []string{path}, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		cv := convert(ev)
		var accounted []string
		for _, c := range cv.carried {
			if len(c.fedmsgKeys) > 0 {
				accounted = append(accounted, c.fedmsgKeys...)
				continue
			}
			accounted = append(accounted, c.key)
		}
		for _, d := range cv.dropped {
			accounted = append(accounted, d.key)
			if d.reason == "" || len(d.files) == 0 {
				t.Errorf("%s: %s dropped without a reason or a file: %+v", path, d.key, d)
			}
		}
		slices.Sort(accounted)
		if all := sortedKeys(ev.Config); !slices.Equal(accounted, all) || len(cv.problems) > 0 {
			t.Errorf("%s: carried and dropped keys\n  %q\nare not the keys of the configuration\n  %q\n(problems %q)", path, accounted, all, cv.problems)
		}
	}
}

// The examples of fedmsg's documentation.
func TestImportDocExamples(t *testing.T) {
	needPython(t)
	t.Run("deployment", func(t *testing.T) {
		const d = "testdata/fedmsg-docs/deployment/"
		code, stdout, stderr := runCLI("import", d)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		reason := "not an ackmsg setting: a setting of datanommer (a fedmsg-hub consumer, or another program reading fedmsg's " +
			"configuration); ackmsg-hub consumers are [[hub.consumers]] tables"
		wantLines(t, "keys not carried", notCarried(stderr), []string{
			`"datanommer.enabled" (` + d + `datanommer.py): ` + reason,
			`"datanommer.sqlalchemy.url" (` + d + `datanommer.py): ` + reason,
		})
		c := loadTOML(t, stdout)
		// endpoints.py sets an empty dict (its only entry commented out) and relay.py adds one.
		if !equalJSON(c.Endpoints, config.ListMap{"relay_outbound": {"tcp://hostA:4001"}}) || c.RelayInbound != "tcp://hostA:2003" {
			t.Errorf("endpoints %v, relay_inbound %q", c.Endpoints, c.RelayInbound)
		}
		wantContains(t, "output", stdout, `relay_outbound = ["tcp://hostA:4001"]  # `+d+`relay.py`)
	})
	t.Run("configuration reference", func(t *testing.T) {
		const d = "testdata/fedmsg-docs/config-reference/"
		code, stdout, stderr := runCLI("import", d)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		irc := "no effect in ackmsg: ackmsg has no IRC bot (fedmsg-irc)"
		stomp := "no effect in ackmsg: STOMP is not used: ackmsg always uses ZeroMQ"
		wantLines(t, "keys not carried", notCarried(stderr), []string{
			"irc (" + d + "ircbot.py): " + irc,
			"irc_color_lookup (" + d + "ircbot.py): " + irc,
			"irc_method (" + d + "ircbot.py): " + irc,
			"srv_endpoints (" + d + "srv.py): not supported by ackmsg: DNS SRV endpoint discovery is not implemented; list the addresses under endpoints",
			"stomp_pass (" + d + "stomp.py): " + stomp,
			"stomp_queue (" + d + "stomp.py): " + stomp,
			"stomp_ssl_crt (" + d + "stomp.py): " + stomp,
			"stomp_ssl_key (" + d + "stomp.py): " + stomp,
			"stomp_uri (" + d + "stomp.py): " + stomp,
			"stomp_user (" + d + "stomp.py): " + stomp,
			"zmq_enabled (" + d + "stomp.py): no effect in ackmsg: ackmsg always uses ZeroMQ",
		})
		c := loadTOML(t, stdout)
		if got := c.Endpoints["bodhi.app01"]; len(got) != 4 || got[3] != "tcp://app01.phx2.fedoraproject.org:3003" || len(c.Endpoints) != 1 {
			t.Errorf("endpoints = %v", c.Endpoints)
		}
		if c.Certnames["bodhi.app01"] != "bodhi-app01.stg.phx2.fedoraproject.org" || !c.RoutingNitpicky || c.ValidateSignatures {
			t.Errorf("certnames %v, routing_nitpicky %v, validate_signatures %v", c.Certnames, c.RoutingNitpicky, c.ValidateSignatures)
		}
		if got := c.RoutingPolicy["org.fedoraproject.prod.bodhi.buildroot_override.untag"]; len(got) != 4 {
			t.Errorf("routing_policy = %v", c.RoutingPolicy)
		}
	})
	t.Run("srv_endpoints as documented is a NameError", func(t *testing.T) {
		code, stdout, stderr := runCLI("import", "testdata/fedmsg-docs/srv-endpoints")
		if code != 1 || stdout != "" {
			t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
		}
		wantContains(t, "stderr", stderr, "ackmsg-config import: testdata/fedmsg-docs/srv-endpoints/srv.py:4: NameError: name 'foo' is not defined\n")
	})
}

// fedmsg's own test configuration: endpoints from socket.gethostname() that bind tcp://*:PORT,
// which ackmsg refuses; the import writes nothing and says why.
func TestImportRejected(t *testing.T) {
	needPython(t)
	out := filepath.Join(t.TempDir(), "fedmsg.toml")
	const file = "testdata/fedmsg-tests/fedmsg-test-config.py"
	code, stdout, stderr := runCLI("import", file, "--out", out)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing:\n%s", code, stdout, stderr)
	}
	host := shortHostname(t)
	wantContains(t, "stderr", stderr,
		"ackmsg rejects the converted configuration, nothing written:\n",
		`config: endpoints."unittest.`+host+`"[0]: invalid value: "tcp://*:`,
		`"*" cannot be connected to`, "(from "+file+")",
		notCarriedPrefix+"gpg_keys ("+file+"): not supported by ackmsg: the gpg crypto backend is not implemented; use x509\n",
		notCarriedPrefix+"persistent_store ("+file+"): None (unset in fedmsg): nothing to carry")
	if strings.Contains(stderr, "the converted TOML") || strings.Contains(stderr, ".ackmsg-config-import-") {
		t.Errorf("the error names the temporary file:\n%s", stderr)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--out file exists after a rejected import: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".ackmsg-config-import-*")); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

func TestImportPythonErrors(t *testing.T) {
	needPython(t)
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error (Python 2)", map[string]string{
			"10-good.py": "config = dict(environment='dev')\n",
			"20-bad.py":  "# a Python 2 file\nprint \"loading\"\nconfig = {}\n",
		}, "20-bad.py:2: SyntaxError: Missing parentheses in call to 'print'"},
		{"exception", map[string]string{
			"a.py": "import os\n\nconfig = dict(ssldir=os.environ['ACKMSG_TEST_SURELY_UNSET'])\n",
		}, "a.py:3: KeyError: 'ACKMSG_TEST_SURELY_UNSET'"},
		{"OSError is an error, not a warning", map[string]string{
			"a.py": "config = dict(name=open('/nonexistent/ackmsg-test').read())\n",
		}, "a.py:1: FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/ackmsg-test'"},
		{"no config", map[string]string{"a.py": "x = 1\n"}, "a.py: defines no variable named config (fedmsg reads the dict named config)"},
		{"config not a dict", map[string]string{"a.py": "config = [1]\n"}, "a.py: config is a Python list, not a dict"},
		{"exit", map[string]string{"a.py": "import sys\nsys.exit(3)\n"}, "a.py:2: SystemExit: 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			code, stdout, stderr := runCLI("import", dir)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 1 and nothing:\n%s", code, stdout, stderr)
			}
			wantContains(t, "stderr", stderr, "ackmsg-config import: "+filepath.Join(dir, tc.want))
		})
	}
}

// Values the files compute (socket.gethostname()), values TOML cannot hold, None, and the
// translations fedmsg's looser types need.
func TestImportValues(t *testing.T) {
	needPython(t)
	dir := writeFiles(t, map[string]string{"10.py": `import pathlib
import socket

host = socket.gethostname().split('.')[0]
print("evaluating on", host)  # must not corrupt the output

config = dict(
    ssldir=pathlib.Path('/etc/pki/fedmsg'),
    certnames={'shell.' + host: 'shell-' + host},
    persistent_store=object(),
    crl_location=None,
    sign_messages='True',
    high_water_mark=1000,
    ack_timeout=2.5,
    endpoints={'svc.' + host: 'tcp://127.0.0.1:3000'},
    name='svc.' + host,
)
`, "20.py": "config = dict(endpoints={'other.h': ('tcp://127.0.0.1:3001', 'tcp://127.0.0.1:3002')}, environment='prod')\n",
	})
	code, stdout, stderr := runCLI("import", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	host := shortHostname(t)
	f10 := filepath.Join(dir, "10.py")
	wantLines(t, "keys not carried", notCarried(stderr), []string{
		"crl_location (" + f10 + "): None (unset in fedmsg): nothing to carry, ackmsg's default applies",
		"persistent_store (" + f10 + "): holds a Python object, which TOML cannot represent: nothing carried, ackmsg's default applies",
		"ssldir (" + f10 + "): holds a Python PosixPath, which TOML cannot represent: nothing carried, ackmsg's default applies",
	})
	wantContains(t, "stderr", stderr, "ackmsg-config import: python: evaluating on "+host+"\n")
	c := loadTOML(t, stdout)
	if c.Certnames["shell."+host] != "shell-"+host || c.Name != "svc."+host || !c.SignMessages || c.HighWaterMark != 1000 ||
		c.AckTimeout != 2.5 || c.Environment != "prod" {
		t.Errorf("certnames %v, name %q, sign_messages %v, high_water_mark %d, ack_timeout %v, environment %q",
			c.Certnames, c.Name, c.SignMessages, c.HighWaterMark, c.AckTimeout, c.Environment)
	}
	want := config.ListMap{"svc." + host: {"tcp://127.0.0.1:3000"}, "other.h": {"tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"}}
	if !equalJSON(c.Endpoints, want) {
		t.Errorf("endpoints = %v, want %v", c.Endpoints, want)
	}
	wantContains(t, "output", stdout, `"other.h" = ["tcp://127.0.0.1:3001", "tcp://127.0.0.1:3002"]  # `+filepath.Join(dir, "20.py"),
		`environment = "prod"  # `+filepath.Join(dir, "20.py")+"\n")
}

func TestImportBadValues(t *testing.T) {
	needPython(t)
	dir := writeFiles(t, map[string]string{"a.py": "config = dict(io_threads='2', endpoints=['tcp://x:1'], active='yes', certnames={'a': 1})\n"})
	code, stdout, stderr := runCLI("import", dir)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing:\n%s", code, stdout, stderr)
	}
	f := filepath.Join(dir, "a.py")
	wantContains(t, "stderr", stderr, "4 value(s) ackmsg cannot take, nothing written:\n",
		f+`: active: want True or False, got the string "yes"`,
		f+`: certnames: [a]: want a string, got the number 1`,
		f+`: endpoints: want a dict, got a list`,
		f+`: io_threads: want an integer, got the string "2"`)
}

func TestImportNoPython(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no python3 there
	code, stdout, stderr := runCLI("import", "testdata/fedmsg.d")
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing:\n%s", code, stdout, stderr)
	}
	wantContains(t, "stderr", stderr, "ackmsg-config import: python3 not found in $PATH: fedmsg.d files are Python programs",
		"the system python3 (fedmsg itself is not needed)", "apt-get install python3", "--python")

	code, _, stderr = runCLI("import", "--python", "/nonexistent/python3", "testdata/fedmsg.d")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	wantContains(t, "stderr", stderr, "/nonexistent/python3: no such file or directory: fedmsg.d files are Python programs")
}

// A file that does not finish is stopped at --timeout, with the processes it started.
func TestImportTimeout(t *testing.T) {
	needPython(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("ACKMSG_TEST_PIDFILE", pidFile)
	dir := writeFiles(t, map[string]string{"a.py": `import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
with open(os.environ['ACKMSG_TEST_PIDFILE'], 'w') as f:
    f.write(str(child.pid))
time.sleep(120)
config = {}
`})
	start := time.Now()
	code, _, stderr := runCLI("import", "--timeout", "2", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v with --timeout 2", took)
	}
	wantContains(t, "stderr", stderr, "did not finish evaluating "+dir+" within 2s", "--timeout")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the file did not start its child: %v", err)
	}
	pid, _ := strconv.Atoi(string(data))
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the child %d of the timed-out evaluation is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gone reports whether pid has exited (no such process, or a zombie waiting for its reaper).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func TestImportUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"import"}, 2, "name a fedmsg.d directory or a .py file"},
		{[]string{"import", "--bogus", "x"}, 2, "unknown flag: --bogus"},
		{[]string{"import", "--timeout", "soon", "x"}, 2, `--timeout "soon"`},
		{[]string{"import", "/nonexistent/fedmsg.d"}, 1, "/nonexistent/fedmsg.d: no such file or directory"},
		{[]string{"import", "--python", "/nonexistent", empty}, 1, "no such file"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	t.Run("empty directory", func(t *testing.T) {
		needPython(t)
		code, _, stderr := runCLI("import", empty)
		if code != 1 || !strings.Contains(stderr, "no *.py files in "+empty+": nothing to convert") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"import DIR_OR_FILE", "check [flags]", "ackmsg-config import /etc/fedmsg.d > ackmsg.d/fedmsg.toml", "Exit codes"}},
		{[]string{"help", "import"}, []string{"--out", "--python", "--timeout", "socket.gethostname()", "high_water_mark = 0 is not carried",
			"printed on standard error", "nothing is written", "Exit codes: 0 converted"}},
		{[]string{"import", "--help"}, []string{"fedmsg/config.py"}},
		{[]string{"check", "--help"}, []string{"--config", "--config-filename", "where it came from", "default", "environment $VAR", "flag --name", "Exit codes"}},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != 0 {
			t.Errorf("%q: exit %d: %s", tc.args, code, stderr)
		}
		wantContains(t, strings.Join(tc.args, " "), stdout, tc.want...)
	}
}

var effectiveLine = regexp.MustCompile(`^[a-z_]+(\.("[^"]+"|[a-z_]+|consumers\[\d+\]))? = .*  # (default|file \S+|environment \$[A-Z_]+|flag --[a-z-]+)$`)

func TestCheck(t *testing.T) {
	dir := writeFiles(t, map[string]string{"10.toml": `
environment = "prod"
persistent_store = "postgres://app:s3cret@db.example.net/bus"
[endpoints]
"svc.h" = "tcp://127.0.0.1:3000"
[[hub.consumers]]
name = "archive"
kind = "file"
topics = ["org.fedoraproject.prod.#"]
path = "/var/lib/archive.jsonl"
`})
	file := filepath.Join(dir, "10.toml")
	t.Setenv(config.EnvName, "svc.h")
	t.Setenv(config.EnvConfig, "")
	t.Setenv(config.EnvCertname, "")

	for _, flag := range []string{"--config", "--config-filename"} {
		t.Run("valid "+flag, func(t *testing.T) {
			code, stdout, stderr := runCLI("check", flag, dir, "--io-threads", "2")
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			wantLines(t, "header", lines[:2], []string{"# files read, in order:", "#   " + file})
			for _, want := range []string{
				`topic_prefix = "org.fedoraproject"  # default`,
				`environment = "prod"  # file ` + file,
				`name = "svc.h"  # environment $ACKMSG_NAME`,
				`endpoints."svc.h" = ["tcp://127.0.0.1:3000"]  # file ` + file,
				`certnames = {}  # default`,
				`io_threads = 2  # flag --io-threads`,
				`high_water_mark = 10000  # default`,
				`ack_timeout = 5  # default`,
				`hub.max_attempts = 5  # default`,
				`hub.consumers[0] = { name = "archive", kind = "file", enabled = true, topics = ["org.fedoraproject.prod.#"], workers = 1, ` +
					`inbox = 100, overflow = "block", ack = "processed", timeout = 60, path = "/var/lib/archive.jsonl", fsync = "always" }  # file ` + file,
				`outbox.expiry = 86400  # default`,
				`outbox.expiry_for = {}  # default`,
				`persistent_store = "postgres://app:xxxxx@db.example.net/bus"  # file ` + file,
			} {
				if !slices.Contains(lines, want) {
					t.Errorf("no line %q in:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "s3cret") {
				t.Errorf("the password is printed:\n%s", stdout)
			}
			for _, l := range lines[2:] {
				if !effectiveLine.MatchString(l) {
					t.Errorf("line %q is not key = value  # origin", l)
				}
			}
		})
	}
	t.Run("gateway.security curve on a plaintext bus: its key pair is loaded", func(t *testing.T) {
		t.Setenv(config.EnvName, "gw")
		ssl := t.TempDir() // no certificate, no .curve file
		gw := writeFiles(t, map[string]string{"10.toml": "certname = \"gw\"\nssldir = \"" + ssl +
			"\"\n[endpoints]\ngw = \"tcp://127.0.0.1:3001\"\n[gateway]\nsecurity = \"curve\"\n"})
		code, _, stderr := runCLI("check", "--config", gw)
		if code == 0 || !strings.Contains(stderr, "gateway.security curve: ") {
			t.Fatalf("exit %d, want a problem naming gateway.security:\n%s", code, stderr)
		}
	})
	t.Run("invalid: every problem, and the values", func(t *testing.T) {
		bad := writeFiles(t, map[string]string{"10.toml": "high_water_mark = -1\nname = \"nope\"\n[endpoints]\nx = \"tcp://*:1\"\n"})
		t.Setenv(config.EnvName, "")
		code, stdout, stderr := runCLI("check", "--config", bad)
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		f := filepath.Join(bad, "10.toml")
		wantContains(t, "stderr", stderr, "ackmsg-config check: configuration is not valid:\nconfig: 3 problems:\n",
			`config: endpoints.x[0]: invalid value: "tcp://*:1"`, "(set in "+f+")",
			`config: name: invalid value: "nope" is not a key of endpoints`,
			"config: high_water_mark: invalid value: -1 is below 0")
		wantContains(t, "stdout", stdout, "high_water_mark = -1  # file "+f+"\n", `name = "nope"  # file `+f+"\n")
	})
	t.Run("cannot be loaded", func(t *testing.T) {
		bad := writeFiles(t, map[string]string{"10.toml": "bogus = 1\nzmq_lingr = 2\n"})
		code, stdout, stderr := runCLI("check", "--config", bad)
		if code != 1 || stdout != "" {
			t.Fatalf("exit %d, stdout %q", code, stdout)
		}
		wantContains(t, "stderr", stderr, "ackmsg-config check: configuration cannot be loaded:\nconfig: 2 problems:", "key bogus: unknown key",
			"key zmq_lingr: unknown key (did you mean zmq_linger?)")
	})
	t.Run("a fedmsg.d", func(t *testing.T) {
		code, _, stderr := runCLI("check", "--config", "testdata/fedmsg.d")
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		wantContains(t, "stderr", stderr, "testdata/fedmsg.d: a fedmsg configuration (Python), not TOML",
			`"ackmsg-config import testdata/fedmsg.d --out DIR/fedmsg.toml"`)
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, stderr := runCLI("check", "extra"); code != 2 || !strings.Contains(stderr, `unexpected arguments ["extra"]`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if code, _, _ := runCLI("check", "--bogus"); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

// The migration path: import the shipped fedmsg.d into a directory, then check it. Its
// The import keeps fedmsg's CA and CRL URLs; check then downloads and verifies them as every
// command does at start. A local file placed after the imported one points them at a server on
// 127.0.0.1 (the test does not reach fedoraproject.org): a CRL signed by another CA is refused
// with its URL, the right one checks clean and is cached where crl_cache says.
func TestImportThenCheck(t *testing.T) {
	needPython(t)
	t.Setenv(config.EnvName, "")
	t.Setenv(config.EnvCertname, "")
	dir := filepath.Join(t.TempDir(), "ackmsg.d") // created by --out
	out := filepath.Join(dir, "fedmsg.toml")
	code, stdout, stderr := runCLI("import", "testdata/fedmsg.d", "--out", out)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
	wantContains(t, "stderr", stderr, "; wrote "+out+"\n")
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("--out: %v, mode %v", err, fi.Mode())
	}
	golden, _ := os.ReadFile(filepath.Join("testdata", "fedmsg.d.toml"))
	if got, _ := os.ReadFile(out); !bytes.Equal(got, golden) {
		t.Errorf("--out wrote something else than standard output would")
	}

	pki, other := t.TempDir(), t.TempDir()
	for d, cn := range map[string]string{pki: "Bus CA", other: "Other CA"} {
		if _, err := certs.InitCA(d, certs.PKIOptions{Bits: 1024, CommonName: cn}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	crl := filepath.Join(other, certs.CRLFileName)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/ca.crt":
			http.ServeFile(w, r, filepath.Join(pki, certs.CAFileName))
		case "/crl.pem":
			http.ServeFile(w, r, crl)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cache := t.TempDir()
	local := fmt.Sprintf("ca_cert_location = %q\ncrl_location = %q\nca_cert_cache = %q\ncrl_cache = %q\n",
		srv.URL+"/ca.crt", srv.URL+"/crl.pem", filepath.Join(cache, "ca.crt"), filepath.Join(cache, "crl.pem"))
	if err := os.WriteFile(filepath.Join(dir, "zz-local.toml"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr = runCLI("check", "--config", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (CRL of another CA):\n%s", code, stderr)
	}
	wantContains(t, "stderr", stderr, "configuration is valid, but 1 file(s) it names fail:\n  validate_signatures: ",
		"fetching the CRL "+srv.URL+"/crl.pem", "is not the CA")
	wantContains(t, "stdout", stdout, "validate_signatures = true  # file "+out+"\n",
		`relay_inbound = "tcp://127.0.0.1:2003"  # file `+out+"\n",
		`crl_cache_expiry = 3600  # file `+out+"\n",
		`high_water_mark = 10000  # default`)

	mu.Lock()
	crl = filepath.Join(pki, certs.CRLFileName)
	mu.Unlock()
	code, _, stderr = runCLI("check", "--config", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if got, want := readFile(t, filepath.Join(cache, "crl.pem")), readFile(t, crl); !bytes.Equal(got, want) {
		t.Error("the CRL was not cached in crl_cache")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Several arguments merge in the order given, as fedmsg merges /etc/fedmsg.d, ~/.fedmsg.d and
// ./fedmsg.d: dicts entry by entry, everything else replaced.
func TestImportSeveralPaths(t *testing.T) {
	needPython(t)
	sys := writeFiles(t, map[string]string{
		"a.py": "config = dict(environment='stg', endpoints={'a.h': 'tcp://127.0.0.1:1', 'b.h': 'tcp://127.0.0.1:2'})\n",
	})
	local := writeFiles(t, map[string]string{
		"z.py": "config = dict(environment='prod', endpoints={'b.h': ['tcp://127.0.0.1:3']})\n",
	})
	one := filepath.Join(t.TempDir(), "fedmsg-config.py")
	if err := os.WriteFile(one, []byte("config = dict(topic_prefix='org.example')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("import", sys, local, one)
	if code != 0 || len(notCarried(stderr)) != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	c := loadTOML(t, stdout)
	want := config.ListMap{"a.h": {"tcp://127.0.0.1:1"}, "b.h": {"tcp://127.0.0.1:3"}}
	if !equalJSON(c.Endpoints, want) || c.Environment != "prod" || c.TopicPrefix != "org.example" {
		t.Errorf("endpoints %v, environment %q, topic_prefix %q", c.Endpoints, c.Environment, c.TopicPrefix)
	}
	a, z := filepath.Join(sys, "a.py"), filepath.Join(local, "z.py")
	wantContains(t, "output", stdout,
		`environment = "prod"  # `+z+` (over `+a+`)`+"\n",
		`"a.h" = ["tcp://127.0.0.1:1"]  # `+a+"\n",
		`"b.h" = ["tcp://127.0.0.1:3"]  # `+z+"\n",
		`topic_prefix = "org.example"  # `+one+"\n",
		"#   "+a+"\n#   "+z+"\n#   "+one+"\n")
}

// ackmsg's own keys written in a fedmsg.d file (tables included) are carried too.
func TestImportAckmsgTables(t *testing.T) {
	needPython(t)
	dir := writeFiles(t, map[string]string{"a.py": `config = dict(
    hub={'http_address': '127.0.0.1:9110', 'consumers': [
        {'name': 'a', 'kind': 'file', 'topics': ['org.fedoraproject.prod.#'], 'path': '/tmp/a', 'workers': 4}]},
    outbox={'expiry': 60, 'expiry_for': {'org.x.#': 5}},
    recipients={'org.fedoraproject.prod.#': ['archiver']},
)
`})
	code, stdout, stderr := runCLI("import", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	wantContains(t, "stderr", stderr, "1 fedmsg file(s), 3 key(s) carried, 0 not carried\n")
	c := loadTOML(t, stdout)
	if c.Hub.HTTPAddress != "127.0.0.1:9110" || len(c.Hub.Consumers) != 1 || c.Hub.Consumers[0].Workers != 4 || c.Hub.Consumers[0].Inbox != config.DefaultHubInbox ||
		c.Outbox.Expiry != 60 || c.Outbox.ExpiryFor["org.x.#"] != 5 || !slices.Equal(c.Recipients["org.fedoraproject.prod.#"], []string{"archiver"}) {
		t.Errorf("hub %+v, outbox %+v, recipients %v", c.Hub, c.Outbox, c.Recipients)
	}
}

// fedmsg-gateway's keys: a port and a high-water mark that fit are carried into [gateway]; a
// port that is not one is dropped with the reason, and the default stays.
func TestImportGatewayKeys(t *testing.T) {
	needPython(t)
	dir := writeFiles(t, map[string]string{"a.py": "config = {'fedmsg.consumers.gateway.port': 9999, 'fedmsg.consumers.gateway.high_water_mark': 0}\n"})
	code, stdout, stderr := runCLI("import", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if c := loadTOML(t, stdout); c.Gateway.Bind != "tcp://*:9999" || c.Gateway.HWM != 0 {
		t.Errorf("gateway %+v, want bind tcp://*:9999 and hwm 0\n%s", c.Gateway, stdout)
	}
	dir = writeFiles(t, map[string]string{"a.py": "config = {'fedmsg.consumers.gateway.port': 'http', 'fedmsg.consumers.gateway.high_water_mark': 5}\n"})
	code, stdout, stderr = runCLI("import", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	wantContains(t, "stderr", stderr, `"fedmsg.consumers.gateway.port" (`+filepath.Join(dir, "a.py")+`): want an integer, got the string "http"`)
	if c := loadTOML(t, stdout); c.Gateway.Bind != config.DefaultGatewayBind || c.Gateway.HWM != 5 {
		t.Errorf("gateway %+v, want the default bind and hwm 5\n%s", c.Gateway, stdout)
	}
}
