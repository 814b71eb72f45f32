package testbus

import (
	"path/filepath"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
)

// CurvePKI creates a throwaway Ed25519 CA and a certificate with its CURVE key pair for each
// name, and returns the directory (ca.crt, crl.pem, <name>.crt/.key/.curve).
func CurvePKI(t testing.TB, names ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := certs.InitCA(dir, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := certs.Issue(dir, n, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Curve makes c run transport_security = "curve" as certificate name of the PKI in dir, checked
// against its CA and CRL, with the relay's endpoints served by the certificate "relay".
func Curve(c *config.Config, dir, name string) *config.Config {
	c.TransportSecurity = config.SecurityCurve
	c.SSLDir = dir
	c.Certname = name
	c.CACertLocation = filepath.Join(dir, "ca.crt")
	c.CRLLocation = filepath.Join(dir, "crl.pem")
	c.Certnames = config.StringMap{config.RelayInboundKey: "relay", config.RelayOutboundKey: "relay"}
	return c
}
