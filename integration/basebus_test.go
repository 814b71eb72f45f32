package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

// startRelayAndTail starts a relay and a tail with args, both proven ready.
func startRelayAndTail(t *testing.T, b *Bus, tailArgs ...string) (relay, tail *Proc) {
	t.Helper()
	relay = b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	tail = b.Start("ackmsg-tail", tailArgs...)
	// The tail logs this once its SUB socket completed the handshake with the relay's PUB; its
	// subscription follows on the same connection, so it is in place long before a logger
	// process has even started.
	tail.WaitLog(t, "endpoint connected")
	return relay, tail
}

// The acceptance scenario: printf 'a\nb\nc\n' | ackmsg-logger, through the relay, into
// ackmsg-tail --json --count 3 --validate, all signed and validated with real certificates.
func TestLoggerRelayTailSignedAndValidated(t *testing.T) {
	b := NewBus(t, BusOptions{})
	relay, tail := startRelayAndTail(t, b, "--json", "--count", "3", "--validate", "--timeout", "20")
	_, stderr, code := b.Run(20*time.Second, "a\nb\nc\n", "ackmsg-logger")
	if code != 0 {
		t.Fatalf("logger exit %d: %s", code, stderr)
	}
	if code := tail.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("tail exit %d", code)
	}
	lines := Lines(tail.Stdout.String())
	if len(lines) != 3 {
		t.Fatalf("tail printed %d lines:\n%s", len(lines), tail.Stdout.String())
	}
	v, err := certs.NewVerifier(certs.DefaultTrustConfig(filepath.Join(b.PKI, "ca.crt")))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range lines {
		m, err := message.Decode([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got, want := m.Topic(), "org.example.test.logger.log"; got != want {
			t.Errorf("topic %q want %q", got, want)
		}
		body, _ := message.Canonical(m.Body())
		if want := fmt.Sprintf(`{"log":"%c"}`, 'a'+i); string(body) != want {
			t.Errorf("line %d body %s want %s", i, body, want)
		}
		id, err := v.Verify(m)
		if err != nil {
			t.Errorf("line %d does not verify: %v", i, err)
		} else if id.CN != "logger" {
			t.Errorf("signed by %q, want logger (certnames shell.<host>)", id.CN)
		}
	}
	if code := relay.Stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM", code)
	}
	if !strings.Contains(relay.Stderr.String(), "forwarded=3") {
		t.Errorf("relay did not report 3 forwarded messages:\n%s", relay.Stderr.String())
	}
}

// A peer flooding garbage on an endpoint the tail subscribes to must not stop it: the next good
// message is still printed, and the garbage is logged, not printed.
func TestTailSurvivesGarbageFlood(t *testing.T) {
	evil := testbus.Addr(t)
	b := NewBus(t, BusOptions{Extra: "max_frame_size = 65536", Endpoints: map[string]string{"evil": evil}})
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: []string{evil}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { raw.Close(); zctx.Term() }()

	_, tail := startRelayAndTail(t, b, "--json", "--count", "1", "--validate", "--timeout", "60")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := raw.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	garbage := [][][]byte{
		{[]byte("one frame")},
		{[]byte("a"), []byte("b"), []byte("c")},
		{{0xff, 0xfe, 0xfd}, []byte("{}")},
		{[]byte("org.example.test.x"), []byte("{not json")},
		{[]byte("org.example.test.x"), []byte(`{"topic":"org.example.test.x","msg_id":"1","msg":{},"crypto":"x509","signature":"!!!","certificate":"???"}`)},
		{[]byte("org.example.test.x"), []byte(strings.Repeat("A", 100000))},
		{[]byte("org.example.test.x"), []byte(strings.Repeat("[", 100000))},
	}
	const rounds = 500
	for i := 0; i < rounds; i++ {
		for _, g := range garbage {
			if err := raw.Send(g...); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--message", "still alive")
	if code != 0 {
		t.Fatalf("logger exit %d: %s", code, stderr)
	}
	if code := tail.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("tail exit %d", code)
	}
	out := tail.Stdout.String()
	if !strings.Contains(out, `"log":"still alive"`) || len(Lines(out)) != 1 {
		t.Fatalf("tail printed:\n%s", out)
	}
	if !strings.Contains(tail.Stderr.String(), "dropped invalid message") {
		t.Fatalf("garbage was not logged:\n%s", tail.Stderr.String())
	}
}

// The relay forwards bytes unchanged: a message signed by the real fedmsg and re-encoded the way
// Python's relay re-encodes (pretty, raw UTF-8) still validates at the tail.
func TestRelayForwardsFedmsgVectorsUnchanged(t *testing.T) {
	b := NewBus(t, BusOptions{})
	// Validate against the vector PKI, which signed the vectors.
	vectorPKI := testbus.PKIDir()
	conf, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.NewReplacer(
		filepath.Join(b.PKI, "ca.crt"), filepath.Join(vectorPKI, "ca.crt"),
		filepath.Join(b.PKI, "crl.pem"), filepath.Join(vectorPKI, "crl.pem"),
	).Replace(string(conf)))
	if err := os.WriteFile(b.Config, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	vectors := loadVectors(t)
	var want []string
	for _, v := range vectors {
		if v.Kind == "tamper" && v.Expect && strings.HasPrefix(v.Name, "wire-") {
			want = append(want, v.Name)
		}
	}
	if len(want) == 0 {
		t.Fatal("no re-encoded wire vectors found")
	}
	_, tail := startRelayAndTail(t, b, "--json", "--validate", "--count", fmt.Sprint(len(want)), "--timeout", "30")

	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := zsock.NewPub(zctx, zsock.PubConfig{Connect: b.Relay})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pub.Close(); zctx.Term() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		if v.Kind != "tamper" || !strings.HasPrefix(v.Name, "wire-") {
			continue
		}
		var env map[string]any
		if err := json.Unmarshal([]byte(v.WireJSON), &env); err != nil {
			t.Fatal(err)
		}
		if err := pub.Send([]byte(env["topic"].(string)), []byte(v.WireJSON)); err != nil {
			t.Fatal(err)
		}
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("tail exit %d: printed %d of %d (%v)", code, len(Lines(tail.Stdout.String())), len(want), want)
	}
}

