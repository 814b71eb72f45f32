package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"os"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/message"
)

// edPKI is an RSA CA with one RSA service ("rsa") and one Ed25519 service ("ed").
func edPKI(t testing.TB) *testPKI {
	t.Helper()
	p := newTestPKI(t, PKIOptions{}, "rsa")
	p.issue(t, "ed", PKIOptions{KeyType: KeyEd25519})
	return p
}

func TestEd25519SignVerify(t *testing.T) {
	p := edPKI(t)
	ed := p.signer(t, "ed")
	if ed.Crypto() != CryptoEd25519 {
		t.Fatalf("Crypto() = %q, want %q", ed.Crypto(), CryptoEd25519)
	}
	if _, ok := ed.Certificate().PublicKey.(ed25519.PublicKey); !ok {
		t.Fatalf("issued key is %T", ed.Certificate().PublicKey)
	}
	m := signedMessage(t, ed, testTopic, map[string]any{"k": "v"})
	if c, _ := m.String(message.FieldCrypto); c != CryptoEd25519 {
		t.Fatalf("crypto = %q", c)
	}
	// Same field layout as x509: 76-column base64 lines and one trailing newline.
	for _, f := range []string{message.FieldSignature, message.FieldCertificate} {
		s, _ := m.String(f)
		if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
			t.Errorf("%s does not end in exactly one newline: %q", f, s)
		}
		for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			if len(line) > 76 {
				t.Errorf("%s line of %d columns", f, len(line))
			}
		}
	}
	sig, _ := m.String(message.FieldSignature)
	if raw, err := decodeLenient(sig); err != nil || len(raw) != ed25519.SignatureSize {
		t.Fatalf("signature: %d bytes, %v", len(raw), err)
	}
	v := p.verifier(t, p.config(true))
	id, err := v.Verify(m)
	if err != nil || id.CN != "ed" {
		t.Fatalf("Verify: %+v, %v", id, err)
	}
	if _, err := v.VerifySignedBy(m, "ed"); err != nil {
		t.Fatalf("VerifySignedBy: %v", err)
	}
	wantErr(t, func() error { _, err := v.VerifySignedBy(m, "rsa"); return err }(), ErrSigner)

	// Deterministic, like PKCS#1 v1.5: signing twice gives the same bytes.
	again := m.Clone()
	if err := ed.Sign(again); err != nil {
		t.Fatal(err)
	}
	if s2, _ := again.String(message.FieldSignature); s2 != sig {
		t.Error("Ed25519 signature is not deterministic")
	}

	// Revocation applies as for x509.
	if _, err := Revoke(p.dir, "ed", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error { _, err := p.verifier(t, p.config(true)).Verify(m); return err }(), ErrRevoked)
}

func TestMixedBus(t *testing.T) {
	p := edPKI(t)
	v := p.verifier(t, p.config(true))
	for _, name := range []string{"rsa", "ed", "rsa", "ed"} { // twice: warm cache too
		m := signedMessage(t, p.signer(t, name), testTopic, map[string]any{"from": name})
		if id, err := v.Verify(m); err != nil || id.CN != name {
			t.Fatalf("%s: %+v, %v", name, id, err)
		}
	}
	if c := p.signer(t, "rsa").Crypto(); c != CryptoX509 {
		t.Fatalf("RSA signer crypto %q", c)
	}

	// A verifier limited to fedmsg's x509 refuses Ed25519 before looking at anything else.
	cfg := p.config(true)
	cfg.AllowedCrypto = []string{CryptoX509}
	strict := p.verifier(t, cfg)
	if _, err := strict.Verify(signedMessage(t, p.signer(t, "rsa"), testTopic, 1)); err != nil {
		t.Fatalf("strict verifier, RSA: %v", err)
	}
	ve := wantErr(t, func() error {
		_, err := strict.Verify(signedMessage(t, p.signer(t, "ed"), testTopic, 1))
		return err
	}(), ErrCrypto)
	if ve.Check != CheckCrypto {
		t.Errorf("check = %q", ve.Check)
	}
	// And an Ed25519-only verifier refuses RSA.
	cfg.AllowedCrypto = []string{CryptoEd25519}
	wantErr(t, func() error {
		_, err := p.verifier(t, cfg).Verify(signedMessage(t, p.signer(t, "rsa"), testTopic, 1))
		return err
	}(), ErrCrypto)
}

// TestCryptoKeyConfusion: a signature that is valid for the certificate's key still fails when
// the crypto value names the other algorithm, so nobody can slip an Ed25519 signature past a
// peer that reads "x509" as RSA, or the reverse.
func TestCryptoKeyConfusion(t *testing.T) {
	p := edPKI(t)
	v := p.verifier(t, p.config(true))
	edKey := parseKeyFile(t, p.path("ed.key")).(ed25519.PrivateKey)
	rsaKey := parseKeyFile(t, p.path("rsa.key")).(*rsa.PrivateKey)

	// relabel signs m under crypto with the given raw signer, keeping signer's certificate.
	relabel := func(s *X509Signer, crypto string, sign func([]byte) []byte) *message.Message {
		m := signedMessage(t, s, testTopic, map[string]any{"k": "v"})
		if err := m.Set(message.FieldCrypto, crypto); err != nil {
			t.Fatal(err)
		}
		data, err := m.SignedBytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Set(message.FieldSignature, wrap76(sign(data))); err != nil {
			t.Fatal(err)
		}
		return m
	}
	edSign := func(data []byte) []byte { return ed25519.Sign(edKey, data) }
	rsaSign := func(data []byte) []byte {
		sum := sha1.Sum(data)
		sig, err := rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA1, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	tampered := signedMessage(t, p.signer(t, "ed"), testTopic, map[string]any{"k": "v"})
	if err := tampered.Set(message.FieldMsg, map[string]any{"k": "w"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    *message.Message
		want error
	}{
		{"Ed25519 cert and signature under x509", relabel(p.signer(t, "ed"), CryptoX509, edSign), ErrSignature},
		{"RSA cert and signature under x509-ed25519", relabel(p.signer(t, "rsa"), CryptoEd25519, rsaSign), ErrSignature},
		{"Ed25519 tampered body", tampered, ErrSignature},
		{"Ed25519 signature truncated", relabel(p.signer(t, "ed"), CryptoEd25519, func(d []byte) []byte { return edSign(d)[:63] }), ErrSignature},
		{"control: relabel to the right value", relabel(p.signer(t, "ed"), CryptoEd25519, edSign), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.m)
			if ve := wantErr(t, err, tc.want); ve != nil && ve.Check != CheckSignature {
				t.Errorf("check = %q, want %q (%v)", ve.Check, CheckSignature, err)
			}
		})
	}
}

