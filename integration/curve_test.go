package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README tour with transport_security = "curve" across real processes (relay, acking tail,
// logger publishing with recipients), next to a tail without a key that receives nothing while
// the relay logs its refused handshake; then revoking the acking tail's certificate closes its
// open connection and refuses it from then on.
func TestCurveTourAcrossProcesses(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"relay", "tail"},
		Extra: `transport_security = "curve"
curve_server_keys = { relay_inbound = "relay", relay_outbound = "relay" }`})
	conf, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	plainConf := filepath.Join(b.Dir, "plain.toml")
	if err := os.WriteFile(plainConf, []byte(strings.Replace(string(conf), `transport_security = "curve"`, `transport_security = "none"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	relay := b.Start("ackmsg-relay", "--certname", "relay")
	relay.WaitLog(t, "relay ready")
	plain := b.Start("ackmsg-tail", "--config", plainConf)
	relay.WaitLog(t, "refused a CURVE handshake") // the plaintext tail, at its first attempt
	tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--count", "3", "--timeout", "30")
	tail.WaitLog(t, "endpoint connected")
	if _, stderr, code := b.Run(30*time.Second, "a\nb\nc\n", "ackmsg-logger", "--recipients", "tail", "--ack-timeout", "10"); code != 0 {
		t.Fatalf("logger exit %d: %s", code, stderr)
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("tail exit %d: %s", code, tail.Stderr.String())
	}
	if lines := Lines(tail.Stdout.String()); len(lines) != 3 {
		t.Fatalf("the acking tail printed %d lines:\n%s", len(lines), tail.Stdout.String())
	}
	// Everything the logger sent went past the plaintext tail's connection attempts.
	plain.Kill(t)
	if out := plain.Stdout.String(); out != "" {
		t.Fatalf("the tail without a key received:\n%s", out)
	}

	// Revocation: a connected tail is disconnected once the relay reads the new CRL, and every
	// reconnection is refused.
	watcher := b.Start("ackmsg-tail", "--certname", "tail")
	watcher.WaitLog(t, "endpoint connected")
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-certs", "revoke", "--dir", b.PKI, "tail"); code != 0 {
		t.Fatalf("revoke exit %d: %s", code, stderr)
	}
	watcher.WaitLog(t, "endpoint disconnected")
	relay.WaitLog(t, "reason=revoked")
	watcher.Kill(t)
	if code := relay.Stop(t); code != 0 {
		t.Fatalf("relay exit %d: %s", code, relay.Stderr.String())
	}
}
