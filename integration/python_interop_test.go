package integration

// Interop with the real Python fedmsg 1.1 and gilmsg 0.1.2, in both directions. Opt-in: these
// tests run only when $ACKMSG_FEDMSG_PATH names a directory holding the fedmsg and gilmsg Python
// packages and a python3 can import them (integration/python/README.md says how to set that up;
// neither package is part of this repository). The Python side is driven by
// integration/python/fedmsg_driver.py, which prints one JSON event per line.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// pyBodies is how many bodies `fedmsg_driver.py pub` publishes after its probes (len(BODIES)).
const pyBodies = 9

var (
	pyOnce   sync.Once
	pyExe    string // the interpreter that imports fedmsg and gilmsg
	pyPath   string // $ACKMSG_FEDMSG_PATH
	pySkip   string // why the tests are skipped, when they are
	pyDriver = filepath.Join(testbus.RepoRoot(), "integration", "python", "fedmsg_driver.py")
)

// requirePython skips the test unless the Python fedmsg and gilmsg can be imported.
func requirePython(t *testing.T) {
	t.Helper()
	pyOnce.Do(func() {
		pyPath = os.Getenv("ACKMSG_FEDMSG_PATH")
		if pyPath == "" {
			pySkip = "ACKMSG_FEDMSG_PATH is not set: it names a directory holding the fedmsg and gilmsg " +
				"Python packages (see integration/python/README.md)"
			return
		}
		candidates := []string{"python3", "/usr/bin/python3"}
		if p := os.Getenv("ACKMSG_PYTHON"); p != "" {
			candidates = []string{p}
		}
		var why []string
		for _, c := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, c, pyDriver, "check")
			cmd.Env = pyEnv()
			out, err := cmd.CombinedOutput()
			cancel()
			if err == nil {
				pyExe = c
				return
			}
			lines := Lines(string(out))
			if len(lines) > 0 {
				why = append(why, fmt.Sprintf("%s: %v: %s", c, err, lines[len(lines)-1]))
			} else {
				why = append(why, fmt.Sprintf("%s: %v", c, err))
			}
		}
		pySkip = fmt.Sprintf("ACKMSG_FEDMSG_PATH=%s, but no python3 imports fedmsg and gilmsg from it (set "+
			"ACKMSG_PYTHON to choose the interpreter): %s", pyPath, strings.Join(why, "; "))
	})
	if pySkip != "" {
		t.Skip(pySkip)
	}
}