func TestNewSignerFromKey(t *testing.T) {
	p := edPKI(t)
	edCert, rsaCert := p.signer(t, "ed").Certificate(), p.signer(t, "rsa").Certificate()
	edKey := parseKeyFile(t, p.path("ed.key")).(ed25519.PrivateKey)
	rsaKey := parseKeyFile(t, p.path("rsa.key")).(*rsa.PrivateKey)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)

	if s, err := NewSignerFromKey(edCert, edKey); err != nil || s.Crypto() != CryptoEd25519 || s.Name() != "ed" {
		t.Fatalf("Ed25519: %v", err)
	}
	if s, err := NewSignerFromKey(edCert, &edKey); err != nil || s.Crypto() != CryptoEd25519 {
		t.Fatalf("*ed25519.PrivateKey: %v", err)
	}
	if s, err := NewSignerFromKey(rsaCert, rsaKey); err != nil || s.Crypto() != CryptoX509 {
		t.Fatalf("RSA: %v", err)
	}
	for name, tc := range map[string]struct {
		cert *X509Signer
		key  crypto.Signer
	}{
		"Ed25519 key, RSA cert":     {p.signer(t, "rsa"), edKey},
		"RSA key, Ed25519 cert":     {p.signer(t, "ed"), rsaKey},
		"other Ed25519 key":         {p.signer(t, "ed"), otherEd},
		"short Ed25519 key":         {p.signer(t, "ed"), edKey[:10]},
		"nil *ed25519.PrivateKey":   {p.signer(t, "ed"), (*ed25519.PrivateKey)(nil)},
		"nil *rsa.PrivateKey":       {p.signer(t, "rsa"), (*rsa.PrivateKey)(nil)},
		"unsupported key type (EC)": {p.signer(t, "rsa"), ecKey(t)},
	} {
		if _, err := NewSignerFromKey(tc.cert.Certificate(), tc.key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewSigner(edCert, nil); err == nil {
		t.Error("NewSigner(cert, nil) accepted")
	}
	// LoadSigner with the Ed25519 certificate and the RSA key file.
	if _, err := LoadSigner(p.path("ed.crt"), p.path("rsa.key")); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadSigner mismatched files: %v", err)
	}
}

// TestEd25519CA: a CA with an Ed25519 key issues RSA and Ed25519 leaves and signs CRLs that the
// verifier accepts.
func TestEd25519CA(t *testing.T) {
	p := newTestPKI(t, PKIOptions{KeyType: KeyEd25519})
	p.issue(t, "rsa", PKIOptions{})
	p.issue(t, "ed", PKIOptions{KeyType: KeyEd25519})
	v := p.verifier(t, p.config(true))
	for _, name := range []string{"rsa", "ed"} {
		if _, err := v.Verify(signedMessage(t, p.signer(t, name), testTopic, 1)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := Revoke(p.dir, "rsa", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error {
		_, err := p.verifier(t, p.config(true)).Verify(signedMessage(t, p.signer(t, "rsa"), testTopic, 1))
		return err
	}(), ErrRevoked)

	inv, err := List(p.dir, PKIOptions{Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{inv.CA.Name: inv.CA.KeyType}
	for _, c := range inv.Certs {
		got[c.Name] = c.KeyType
	}
	want := map[string]string{"ca": "Ed25519", "ed": "Ed25519", "rsa": "RSA-1024"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("List key type of %s = %q, want %q", k, got[k], w)
		}
	}
	if inv.CRL == nil || inv.CRL.Problem != "" {
		t.Errorf("CRL: %+v", inv.CRL)
	}
}

func TestKeyTypeValidation(t *testing.T) {
	p := newTestPKI(t, PKIOptions{})
	if _, err := Issue(p.dir, "x", PKIOptions{KeyType: "dsa", Now: p.clock.Now}); err == nil {
		t.Error("key type dsa accepted")
	}
	// Bits is ignored for Ed25519, so an RSA-only value does not get in the way.
	if _, err := Issue(p.dir, "y", PKIOptions{KeyType: KeyEd25519, Bits: 1, Now: p.clock.Now}); err != nil {
		t.Errorf("Ed25519 with Bits 1: %v", err)
	}
	for _, allowed := range [][]string{{CryptoEd25519}, {CryptoX509, CryptoEd25519, "gpg"}} {
		cfg := p.config(false)
		cfg.AllowedCrypto = allowed
		if err := cfg.Validate(); err != nil {
			t.Errorf("AllowedCrypto %q: %v", allowed, err)
		}
	}
	cfg := p.config(false)
	cfg.AllowedCrypto = []string{"ed25519"}
	if err := cfg.Validate(); err == nil {
		t.Error(`AllowedCrypto ["ed25519"] accepted`)
	}
}

func parseKeyFile(t testing.TB, path string) crypto.Signer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := parsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