type vector struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Expect   bool   `json:"expect"`
	WireJSON string `json:"wire_json"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testbus.RepoRoot(), "testdata", "vectors", "fedmsg-x509.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	for _, line := range Lines(string(data)) {
		var v vector
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestCLIErrorsAndExitCodes(t *testing.T) {
	b := NewBus(t, BusOptions{})
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"logger without relay", "x\n", []string{"ackmsg-logger"}, 1, b.Relay},
		{"logger bad json", "{nope", []string{"ackmsg-logger", "--json-input"}, 2, "not valid JSON"},
		{"logger unknown flag", "", []string{"ackmsg-logger", "--bogus"}, 2, "unknown flag"},
		{"tail negative count", "", []string{"ackmsg-tail", "--count", "-1"}, 2, "--count"},
		{"tail bad regexp", "", []string{"ackmsg-tail", "--include", "("}, 2, "--include"},
		{"tail bad timeout", "", []string{"ackmsg-tail", "--timeout", "soon"}, 2, "--timeout"},
		{"tail count not reached", "", []string{"ackmsg-tail", "--count", "1", "--timeout", "0.2"}, 1, "received 0 of 1"},
		{"tail timeout without count", "", []string{"ackmsg-tail", "--timeout", "0.2"}, 0, ""},
		{"bad config file", "", []string{"ackmsg-tail", "--config", filepath.Join(b.Dir, "missing.toml")}, 1, "missing.toml"},
		{"relay help", "", []string{"ackmsg-relay", "--help"}, 0, "Exit codes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := b.Run(30*time.Second, c.stdin, c.args[0], c.args[1:]...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, c.want) {
				t.Fatalf("output does not mention %q\nstdout: %s\nstderr: %s", c.want, stdout, stderr)
			}
		})
	}
}

// A validating tail refuses unsigned messages: it logs them and prints nothing.
func TestValidatingTailRefusesUnsigned(t *testing.T) {
	b := NewBus(t, BusOptions{})
	_, tail := startRelayAndTail(t, b, "--json", "--validate", "--count", "1", "--timeout", "3")
	// An unsigned logger on the same bus: sign_messages off through a second config file.
	unsigned := filepath.Join(b.Dir, "unsigned.toml")
	conf, _ := os.ReadFile(b.Config)
	if err := os.WriteFile(unsigned, []byte(strings.Replace(string(conf), "sign_messages = true", "sign_messages = false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := b.Run(20*time.Second, "forged\n", "ackmsg-logger", "--config", unsigned)
	if code != 0 {
		t.Fatalf("logger exit %d: %s", code, stderr)
	}
	if code := tail.Wait(t, 20*time.Second); code != 1 {
		t.Fatalf("tail exit %d, want 1 (nothing valid arrived)", code)
	}
	if out := tail.Stdout.String(); out != "" {
		t.Fatalf("tail printed an unsigned message: %s", out)
	}
	if !strings.Contains(tail.Stderr.String(), "reason=signature") {
		t.Fatalf("refusal not logged:\n%s", tail.Stderr.String())
	}
}