func pyEnv() []string {
	path := pyPath
	if old := os.Getenv("PYTHONPATH"); old != "" {
		path += string(os.PathListSeparator) + old
	}
	return append(os.Environ(), "PYTHONPATH="+path, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
}

// pyBus is a Bus whose configuration is written twice from one description: as ackmsg TOML for
// our binaries and as a fedmsg.d/*.py file (the format fedmsg reads) for the Python side.
type pyBus struct {
	*Bus
	PyDir     string              // working directory of the Python processes (holds fedmsg.d/)
	Endpoints map[string][]string // every endpoints key, relay_outbound included
	Certnames map[string]string
}

func newPyBus(t *testing.T, certNames []string, endpoints map[string][]string, certnames map[string]string) *pyBus {
	t.Helper()
	requirePython(t)
	b := NewBus(t, BusOptions{Certs: certNames})
	pb := &pyBus{Bus: b, PyDir: filepath.Join(b.Dir, "py"),
		Endpoints: map[string][]string{"relay_outbound": {b.Outbound}},
		Certnames: map[string]string{"shell." + b.Host: "logger"}}
	for k, v := range endpoints {
		pb.Endpoints[k] = v
	}
	for k, v := range certnames {
		pb.Certnames[k] = v
	}
	common := map[string]any{
		"topic_prefix":        "org.example",
		"environment":         "test",
		"relay_inbound":       b.Relay,
		"sign_messages":       true,
		"validate_signatures": true,
		"ssldir":              b.PKI,
		"ca_cert_location":    filepath.Join(b.PKI, "ca.crt"),
		"crl_location":        filepath.Join(b.PKI, "crl.pem"),
		"zmq_linger":          1000,
	}
	// ackmsg TOML (replaces the harness's file, keeping its PKI and relay addresses).
	var toml strings.Builder
	toml.WriteString("# written by python_interop_test.go\n")
	for _, k := range sortedKeys(common) {
		fmt.Fprintf(&toml, "%s = %s\n", k, tomlValue(common[k]))
	}
	toml.WriteString("[endpoints]\n")
	for _, k := range sortedKeys(pb.Endpoints) {
		fmt.Fprintf(&toml, "%q = %s\n", k, tomlValue(pb.Endpoints[k]))
	}
	toml.WriteString("[certnames]\n")
	for _, k := range sortedKeys(pb.Certnames) {
		fmt.Fprintf(&toml, "%q = %q\n", k, pb.Certnames[k])
	}
	if err := os.WriteFile(b.Config, []byte(toml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// fedmsg config: a Python file defining a dict named config, in ./fedmsg.d/.
	py := map[string]any{"endpoints": pb.Endpoints, "certnames": pb.Certnames}
	for k, v := range common {
		py[k] = v
	}
	js, err := json.Marshal(py)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(pb.PyDir, "fedmsg.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "# written by python_interop_test.go\nimport json\nconfig = json.loads(r'''" + string(js) + "''')\n"
	if err := os.WriteFile(filepath.Join(pb.PyDir, "fedmsg.d", "ackmsg_interop.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return pb
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// startPy runs fedmsg_driver.py with args in PyDir; it is killed when the test ends.
func (pb *pyBus) startPy(t *testing.T, stdin io.Reader, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: "fedmsg_driver.py " + args[0], Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(pyExe, append([]string{pyDriver}, args...)...)
	p.cmd.Dir = pb.PyDir
	p.cmd.Env = pyEnv()
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.Name, p.Stdout.String(), p.Name, p.Stderr.String())
		}
	})
	return p
}

// pyEvent is one line of the driver's output.
type pyEvent map[string]any

func (e pyEvent) str(k string) string { s, _ := e[k].(string); return s }
func (e pyEvent) bool(k string) bool  { b, _ := e[k].(bool); return b }

// events parses the driver's stdout; kind "" means all.
func events(t *testing.T, p *Proc, kind string) []pyEvent {
	t.Helper()
	var out []pyEvent
	for _, l := range Lines(p.Stdout.String()) {
		var e pyEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%s printed a line that is not JSON: %q", p.Name, l)
		}
		if kind == "" || e.str("event") == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitUntil polls cond until it is true, failing after d or when one of procs exits first.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool, procs ...*Proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		for _, p := range procs {
			if p.Exited() && !cond() {
				t.Fatalf("%s exited (%d) while waiting for %s; stderr:\n%s", p.Name, p.code, what, p.Stderr.String())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond) // polling another process's output
	}
}

// sendGo tells a driver to stop probing. It closes stdin too: exec's stdin copier would otherwise
// keep the process's Wait from returning.
func sendGo(t *testing.T, w *io.PipeWriter) {
	t.Helper()
	if _, err := io.WriteString(w, "go\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

func isProbeLine(l string) bool { return strings.Contains(l, `.probe"`) }

// TestPythonFedmsgReproducesVectors checks the Python side itself: it must re-sign the shared
// vectors (made by fedmsg 1.1.7) byte for byte and reach fedmsg 1.1.7's verdict on every one.
// A reconstruction that fails here would make every other result meaningless.
func TestPythonFedmsgReproducesVectors(t *testing.T) {
	requirePython(t)
	pb := &pyBus{Bus: &Bus{t: t, Dir: t.TempDir()}}
	pb.PyDir = pb.Dir
	vec := filepath.Join(testbus.RepoRoot(), "testdata", "vectors")
	p := pb.startPy(t, nil, "vectors", filepath.Join(vec, "fedmsg-x509.jsonl"), filepath.Join(vec, "pki"))
	if code := p.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("vectors: exit %d\n%s\n%s", code, p.Stdout.String(), p.Stderr.String())
	}
	ev := events(t, p, "vectors")
	if len(ev) != 1 {
		t.Fatalf("no summary:\n%s", p.Stdout.String())
	}
	t.Logf("Python fedmsg re-signed %v vectors and matched fedmsg 1.1.7 on %v verdicts", ev[0]["signed"], ev[0]["checked"])
}

// Scenario 1: a signed Python fedmsg publisher, received by ackmsg-tail --validate --json, which
// must print every envelope exactly as Python put it on the wire (canonical bytes: our decoder
// and encoder round-trip Python's unicode, floats, big integers, NaN and lone surrogates).
func TestPythonPublisherToTail(t *testing.T) {
	cases := []struct {
		name  string
		relay string // "" direct, "ackmsg" our relay, "python" the json.dumps re-encoding relay
	}{
		{"direct", ""},
		{"through-ackmsg-relay", "ackmsg"},
		{"through-reencoding-python-relay", "python"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := config.ShortHostname()
			pb := newPyBus(t, []string{"pyfedmsg"}, map[string][]string{"pyfedmsg." + host: {testbus.Addr(t)}},
				map[string]string{"pyfedmsg." + host: "pyfedmsg"})

			args := []string{"pub", "--name", "pyfedmsg." + host}
			switch tc.relay {
			case "ackmsg":
				relay := pb.Start("ackmsg-relay")
				relay.WaitLog(t, "relay ready")
				args = []string{"pub", "--active", "--cert-prefix", "pyfedmsg"}
			case "python":
				relay := pb.startPy(t, nil, "relay")
				waitUntil(t, 20*time.Second, "the Python relay", func() bool { return len(events(t, relay, "ready")) > 0 }, relay)
				args = []string{"pub", "--active", "--cert-prefix", "pyfedmsg"}
			}
			tail := pb.Start("ackmsg-tail", "--validate", "--json", "--topic", "org.example.test.pyfedmsg.")
			stdin, goWriter := io.Pipe()
			defer goWriter.Close()
			pub := pb.startPy(t, stdin, args...)

			// The publisher sends probes until told to go: proof that the tail is subscribed.
			waitUntil(t, 30*time.Second, "a probe at ackmsg-tail", func() bool {
				for _, l := range Lines(tail.Stdout.String()) {
					if isProbeLine(l) {
						return true
					}
				}
				return false
			}, tail, pub)
			sendGo(t, goWriter)
			if code := pub.Wait(t, 30*time.Second); code != 0 {
				t.Fatalf("publisher exit %d", code)
			}
			published := events(t, pub, "published")
			if len(published) != pyBodies {
				t.Fatalf("publisher reported %d messages, want %d", len(published), pyBodies)
			}
			printed := func() []string {
				var out []string
				for _, l := range Lines(tail.Stdout.String()) {
					if !isProbeLine(l) {
						out = append(out, l)
					}
				}
				return out
			}
			waitUntil(t, 20*time.Second, "every message at ackmsg-tail", func() bool { return len(printed()) >= pyBodies }, tail)
			got := printed()
			for i, e := range published {
				if i >= len(got) || got[i] != e.str("wire") {
					t.Errorf("message %d:\n python wire %s\n ackmsg-tail %s", i, e.str("wire"), at(got, i))
				}
			}
			t.Logf("ackmsg-tail validated and printed %d envelopes, each byte-identical to the wire JSON fedmsg sent", len(published))
			if strings.Contains(tail.Stderr.String(), "level=WARN") || strings.Contains(tail.Stderr.String(), "level=ERROR") {
				t.Errorf("ackmsg-tail complained:\n%s", tail.Stderr.String())
			}
			tail.Stop(t)
		})
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "<missing>"
}

// Scenario 2: ackmsg-logger (signed, through ackmsg-relay) received by Python
// fedmsg.tail_messages with validate_signatures=True; fedmsg.crypto.validate and
// validate_signed_by(msg, "logger") must both say True, and fedmsg must see the bodies we sent.
func TestLoggerToPythonTail(t *testing.T) {
	pb := newPyBus(t, nil, nil, nil)
	relay := pb.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")

	// Lines are stripped, as fedmsg-logger does; U+2028 inside a line is not a line break.
	lines := []string{"hello from ackmsg", "caf\u00e9 <b> & \U0001F600 \u2028 end", "tab\there"}
	jsonDoc := `{"f": 100.0, "e": 1e-05, "e16": 1E16, "neg0": -0.0, "big": 18446744073709551616,` +
		` "nan": NaN, "inf": -Infinity, "s": "\u00e9\ud83d\ude00", "lone": "\ud800", "nested": {"b": [1, 2.5, null, true], "a": {}}}`
	tail := pb.startPy(t, nil, "tail", "--validate", "--signer", "logger", "--count", fmt.Sprint(len(lines)+1),
		"--topic", "org.example.test.logger.")
	waitUntil(t, 20*time.Second, "the Python tail to start", func() bool { return len(events(t, tail, "starting")) > 0 }, tail)

	// Probe until fedmsg's SUB is connected to the relay (a PUB drops messages for a subscriber
	// that has not joined yet).
	probed := func() bool {
		for _, e := range events(t, tail, "received") {
			if e.bool("probe") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !probed() {
		if time.Now().After(deadline) {
			t.Fatal("no probe reached the Python tail in 30s")
		}
		if _, stderr, code := pb.Run(20*time.Second, "", "ackmsg-logger", "--topic", "probe", "--message", "probe"); code != 0 {
			t.Fatalf("probe: exit %d\n%s", code, stderr)
		}
		probeSent := time.Now()
		for !probed() && time.Since(probeSent) < time.Second && !tail.Exited() {
			time.Sleep(5 * time.Millisecond) // polling the Python process's output
		}
		if tail.Exited() {
			t.Fatalf("Python tail exited (%d)", tail.code)
		}
	}

	if _, stderr, code := pb.Run(20*time.Second, strings.Join(lines, "\n")+"\n", "ackmsg-logger"); code != 0 {
		t.Fatalf("logger: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := pb.Run(20*time.Second, jsonDoc, "ackmsg-logger", "--json-input"); code != 0 {
		t.Fatalf("logger --json-input: exit %d\n%s", code, stderr)
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("Python tail: exit %d", code)
	}

	var want []string
	for _, l := range lines {
		b, err := message.Canonical(map[string]any{"log": l})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(b))
	}
	v, err := message.Unmarshal([]byte(jsonDoc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := message.Canonical(v)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, string(b))

	var got []pyEvent
	for _, e := range events(t, tail, "received") {
		if !e.bool("probe") {
			got = append(got, e)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Python tail received %d messages, want %d", len(got), len(want))
	}
	for i, e := range got {
		if !e.bool("validate") || !e.bool("signed_by") {
			t.Errorf("message %d: fedmsg.crypto.validate=%v validate_signed_by(logger)=%v", i, e["validate"], e["signed_by"])
		}
		if e.str("body") != want[i] {
			t.Errorf("message %d body:\n fedmsg sees %s\n we sent     %s", i, e.str("body"), want[i])
		}
		if e.str("topic") != "org.example.test.logger.log" || e.str("envelope_topic") != e.str("topic") {
			t.Errorf("message %d: frame topic %q, envelope topic %q", i, e.str("topic"), e.str("envelope_topic"))
		}
	}
}

// Scenario 4: ackmsg-logger --recipients sub01 with a Python gilmsg.tail_messages consumer that
// signs its ACKs with sub01's certificate. With validate_signatures on, gilmsg accepts our message
// only because we add gilmsg_version before signing (gilmsg itself adds it after).
func TestLoggerToGilmsgConsumer(t *testing.T) {
	for _, validate := range []bool{true, false} {
		t.Run(fmt.Sprintf("validate=%t", validate), func(t *testing.T) {
			// gilmsg's consumer publishes its ACKs from the endpoint key gilmsg.<short host>, signed
			// as certnames[gilmsg.<short host>].
			gil := "gilmsg." + config.ShortHostname()
			pb := newPyBus(t, []string{"sub01"}, map[string][]string{gil: {testbus.Addr(t), testbus.Addr(t)}},
				map[string]string{gil: "sub01"})
			relay := pb.Start("ackmsg-relay")
			relay.WaitLog(t, "relay ready")

			args := []string{"gil-tail", "--count", "1"}
			if validate {
				args = append(args, "--validate")
			}
			consumer := pb.startPy(t, nil, args...)
			waitUntil(t, 20*time.Second, "the gilmsg consumer to start", func() bool { return len(events(t, consumer, "starting")) > 0 }, consumer)

			// No probe needed: the logger retransmits until sub01 ACKs or 5 s have passed.
			_, stderr, code := pb.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "sub01", "--ack-timeout", "5",
				"--modname", "work", "--topic", "x", "--message", "needs an ACK", "--log-level", "info")
			if code != 0 {
				t.Fatalf("logger: exit %d, want 0\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "all recipients ACKed") || !strings.Contains(stderr, "acked_by=sub01") {
				t.Fatalf("logger did not report sub01's ACK:\n%s", stderr)
			}
			if code := consumer.Wait(t, 20*time.Second); code != 0 {
				t.Fatalf("gilmsg consumer: exit %d", code)
			}
			var marked []pyEvent
			for _, e := range events(t, consumer, "received") {
				if e.bool("acked") {
					marked = append(marked, e)
				}
			}
			if len(marked) == 0 {
				t.Fatal("the gilmsg consumer received no marked message")
			}
			e := marked[0]
			if e.str("topic") != "org.example.test.work.x" || !e.bool("validate") || e.str("body") != `{"log":"needs an ACK"}` {
				t.Errorf("gilmsg consumer saw %v", e)
			}
			t.Logf("logger: %s", lastLine(stderr, "all recipients ACKed"))
		})
	}
}

func lastLine(s, substr string) string {
	var last string
	for _, l := range Lines(s) {
		if strings.Contains(l, substr) {
			last = l
		}
	}
	return last
}

// Scenario 5: a Python gilmsg.publish(..., recipients=["sub01"]) — marker added after signing —
// ACKed by ackmsg-tail --ack --certname sub01 (which validates, so it needs the late-marker
// compatibility rule). gilmsg.publish must return without Timeout. A second run requiring
// sub01 and sub02 (absent) must time out: gilmsg counts only ACKs signed by each recipient.
func TestGilmsgPublisherToAckingTail(t *testing.T) {
	for _, tc := range []struct {
		name       string
		recipients []string
		wantCode   int
	}{
		{"acked", []string{"sub01"}, 0},
		{"missing-recipient-times-out", []string{"sub01", "sub02"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// gilmsg.publish needs two free addresses under gilmsg.<host>: its own context and its
			// ACK listener thread's (gilmsg bug #9); it signs as certnames[gilmsg.<host>].
			gil := "gilmsg." + config.ShortHostname()
			pb := newPyBus(t, []string{"pyfedmsg", "sub01"}, map[string][]string{gil: {testbus.Addr(t), testbus.Addr(t)}},
				map[string]string{gil: "pyfedmsg"})
			relay := pb.Start("ackmsg-relay")
			relay.WaitLog(t, "relay ready")
			acker := pb.Start("ackmsg-tail", "--ack", "--json", "--certname", "sub01", "--topic", "org.example.test.pygilmsg.",
				"--log-level", "debug")
			acker.WaitLog(t, "endpoint connected")

			stdin, goWriter := io.Pipe()
			defer goWriter.Close()
			ackTimeout := "5"
			if tc.wantCode != 0 {
				ackTimeout = "2"
			}
			pub := pb.startPy(t, stdin, append(append([]string{"gil-pub", "--recipients"}, tc.recipients...),
				"--ack-timeout", ackTimeout)...)
			waitUntil(t, 30*time.Second, "a gilmsg probe at ackmsg-tail", func() bool {
				for _, l := range Lines(acker.Stdout.String()) {
					if isProbeLine(l) {
						return true
					}
				}
				return false
			}, acker, pub)
			sendGo(t, goWriter)
			code := pub.Wait(t, 30*time.Second)
			res := events(t, pub, "gilmsg_publish")
			if code != tc.wantCode || len(res) != 1 {
				t.Fatalf("gilmsg.publish: exit %d (want %d), result %v", code, tc.wantCode, res)
			}
			t.Logf("gilmsg.publish: %v", res[0])
			var work []string
			for _, l := range Lines(acker.Stdout.String()) {
				if strings.Contains(l, `"topic":"org.example.test.pygilmsg.work"`) {
					work = append(work, l)
				}
			}
			if len(work) != 1 || !strings.Contains(work[0], `"gilmsg_version":"0.1.2"`) {
				t.Fatalf("ackmsg-tail printed %d gilmsg messages, want 1 with the marker:\n%s", len(work), acker.Stdout.String())
			}
			m, err := message.Decode([]byte(work[0]))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(acker.Stderr.String(), "msg_id="+m.MsgID()) || !strings.Contains(acker.Stderr.String(), `msg="ACK sent"`) {
				t.Fatalf("ackmsg-tail did not log its ACK of %s:\n%s", m.MsgID(), acker.Stderr.String())
			}
			acker.Stop(t)
		})
	}
}
