package testbus

import (
	"path/filepath"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
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
