package certs

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opensslVerify runs `openssl verify -CAfile ca.crt -crl_check -CRLfile crl.pem <name>.crt` in dir
// and returns its combined output and whether it accepted.
func opensslVerify(t *testing.T, dir, name string, extra ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl binary not found; cannot cross-check with OpenSSL")
	}
	args := append([]string{"verify", "-CAfile", CAFileName, "-crl_check", "-CRLfile", CRLFileName}, extra...)
	cmd := exec.Command(bin, append(args, name+".crt")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestIssueOpenSSLAcceptsThenRejects(t *testing.T) {
	dir := t.TempDir()
	// Real clock; the service key is a freshly generated default (2048-bit) one, as operators get.
	if _, err := InitCA(dir, PKIOptions{Bits: 1024, newKey: fixedKey(t)}); err != nil {
		t.Fatal(err)
	}
	cert, err := Issue(dir, "bodhi.app01", PKIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cert.PublicKey.(*rsa.PublicKey).N.BitLen() != DefaultBits {
		t.Errorf("default key size %d", cert.PublicKey.(*rsa.PublicKey).N.BitLen())
	}
	if _, err := Issue(dir, "other", PKIOptions{Bits: 1024, newKey: fixedKey(t)}); err != nil {
		t.Fatal(err)
	}
	if out, ok := opensslVerify(t, dir, "bodhi.app01"); !ok {
		t.Fatalf("openssl rejects a fresh certificate:\n%s", out)
	}
	if _, err := Revoke(dir, "bodhi.app01", PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	out, ok := opensslVerify(t, dir, "bodhi.app01")
	if ok || !strings.Contains(out, "revoked") {
		t.Fatalf("openssl accepts a revoked certificate:\n%s", out)
	}
	if out, ok := opensslVerify(t, dir, "other"); !ok {
		t.Fatalf("openssl rejects an unrevoked certificate after a revocation:\n%s", out)
	}
	// -crl_check_all also checks the CA against its own CRL (fedmsg sets CRL_CHECK_ALL).
	if out, ok := opensslVerify(t, dir, "other", "-crl_check_all"); !ok {
		t.Fatalf("openssl -crl_check_all:\n%s", out)
	}

	// Properties of what was issued.
	if cert.Subject.CommonName != "bodhi.app01" || firstCN(cert) != "bodhi.app01" {
		t.Errorf("subject %v", cert.Subject)
	}
	if cert.SerialNumber.BitLen() != 128 || len(cert.AuthorityKeyId) == 0 || len(cert.SubjectKeyId) == 0 {
		t.Errorf("serial %v, AKID %x, SKID %x", cert.SerialNumber, cert.AuthorityKeyId, cert.SubjectKeyId)
	}
	if len(cert.ExtKeyUsage) != 2 || cert.IsCA {
		t.Errorf("EKU %v, IsCA %v", cert.ExtKeyUsage, cert.IsCA)
	}
	ca, _, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(ca.SubjectKeyId) == 0 ||
		!ca.MaxPathLenZero {
		t.Errorf("CA: IsCA %v KeyUsage %v SKID %x pathlen0 %v", ca.IsCA, ca.KeyUsage, ca.SubjectKeyId, ca.MaxPathLenZero)
	}
	if string(cert.AuthorityKeyId) != string(ca.SubjectKeyId) {
		t.Error("AKID is not the CA's SKID")
	}
	if pub := cert.PublicKey; pub == nil {
		t.Error("no public key")
	}
	for _, f := range []string{CAKeyFileName, "bodhi.app01.key", "other.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left over %s", e.Name())
		}
	}
}

// Revoking on top of a version 1 CRL (fedmsg's, easy-rsa's) keeps its entries.
func TestRevokeKeepsV1Entries(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key", "crl.pem", "sub01.crt", "revoked01.crt", "pub01.crt"} {
		if err := os.WriteFile(filepath.Join(dir, f), mustRead(t, filepath.Join(vectorPKI, f)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rl, err := parseCRL(mustRead(t, filepath.Join(dir, CRLFileName)))
	if err != nil {
		t.Fatal(err)
	}
	if rl.version != 1 || len(rl.entries) != 1 || rl.entries[0].serial.Text(16) != "1003" {
		t.Fatalf("vector CRL parsed as version %d with %d entries", rl.version, len(rl.entries))
	}
	now := time.Now // openssl checks against the real clock
	if _, err := Revoke(dir, "sub01", PKIOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	rl, err = parseCRL(mustRead(t, filepath.Join(dir, CRLFileName)))
	if err != nil {
		t.Fatal(err)
	}
	if rl.version != 2 || len(rl.entries) != 2 || rl.number == nil || rl.number.Int64() != 1 {
		t.Fatalf("new CRL: version %d, %d entries, number %v", rl.version, len(rl.entries), rl.number)
	}
	_, err = Revoke(dir, "sub01", PKIOptions{Now: now})
	if !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := Revoke(dir, "revoked01", PKIOptions{Now: now}); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("entry from the v1 CRL lost: %v", err)
	}
	if err := RefreshCRL(dir, PKIOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	rl, _ = parseCRL(mustRead(t, filepath.Join(dir, CRLFileName)))
	if len(rl.entries) != 2 || rl.number.Int64() != 2 {
		t.Fatalf("refreshed CRL: %d entries, number %v", len(rl.entries), rl.number)
	}

	inv, err := List(dir, PKIOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range inv.Certs {
		got[c.Name] = c.Status
	}
	want := map[string]string{"sub01": StatusRevoked, "revoked01": StatusRevoked, "pub01": StatusValid}
	for n, s := range want {
		if got[n] != s {
			t.Errorf("%s: status %q, want %q", n, got[n], s)
		}
	}
	if inv.CRL == nil || inv.CRL.Revoked != 2 || inv.CRL.Problem != "" || inv.CRL.Number != "2" {
		t.Errorf("CRL info %+v", inv.CRL)
	}
	if out, ok := opensslVerify(t, dir, "sub01"); ok {
		t.Errorf("openssl accepts sub01 after revocation:\n%s", out)
	}
	if out, ok := opensslVerify(t, dir, "revoked01"); ok {
		t.Errorf("openssl accepts revoked01 after re-signing:\n%s", out)
	}
	if out, ok := opensslVerify(t, dir, "pub01"); !ok {
		t.Errorf("openssl rejects pub01:\n%s", out)
	}
}

func TestIssueRefusesOverwrite(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	before := mustRead(t, p.path("pub.crt"))
	_, err := Issue(p.dir, "pub", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t)})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Issue over an existing certificate: %v", err)
	}
	if string(mustRead(t, p.path("pub.crt"))) != string(before) {
		t.Fatal("certificate changed")
	}
	if _, err := Issue(p.dir, "pub", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t), Force: true}); err != nil {
		t.Fatal(err)
	}
	if string(mustRead(t, p.path("pub.crt"))) == string(before) {
		t.Fatal("forced Issue did not replace the certificate")
	}
	if _, err := InitCA(p.dir, PKIOptions{Bits: 1024}); !errors.Is(err, ErrExists) {
		t.Fatalf("InitCA over an existing CA: %v", err)
	}
	// Only the key exists: still refused, nothing written.
	if err := os.Remove(p.path("pub.crt")); err != nil {
		t.Fatal(err)
	}
	if _, err := Issue(p.dir, "pub", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t)}); !errors.Is(err, ErrExists) {
		t.Fatalf("Issue over an existing key: %v", err)
	}
	if _, err := os.Stat(p.path("pub.crt")); !os.IsNotExist(err) {
		t.Fatal("certificate written although the key existed")
	}
	if err := writeFileAtomic(p.path("x"), []byte("1"), 0o644, false); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p.path("x"), []byte("2"), 0o644, false); !errors.Is(err, ErrExists) {
		t.Fatalf("writeFileAtomic without overwrite: %v", err)
	}
}

