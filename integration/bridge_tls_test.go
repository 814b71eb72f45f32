package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/rmqtest"
)

// TestBridgeTLSExternal: the real ackmsg-bridge and its tools talk AMQPS to a broker whose TLS
// listener requires a client certificate, and log in with EXTERNAL as the CN of the bridge's
// own bus certificate; the broker's certificate and the revocation are made with ackmsg-certs.
// A revoked client certificate makes the bridge exit 1 naming the reason; a plaintext URL to
// the TLS port fails saying it may be one.
func TestBridgeTLSExternal(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"bridge", "revoked"}, Extra: `
[bridge]
topics = ["org.example.test.logger.#"]
reconnect_max = 0.5
# VARIANT
`})
	for _, args := range [][]string{
		{"issue", "--dir", b.PKI, "--host", "localhost", "broker"},
		{"revoke", "--dir", b.PKI, "revoked"},
	} {
		if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-certs", args...); code != 0 {
			t.Fatalf("ackmsg-certs %v: exit %d\n%s", args, code, stderr)
		}
	}
	node := rmqtest.NewTLSNode(t, rmqtest.TLS{CAFile: filepath.Join(b.PKI, "ca.crt"), CRLFile: filepath.Join(b.PKI, "crl.pem"),
		CertFile: filepath.Join(b.PKI, "broker.crt"), KeyFile: filepath.Join(b.PKI, "broker.key"), Users: []string{"bridge", "revoked"}})
	base, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	variant := func(lines string) {
		t.Helper()
		if err := os.WriteFile(b.Config, []byte(strings.Replace(string(base), "# VARIANT", lines, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tlsURL := node.TLSURL("localhost")
	variant(fmt.Sprintf("urls = [%q]\nlogin = \"external\"", tlsURL))

	audit := "tls.audit"
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-bridge", "queue", audit, "--bind", "org.example.test.logger.#", "--certname", "bridge"); code != 0 {
		t.Fatalf("ackmsg-bridge queue over TLS: exit %d\n%s", code, stderr)
	}
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	br := b.Start("ackmsg-bridge", "--certname", "bridge")
	br.WaitLog(t, "bridging bus → AMQP")
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "bridge", "--message", "over tls"); code != 0 {
		t.Fatalf("acked publish to the bridge over TLS: exit %d\n%s", code, stderr)
	}
	out, stderr, code := b.Run(40*time.Second, "", "ackmsg-bridge", "get", audit, "--count", "1", "--timeout", "30", "--certname", "bridge")
	if code != 0 || !strings.Contains(out, "over tls") {
		t.Fatalf("ackmsg-bridge get over TLS: exit %d %q\n%s", code, out, stderr)
	}
	if code := br.Stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}

	variant(fmt.Sprintf("urls = [%q]\nlogin = \"external\"\ntls_cert = %q\ntls_key = %q", tlsURL,
		filepath.Join(b.PKI, "revoked.crt"), filepath.Join(b.PKI, "revoked.key")))
	p := b.Start("ackmsg-bridge", "--certname", "bridge")
	if code := p.Wait(t, 20*time.Second); code != 1 || !strings.Contains(p.Stderr.String(), "revoked certificate") {
		t.Fatalf("revoked client certificate: exit %d, want 1 naming it\n%s", code, p.Stderr.String())
	}

	variant(`login = "password"`)
	plain := strings.Replace(node.TLSURL("127.0.0.1"), "amqps://", "amqp://guest:guest@", 1)
	_, stderr, code = b.Run(30*time.Second, "", "ackmsg-bridge", "queue", "plain", "--bind", "k", "--url", plain)
	if code != 1 || !strings.Contains(stderr, "TLS-only port") {
		t.Fatalf("plaintext to the TLS port: exit %d, want 1 saying so\n%s", code, stderr)
	}
}
