package certs

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

func TestVerifyFailures(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "sub")
	pub := p.signer(t, "pub")
	good := signedMessage(t, pub, testTopic, map[string]any{"k": "v"})
	v := p.verifier(t, p.config(true))
	if id, err := v.Verify(good); err != nil || id.CN != "pub" {
		t.Fatalf("good message: %+v, %v", id, err)
	}

	mutate := func(f func(m *message.Message)) *message.Message {
		m := good.Clone()
		f(m)
		return m
	}
	set := func(key string, val any) func(m *message.Message) {
		return func(m *message.Message) {
			if err := m.Set(key, val); err != nil {
				t.Fatal(err)
			}
		}
	}
	certB64, _ := good.String(message.FieldCertificate)
	sigB64, _ := good.String(message.FieldSignature)

	tests := []struct {
		name  string
		m     *message.Message
		want  error
		check string
	}{
		{"unsigned, no crypto", mutate(func(m *message.Message) {
			m.Delete(message.FieldCrypto)
			m.Delete(message.FieldSignature)
			m.Delete(message.FieldCertificate)
		}), ErrUnsigned, CheckFields},
		{"unsigned, crypto x509", mutate(func(m *message.Message) {
			m.Delete(message.FieldSignature)
			m.Delete(message.FieldCertificate)
		}), ErrUnsigned, CheckFields},
		{"no certificate", mutate(func(m *message.Message) { m.Delete(message.FieldCertificate) }), ErrUnsigned, CheckFields},
		{"no signature", mutate(func(m *message.Message) { m.Delete(message.FieldSignature) }), ErrUnsigned, CheckFields},
		{"crypto gpg", mutate(set(message.FieldCrypto, "gpg")), ErrCrypto, CheckCrypto},
		{"crypto unknown", mutate(set(message.FieldCrypto, "rot13")), ErrCrypto, CheckCrypto},
		{"crypto not a string", mutate(set(message.FieldCrypto, 5)), ErrCrypto, CheckCrypto},
		{"no crypto, signature only (gpg)", mutate(func(m *message.Message) {
			m.Delete(message.FieldCrypto)
			m.Delete(message.FieldCertificate)
		}), ErrCrypto, CheckCrypto},
		{"signature missing padding", mutate(set(message.FieldSignature, strings.TrimRight(strings.TrimSpace(sigB64), "="))), ErrEncoding, CheckEncoding},
		{"signature not a string", mutate(set(message.FieldSignature, []any{"x"})), ErrEncoding, CheckEncoding},
		{"certificate non-ASCII", mutate(set(message.FieldCertificate, "é"+certB64)), ErrEncoding, CheckEncoding},
		{"certificate not PEM", mutate(set(message.FieldCertificate, wrap76([]byte("hello")))), ErrEncoding, CheckEncoding},
		{"certificate bad DER", mutate(set(message.FieldCertificate,
			wrap76([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")))), ErrEncoding, CheckEncoding},
		{"signature wrong length", mutate(set(message.FieldSignature, wrap76([]byte("short")))), ErrSignature, CheckSignature},
		{"tampered body", mutate(set(message.FieldMsg, map[string]any{"k": "w"})), ErrSignature, CheckSignature},
		{"tampered i", mutate(set(message.FieldI, 2)), ErrSignature, CheckSignature},
		{"crypto removed", mutate(func(m *message.Message) { m.Delete(message.FieldCrypto) }), ErrSignature, CheckSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.m)
			ve := wantErr(t, err, tc.want)
			if ve.Check != tc.check {
				t.Errorf("Check = %q, want %q (%v)", ve.Check, tc.check, err)
			}
			if !strings.Contains(err.Error(), tc.check+" check failed") {
				t.Errorf("error text %q does not name the check", err)
			}
		})
	}

	t.Run("gpg allowed but unsupported", func(t *testing.T) {
		cfg := p.config(true)
		cfg.AllowedCrypto = []string{"x509", "gpg"}
		v := p.verifier(t, cfg)
		_, err := v.Verify(mutate(set(message.FieldCrypto, "gpg")))
		wantErr(t, err, ErrCrypto)
		if !strings.Contains(err.Error(), "not supported") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("nil message", func(t *testing.T) {
		_, err := v.Verify(nil)
		wantErr(t, err, ErrUnsigned)
	})
	t.Run("error names the signer", func(t *testing.T) {
		_, err := v.Verify(mutate(set(message.FieldMsg, "x")))
		ve := wantErr(t, err, ErrSignature)
		if !strings.Contains(ve.Subject, "CN=pub") || ve.Serial == "" || ve.MsgID != good.MsgID() {
			t.Errorf("VerifyError = %+v", ve)
		}
		if !strings.Contains(err.Error(), `"CN=pub`) || !strings.Contains(err.Error(), good.MsgID()) {
			t.Errorf("error text %q lacks subject or msg_id", err)
		}
	})
	t.Run("lenient base64 layouts verify", func(t *testing.T) {
		m := mutate(func(m *message.Message) {
			// No newlines at all, and spaces and junk in between: Python's b64decode drops them.
			_ = m.Set(message.FieldSignature, strings.ReplaceAll(sigB64, "\n", ""))
			_ = m.Set(message.FieldCertificate, strings.ReplaceAll(certB64, "\n", " \t*"))
		})
		if _, err := v.Verify(m); err != nil {
			t.Fatal(err)
		}
	})
}

func TestVerifyOtherCA(t *testing.T) {
	// Same CA name, different key: only the issuer signature tells them apart.
	p := newTestPKI(t, PKIOptions{CommonName: "same CA"}, "pub")
	other := newTestPKI(t, PKIOptions{CommonName: "same CA"}, "pub")
	m := signedMessage(t, other.signer(t, "pub"), testTopic, "hi")
	v := p.verifier(t, p.config(true))
	_, err := v.Verify(m)
	ve := wantErr(t, err, ErrUntrusted)
	if ve.Check != CheckIssuer {
		t.Errorf("check %q", ve.Check)
	}
	// A CA with a different name is untrusted too, and says so.
	third := newTestPKI(t, PKIOptions{CommonName: "third CA"}, "pub")
	_, err = v.Verify(signedMessage(t, third.signer(t, "pub"), testTopic, "hi"))
	wantErr(t, err, ErrUntrusted)
	if !strings.Contains(err.Error(), "third CA") {
		t.Errorf("error %q does not name the foreign issuer", err)
	}
	// Untrusted certificates are not cached, so strangers cannot fill the cache.
	if n := v.Stats().CacheEntries; n != 0 {
		t.Errorf("cache holds %d entries after untrusted certificates", n)
	}
}

func TestVerifyDates(t *testing.T) {
	t.Run("expired leaf", func(t *testing.T) {
		p := newTestPKI(t, PKIOptions{})
		p.issue(t, "short", PKIOptions{Days: 10})
		m := signedMessage(t, p.signer(t, "short"), testTopic, "hi")
		v := p.verifier(t, p.config(true))
		if _, err := v.Verify(m); err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(11 * 24 * time.Hour)
		_, err := v.Verify(m) // cached entry: the window must still be enforced
		wantErr(t, err, ErrExpired)
		if !strings.Contains(err.Error(), "signer certificate expired") {
			t.Errorf("error %q does not say the leaf expired", err)
		}
	})
	t.Run("leaf not yet valid", func(t *testing.T) {
		p := newTestPKI(t, PKIOptions{})
		p.issue(t, "future", PKIOptions{Now: func() time.Time { return pkiEpoch.Add(48 * time.Hour) }})
		m := signedMessage(t, p.signer(t, "future"), testTopic, "hi")
		_, err := p.verifier(t, p.config(false)).Verify(m)
		wantErr(t, err, ErrExpired)
		if !strings.Contains(err.Error(), "signer certificate not yet valid") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("expired CA", func(t *testing.T) {
		p := newTestPKI(t, PKIOptions{Days: 10, CRLDays: 5}, "pub")
		m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
		v := p.verifier(t, p.config(false))
		if _, err := v.Verify(m); err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(11 * 24 * time.Hour)
		_, err := v.Verify(m)
		ve := wantErr(t, err, ErrExpired)
		if !strings.Contains(err.Error(), "CA certificate expired") || ve.Check != CheckDates {
			t.Errorf("error %q does not say the CA expired", err)
		}
	})
	t.Run("expired CRL", func(t *testing.T) {
		p := newTestPKI(t, PKIOptions{CRLDays: 2}, "pub")
		m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
		v := p.verifier(t, p.config(true))
		if _, err := v.Verify(m); err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(3 * 24 * time.Hour)
		_, err := v.Verify(m)
		ve := wantErr(t, err, ErrCRL)
		if ve.Check != CheckCRL || !strings.Contains(err.Error(), "CRL expired") {
			t.Errorf("error %q", err)
		}
		// Refreshing the CRL (a new file) repairs the bus after the check interval.
		if err := RefreshCRL(p.dir, PKIOptions{Now: p.clock.Now}); err != nil {
			t.Fatal(err)
		}
		p.clock.Advance(DefaultCheckInterval)
		if _, err := v.Verify(m); err != nil {
			t.Fatalf("after RefreshCRL: %v", err)
		}
	})
	t.Run("CRL not yet valid", func(t *testing.T) {
		p := newTestPKI(t, PKIOptions{}, "pub")
		m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
		if err := RefreshCRL(p.dir, PKIOptions{Now: func() time.Time { return pkiEpoch.Add(24 * time.Hour) }}); err != nil {
			t.Fatal(err)
		}
		_, err := p.verifier(t, p.config(true)).Verify(m)
		wantErr(t, err, ErrCRL)
		if !strings.Contains(err.Error(), "not yet valid") {
			t.Errorf("error %q", err)
		}
	})
}

func TestVerifyRevoked(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "bad")
	if _, err := Revoke(p.dir, "bad", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	v := p.verifier(t, p.config(true))
	_, err := v.Verify(signedMessage(t, p.signer(t, "bad"), testTopic, "hi"))
	ve := wantErr(t, err, ErrRevoked)
	if ve.Check != CheckRevoked || !strings.Contains(ve.Subject, "CN=bad") {
		t.Errorf("VerifyError %+v", ve)
	}
	// Cached verdicts keep rejecting.
	_, err = v.Verify(signedMessage(t, p.signer(t, "bad"), testTopic, "again"))
	wantErr(t, err, ErrRevoked)
	if _, err := v.Verify(signedMessage(t, p.signer(t, "pub"), testTopic, "hi")); err != nil {
		t.Fatal(err)
	}
	// Without a CRL, revocation is not checked (fedmsg's crl_location = None).
	if _, err := p.verifier(t, p.config(false)).Verify(signedMessage(t, p.signer(t, "bad"), testTopic, "hi")); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCRLFromOtherCA(t *testing.T) {
	p := newTestPKI(t, PKIOptions{CommonName: "same CA"}, "pub")
	other := newTestPKI(t, PKIOptions{CommonName: "same CA"})
	data, err := os.ReadFile(other.path(CRLFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.path(CRLFileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	v := p.verifier(t, p.config(true))
	_, err = v.Verify(signedMessage(t, p.signer(t, "pub"), testTopic, "hi"))
	ve := wantErr(t, err, ErrCRL)
	if ve.Check != CheckCRL || !strings.Contains(err.Error(), "CRL signature") {
		t.Errorf("error %q", err)
	}

	third := newTestPKI(t, PKIOptions{CommonName: "third CA"})
	data, _ = os.ReadFile(third.path(CRLFileName))
	if err := os.WriteFile(p.path(CRLFileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.verifier(t, p.config(true)).Verify(signedMessage(t, p.signer(t, "pub"), testTopic, "hi"))
	wantErr(t, err, ErrCRL)
	if !strings.Contains(err.Error(), "CRL issuer") {
		t.Errorf("error %q", err)
	}
}

func TestVerifyPolicy(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "sub")
	pubMsg := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	subMsg := signedMessage(t, p.signer(t, "sub"), testTopic, "hi")
	otherTopic := signedMessage(t, p.signer(t, "sub"), "org.fedoraproject.dev.other", "hi")

	cfg := p.config(true)
	cfg.RoutingPolicy = map[string][]string{testTopic: {"pub"}}
	v := p.verifier(t, cfg)
	cfg.RoutingPolicy[testTopic] = append(cfg.RoutingPolicy[testTopic], "sub") // NewVerifier copied it
	if _, err := v.Verify(pubMsg); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(subMsg)
	ve := wantErr(t, err, ErrPolicy)
	if ve.Check != CheckPolicy || !strings.Contains(err.Error(), `"sub" may not sign topic`) {
		t.Errorf("error %q", err)
	}
	if _, err := v.Verify(otherTopic); err != nil {
		t.Fatalf("topic outside the policy, not nitpicky: %v", err)
	}

	cfg.Nitpicky = true
	nv := p.verifier(t, cfg)
	_, err = nv.Verify(otherTopic)
	wantErr(t, err, ErrPolicy)
	if !strings.Contains(err.Error(), "nitpicky") {
		t.Errorf("error %q", err)
	}
	if _, err := nv.Verify(pubMsg); err != nil {
		t.Fatal(err)
	}

	// Signed-by ignores the configured policy and nitpicky mode.
	if id, err := nv.VerifySignedBy(otherTopic, "sub"); err != nil || id.CN != "sub" {
		t.Fatalf("VerifySignedBy(sub): %+v %v", id, err)
	}
	if _, err := v.VerifySignedBy(subMsg, "sub"); err != nil {
		t.Fatalf("VerifySignedBy ignores the policy: %v", err)
	}
	_, err = v.VerifySignedBy(pubMsg, "sub")
	ve = wantErr(t, err, ErrSigner)
	if ve.Check != CheckSigner || !strings.Contains(err.Error(), `signed by "pub", want "sub"`) {
		t.Errorf("error %q", err)
	}
	_, err = v.VerifySignedBy(pubMsg, "")
	wantErr(t, err, ErrSigner)
	_, err = v.VerifySignedBy(pubMsg, "pu") // exact match, no prefixes
	wantErr(t, err, ErrSigner)
	// A failed verification stays that failure under signed-by.
	tampered := pubMsg.Clone()
	_ = tampered.Set(message.FieldMsg, "changed")
	_, err = v.VerifySignedBy(tampered, "pub")
	wantErr(t, err, ErrSignature)
}

func TestVerifyLateMarker(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	pub := p.signer(t, "pub")
	late := signedMessage(t, pub, testTopic, "hi")
	if err := late.Set(message.FieldGilmsgVersion, "0.1.2"); err != nil { // after signing, as gilmsg
		t.Fatal(err)
	}
	early, err := message.Build(testTopic, "hi", 1, "tester", pkiEpoch)
	if err != nil {
		t.Fatal(err)
	}
	_ = early.Set(message.FieldGilmsgVersion, "0.1.2") // before signing, as ackmsg
	if err := pub.Sign(early); err != nil {
		t.Fatal(err)
	}

	accept := p.config(true) // DefaultTrustConfig: AcceptLateMarker = true
	if !accept.AcceptLateMarker {
		t.Fatal("DefaultTrustConfig must accept late markers")
	}
	va := p.verifier(t, accept)
	strict := p.config(true)
	strict.AcceptLateMarker = false
	vs := p.verifier(t, strict)

	if id, err := va.Verify(late); err != nil || !id.LateMarker {
		t.Fatalf("accepting verifier: %+v %v", id, err)
	}
	if id, err := va.VerifySignedBy(late, "pub"); err != nil || !id.LateMarker {
		t.Fatalf("accepting verifier, signed-by: %+v %v", id, err)
	}
	_, err = vs.Verify(late)
	wantErr(t, err, ErrSignature)
	for _, v := range []*X509Verifier{va, vs} {
		if id, err := v.Verify(early); err != nil || id.LateMarker {
			t.Fatalf("marker inside the signature: %+v %v", id, err)
		}
	}
	// The retry removes only the marker: a late marker on a tampered message still fails.
	tampered := late.Clone()
	_ = tampered.Set(message.FieldUsername, "mallory")
	_, err = va.Verify(tampered)
	wantErr(t, err, ErrSignature)
	// Changing a marker that was signed is tampering, and the retry must not hide it.
	changed := early.Clone()
	_ = changed.Set(message.FieldGilmsgVersion, "9.9")
	_, err = va.Verify(changed)
	wantErr(t, err, ErrSignature)
}

func TestNewVerifierErrors(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  TrustConfig
		want string
	}{
		{"no CA", TrustConfig{}, "CAFile is required"},
		{"missing CA", TrustConfig{CAFile: filepath.Join(dir, "nope.crt")}, "nope.crt"},
		{"corrupt CA", TrustConfig{CAFile: garbage}, garbage},
		{"leaf as CA", TrustConfig{CAFile: p.path("pub.crt")}, "not usable as a CA"},
		{"missing CRL", TrustConfig{CAFile: p.path(CAFileName), CRLFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		{"corrupt CRL", TrustConfig{CAFile: p.path(CAFileName), CRLFile: garbage}, garbage},
		{"bad backend", TrustConfig{CAFile: p.path(CAFileName), AllowedCrypto: []string{"rsa"}}, "unknown backend"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestLoadSigner(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "sub")
	dir := t.TempDir()

	// Text before the PEM block and a PKCS#1 key both load (fedmsg's .crt files carry text dumps).
	crt, _ := os.ReadFile(p.path("pub.crt"))
	withText := filepath.Join(dir, "pub.crt")
	if err := os.WriteFile(withText, append([]byte("Certificate:\n    Data: ...\n"), crt...), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := parsePrivateKey(mustRead(t, p.path("pub.key")))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := filepath.Join(dir, "pub.key")
	if err := os.WriteFile(pkcs1, pemRSA(t, key), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(withText, pkcs1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "pub" {
		t.Fatalf("Name %q", s.Name())
	}
	v := p.verifier(t, p.config(true))
	if _, err := v.VerifySignedBy(signedMessage(t, s, testTopic, 1), "pub"); err != nil {
		t.Fatal(err)
	}

	if _, err := LoadSigner(p.path("pub.crt"), p.path("sub.key")); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := LoadSigner(filepath.Join(dir, "none.crt"), pkcs1); err == nil {
		t.Fatal("missing certificate accepted")
	}
	if _, err := LoadSigner(withText, withText); err == nil || !strings.Contains(err.Error(), "no PEM private key") {
		t.Fatalf("certificate as key: %v", err)
	}
}

func TestSignSetsCryptoFirst(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	if c, _ := m.String(message.FieldCrypto); c != "x509" {
		t.Fatalf("crypto = %q", c)
	}
	for _, f := range []string{message.FieldSignature, message.FieldCertificate} {
		s, _ := m.String(f)
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if !strings.HasSuffix(s, "\n") {
			t.Errorf("%s lacks the final newline", f)
		}
		for i, l := range lines {
			if len(l) > 76 || (i < len(lines)-1 && len(l) != 76) {
				t.Errorf("%s line %d has %d characters", f, i, len(l))
			}
		}
	}
}

// Only the first certificate of the CA file is trusted (OpenSSL store semantics in fedmsg), and
// text before it is ignored.
func TestVerifyFirstCAOnly(t *testing.T) {
	a := newTestPKI(t, PKIOptions{CommonName: "CA A"}, "pub")
	b := newTestPKI(t, PKIOptions{CommonName: "CA B"}, "pub")
	bundle := filepath.Join(t.TempDir(), "bundle.crt")
	data := append([]byte("Certificate:\n  (a text dump, as openssl x509 -text writes)\n"), mustRead(t, a.path(CAFileName))...)
	data = append(data, mustRead(t, b.path(CAFileName))...)
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := a.config(false)
	cfg.CAFile = bundle
	v := a.verifier(t, cfg)
	if _, err := v.Verify(signedMessage(t, a.signer(t, "pub"), testTopic, 1)); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(signedMessage(t, b.signer(t, "pub"), testTopic, 1))
	wantErr(t, err, ErrUntrusted)
}

// A leaf whose certificate signature is SHA-1 (old easy-rsa PKIs) is accepted, as OpenSSL does
// for fedmsg; Go's Certificate.Verify would refuse it.
func TestVerifySHA1Leaf(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl binary not found; needed to make a SHA-1-signed certificate")
	}
	p := newTestPKI(t, PKIOptions{Now: time.Now})
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = p.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", "legacy.key", "-subj", "/CN=legacy", "-out", "legacy.csr")
	run("x509", "-req", "-in", "legacy.csr", "-CA", CAFileName, "-CAkey", CAKeyFileName, "-set_serial", "4660",
		"-sha1", "-days", "30", "-out", "legacy.crt")
	s := p.signer(t, "legacy")
	if s.Certificate().SignatureAlgorithm != x509.SHA1WithRSA {
		t.Fatalf("signature algorithm %v", s.Certificate().SignatureAlgorithm)
	}
	cfg := p.config(true)
	cfg.Now = time.Now
	id, err := p.verifier(t, cfg).Verify(signedMessage(t, s, testTopic, 1))
	if err != nil || id.CN != "legacy" {
		t.Fatalf("%+v %v", id, err)
	}
}