func TestIssueValidation(t *testing.T) {
	p := newTestPKI(t, PKIOptions{Days: 30}, "pub")
	for _, name := range []string{"", "ca", "../x", "a/b", ".hidden", "-flag"} {
		if _, err := Issue(p.dir, name, PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t)}); err == nil {
			t.Errorf("Issue(%q) accepted", name)
		}
	}
	for _, o := range []PKIOptions{{Bits: 512}, {Days: -1}, {CRLDays: -1}} {
		o.Now = p.clock.Now
		if _, err := Issue(p.dir, "n", o); err == nil {
			t.Errorf("Issue with %+v accepted", o)
		}
	}
	// A service certificate never outlives its CA.
	s := p.signer(t, "pub")
	ca, _, _ := loadCA(p.dir)
	if !s.Certificate().NotAfter.Equal(ca.NotAfter) {
		t.Errorf("leaf notAfter %v, CA notAfter %v", s.Certificate().NotAfter, ca.NotAfter)
	}
	if _, err := Issue(t.TempDir(), "x", PKIOptions{Bits: 1024}); err == nil || !strings.Contains(err.Error(), "init-ca") {
		t.Errorf("Issue without a CA: %v", err)
	}
	// Revoking a certificate from another CA is refused (its serial could be one of ours).
	other := newTestPKI(t, PKIOptions{}, "stranger")
	if err := os.WriteFile(p.path("stranger.crt"), mustRead(t, other.path("stranger.crt")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(p.dir, "stranger", PKIOptions{Now: p.clock.Now}); err == nil {
		t.Error("revoked a foreign certificate")
	}
	p.clock.Advance(40 * 24 * time.Hour)
	if _, err := Issue(p.dir, "late", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t)}); err == nil {
		t.Error("issued from an expired CA")
	}
}

