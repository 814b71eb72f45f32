package certs

import (
	"bufio"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

const vectorDir = "../testdata/vectors"

var vectorPKI = filepath.Join(vectorDir, "pki")

// vectorNow is inside the validity of every good vector certificate (2026-11-22 .. 2036-11-19), so
// the vector tests do not depend on the wall clock.
var vectorNow = time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)

type vector struct {
	Kind             string          `json:"kind"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Note             string          `json:"note"`
	SignedBytesB64   string          `json:"signed_bytes_b64"`
	Signature        string          `json:"signature"`
	Certificate      string          `json:"certificate"`
	WireB64          string          `json:"wire_b64"`
	WireJSON         string          `json:"wire_json"`
	WireTopic        string          `json:"wire_topic"`
	Signer           string          `json:"signer"`
	Expect           *bool           `json:"expect"`
	Validate         bool            `json:"validate"`
	ValidateSignedBy map[string]bool `json:"validate_signed_by"`
}

func (v vector) frame(t testing.TB) []byte {
	t.Helper()
	if v.WireB64 != "" {
		b, err := base64.StdEncoding.DecodeString(v.WireB64)
		if err != nil {
			t.Fatalf("%s: wire_b64: %v", v.Name, err)
		}
		return b
	}
	return []byte(v.WireJSON)
}

// withoutCRL reports whether the vector is validated with no CRL configured (see its note).
func (v vector) withoutCRL() bool { return v.Name == "cert-revoked01-without-crl" }

func loadVectors(t testing.TB) (sign, tamper []vector) {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, "fedmsg-x509.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		switch v.Kind {
		case "sign":
			sign = append(sign, v)
		case "tamper":
			tamper = append(tamper, v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(sign) != 20 || len(tamper) != 29 {
		t.Fatalf("got %d sign and %d tamper vectors, want 20 and 29", len(sign), len(tamper))
	}
	return sign, tamper
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func decode(t testing.TB, frame []byte) *message.Message {
	t.Helper()
	m, err := message.Decode(frame)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func vectorVerifier(t testing.TB, crl bool, lateMarker bool) *X509Verifier {
	t.Helper()
	cfg := DefaultTrustConfig(filepath.Join(vectorPKI, "ca.crt"))
	if crl {
		cfg.CRLFile = filepath.Join(vectorPKI, "crl.pem")
	}
	cfg.AcceptLateMarker = lateMarker
	cfg.Now = func() time.Time { return vectorNow }
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.bg.Wait) // no trust check outlives the test
	return v
}

// testPKI is a CA directory made with the package's own issuing code, 1024-bit keys for speed.
type testPKI struct {
	dir   string
	clock *fakeClock
}

var pkiEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestPKI(t testing.TB, opts PKIOptions, names ...string) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), clock: newClock(pkiEpoch)}
	if opts.Now == nil {
		opts.Now = p.clock.Now
	}
	if opts.Bits == 0 {
		opts.Bits = 1024
	}
	opts.newKey = fixedKey(t)
	if _, err := InitCA(p.dir, opts); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p.issue(t, n, PKIOptions{})
	}
	return p
}

func (p *testPKI) issue(t testing.TB, name string, opts PKIOptions) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = p.clock.Now
	}
	if opts.Bits == 0 {
		opts.Bits = 1024
	}
	opts.newKey = fixedKey(t)
	if _, err := Issue(p.dir, name, opts); err != nil {
		t.Fatal(err)
	}
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

func (p *testPKI) signer(t testing.TB, name string) *X509Signer {
	t.Helper()
	s, err := LoadSigner(p.path(name+".crt"), p.path(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *testPKI) config(withCRL bool) TrustConfig {
	cfg := DefaultTrustConfig(p.path(CAFileName))
	if withCRL {
		cfg.CRLFile = p.path(CRLFileName)
	}
	cfg.Now = p.clock.Now
	return cfg
}

func (p *testPKI) verifier(t testing.TB, cfg TrustConfig) *X509Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.bg.Wait) // no trust check outlives the test
	return v
}

// verifyChecked verifies m once the trust check a first verification starts has landed: with a
// CRL URL that check (and its download) runs in the background while verifications go on.
func verifyChecked(v *X509Verifier, m *message.Message) error {
	_, _ = v.Verify(m)
	v.bg.Wait()
	return errOf(v.Verify(m))
}

const testTopic = "org.fedoraproject.dev.test.thing"

// signedMessage builds and signs an envelope on topic.
func signedMessage(t testing.TB, s Signer, topic string, body any) *message.Message {
	t.Helper()
	m, err := message.Build(topic, body, 1, "tester", pkiEpoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sign(m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantErr checks that err is a *VerifyError wrapping sentinel (nil sentinel: no error).
func wantErr(t testing.TB, err, sentinel error) *VerifyError {
	t.Helper()
	if sentinel == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return nil
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error = %v, want %v", err, sentinel)
	}
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T is not a *VerifyError", err)
	}
	return ve
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pemRSA encodes key as PKCS#1 ("RSA PRIVATE KEY").
func pemRSA(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%T is not RSA", key)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// keyCounter hands out the fixed test keys round-robin: any 12 consecutive certificates of a test
// binary have distinct keys, which is all a test needs (two CAs with the same name must differ).
var keyCounter atomic.Uint64

// fixedKey returns a key source that reads certs/testdata/keys instead of generating keys.
func fixedKey(t testing.TB) func(bits int) (*rsa.PrivateKey, error) {
	return func(bits int) (*rsa.PrivateKey, error) {
		if bits != 1024 {
			return rsa.GenerateKey(rand.Reader, bits)
		}
		n := keyCounter.Add(1)%12 + 1
		k, err := parsePrivateKey(mustRead(t, filepath.Join("testdata", "keys", fmt.Sprintf("key%02d.pem", n))))
		if err != nil {
			return nil, err
		}
		return k.(*rsa.PrivateKey), nil
	}
}
