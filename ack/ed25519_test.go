package ack_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// ed25519SSLDir copies the vector CA (RSA), its CRL and sub01 into a temporary ssldir and issues
// Ed25519 certificates for names there.
func ed25519SSLDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{certs.CAFileName, certs.CAKeyFileName, certs.CRLFileName, "sub01.crt", "sub01.key"} {
		data, err := os.ReadFile(filepath.Join(testbus.PKIDir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		if _, err := certs.Issue(dir, n, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestEd25519AckedPublish: an Ed25519 publisher gets ACKs from an Ed25519 consumer and from an
// RSA consumer on the same bus; each side verifies the algorithm the other used.
func TestEd25519AckedPublish(t *testing.T) {
	dir := ed25519SSLDir(t, "edpub", "edsub")
	w := newWorld(t, "edsub", "sub01")
	cfg := func(name, cert string) *config.Config {
		c := w.config(name, cert)
		c.SSLDir = dir
		c.CACertLocation = filepath.Join(dir, certs.CAFileName)
		c.CRLLocation = filepath.Join(dir, certs.CRLFileName)
		return c
	}
	for _, c := range []struct{ key, cert string }{{"edsub", "edsub"}, {"sub01", "sub01"}} {
		runAcker(t, cfg(c.key+".host", c.cert), "", ack.WithMode(ack.OnReceipt))
	}
	p, err := config.NewAckPublisher(t.Context(), cfg("pub.host", "edpub"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := p.Publish(testbus.Within(t, 20*time.Second), "order", map[string]any{"n": 1}, ack.To("edsub", "sub01"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := m.String("crypto"); c != certs.CryptoEd25519 {
		t.Fatalf("published crypto %q, want %q", c, certs.CryptoEd25519)
	}
	if st := p.Stats(); st.Succeeded != 1 || st.AcksCounted != 2 {
		t.Fatalf("stats %+v", st)
	}
}