func TestList(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alpha", "beta")
	p.issue(t, "short", PKIOptions{Days: 1})
	if _, err := Revoke(p.dir, "beta", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	other := newTestPKI(t, PKIOptions{}, "stranger")
	if err := os.WriteFile(p.path("stranger.crt"), mustRead(t, other.path("stranger.crt")), 0o644); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(48 * time.Hour)
	inv, err := List(p.dir, PKIOptions{Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, status string }{
		{"alpha", StatusValid}, {"beta", StatusRevoked}, {"short", StatusExpired}, {"stranger", StatusForeign},
	}
	if len(inv.Certs) != len(want) {
		t.Fatalf("got %+v", inv.Certs)
	}
	for i, w := range want {
		c := inv.Certs[i]
		if c.Name != w.name || c.Status != w.status || c.CN != w.name || c.Serial == "" || c.NotAfter.IsZero() {
			t.Errorf("entry %d = %+v, want %s %s", i, c, w.name, w.status)
		}
	}
	if inv.CA.Name != "ca" || inv.CA.Status != StatusValid || inv.CA.CN != DefaultCAName {
		t.Errorf("CA entry %+v", inv.CA)
	}
	if inv.CRL == nil || inv.CRL.Revoked != 1 || inv.CRL.Version != 2 || inv.CRL.Problem != "" {
		t.Errorf("CRL %+v", inv.CRL)
	}
	p.clock.Advance(400 * 24 * time.Hour)
	inv, _ = List(p.dir, PKIOptions{Now: p.clock.Now})
	if inv.CRL == nil || !strings.Contains(inv.CRL.Problem, "CRL expired") {
		t.Errorf("expired CRL not reported: %+v", inv.CRL)
	}
}

// Hosts become the subjectAltName: Go's TLS client accepts the certificate for those names only.
func TestIssueHosts(t *testing.T) {
	p := newTestPKI(t, PKIOptions{})
	cert, err := Issue(p.dir, "broker", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t), Hosts: []string{"mq.example", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"mq.example", "127.0.0.1"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := cert.VerifyHostname("other.example"); err == nil {
		t.Error("other.example accepted")
	}
}

// NoCurve issues a broker's certificate without the CURVE key: no URI subjectAltName (the one
// some TLS clients' hostname checks choke on), no .curve file, and a reissue without CURVE
// removes the key pair an earlier issue left.
func TestIssueNoCurve(t *testing.T) {
	p := newTestPKI(t, PKIOptions{})
	if _, err := Issue(p.dir, "broker", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.path("broker" + CurveKeyExt)); err != nil {
		t.Fatalf("the first issue wrote no CURVE key: %v", err)
	}
	cert, err := Issue(p.dir, "broker", PKIOptions{Bits: 1024, Now: p.clock.Now, newKey: fixedKey(t), Force: true,
		Hosts: []string{"mq.example"}, NoCurve: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.URIs) != 0 {
		t.Fatalf("URIs %v, want none", cert.URIs)
	}
	if _, err := CertCurveKey(cert); err == nil {
		t.Fatal("CertCurveKey found a key in a certificate issued without one")
	}
	if _, err := os.Stat(p.path("broker" + CurveKeyExt)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the earlier CURVE key is still beside the certificate: %v", err)
	}
	if err := cert.VerifyHostname("mq.example"); err != nil {
		t.Fatal(err)
	}
}
