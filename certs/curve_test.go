package certs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestZ85Vector(t *testing.T) {
	// ZeroMQ RFC 32's test vector.
	raw := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	if got := z85Encode(raw); got != "HelloWorld" {
		t.Fatalf("encode = %q", got)
	}
	back, err := z85Decode("HelloWorld")
	if err != nil || string(back) != string(raw) {
		t.Fatalf("decode = %x, %v", back, err)
	}
	for _, bad := range []string{"Hell", "HelloWorl", "Hello~orld", "%%%%%"} {
		if _, err := z85Decode(bad); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
	if _, err := ParseCurveKey("HelloWorld"); err == nil {
		t.Fatal("an 8-byte key parsed")
	}
}

// Issue binds a CURVE key pair to the certificate for both key types; the pair loads and
// matches, and a key file of another certificate is refused.
func TestIssueBindsCurveKey(t *testing.T) {
	for _, kt := range []string{KeyRSA, KeyEd25519} {
		t.Run(kt, func(t *testing.T) {
			p := newTestPKI(t, PKIOptions{KeyType: kt}, "a", "b")
			pub, sec, err := LoadCurveKeyPair(p.path("a.crt"), p.path("a"+CurveKeyExt))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := readCertFile(p.path("a.crt"))
			if err != nil {
				t.Fatal(err)
			}
			if k, err := CertCurveKey(cert); err != nil || k != pub {
				t.Fatalf("certificate carries %v (%v), key file gives %v", k, err, pub)
			}
			if pub == sec {
				t.Fatal("public key equals secret key")
			}
			if fi, err := os.Stat(p.path("a" + CurveKeyExt)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %v, %v", fi.Mode(), err)
			}
			if _, _, err := LoadCurveKeyPair(p.path("a.crt"), p.path("b"+CurveKeyExt)); err == nil || !strings.Contains(err.Error(), "does not belong") {
				t.Fatalf("mismatched key: %v", err)
			}
			inv, err := List(p.dir, PKIOptions{Now: p.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if inv.Certs[0].CurveKey != pub.String() {
				t.Fatalf("List shows %q, want %q", inv.Certs[0].CurveKey, pub)
			}
			// Reissuing rotates the key.
			p.issue(t, "a", PKIOptions{KeyType: kt, Force: true})
			pub2, _, err := LoadCurveKeyPair(p.path("a.crt"), p.path("a"+CurveKeyExt))
			if err != nil || pub2 == pub {
				t.Fatalf("reissued key %v (%v), old %v", pub2, err, pub)
			}
		})
	}
}

type curveFixture struct {
	p    *testPKI
	keys *CurveKeys
}

func newCurveFixture(t *testing.T, allow []string, names ...string) curveFixture {
	t.Helper()
	p := newTestPKI(t, PKIOptions{KeyType: KeyEd25519}, names...)
	cfg := CurveConfig{CertFile: p.path("server.crt"), KeyFile: p.path("server" + CurveKeyExt), Dir: p.dir,
		Trust: p.config(true), Allow: allow, Servers: map[string]string{"tcp://h:1": "server"}}
	cfg.Trust.CheckInterval = -1 // reloads are explicit (Reload) in these tests
	k, err := NewCurveKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return curveFixture{p: p, keys: k}
}

func (f curveFixture) key(t *testing.T, name string) string {
	t.Helper()
	pub, _, err := LoadCurveKeyPair(f.p.path(name+".crt"), f.p.path(name+CurveKeyExt))
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

func TestCurveKeysAuthenticate(t *testing.T) {
	f := newCurveFixture(t, nil, "server", "alice", "bob")
	if cn, err := f.keys.Authenticate(f.key(t, "alice")); err != nil || cn != "alice" {
		t.Fatalf("alice: %q, %v", cn, err)
	}
	// A key no certificate carries.
	stranger, _, _ := newCurveKeyPair()
	if _, err := f.keys.Authenticate(stranger.String()); err == nil {
		t.Fatal("a stranger's key was accepted")
	}
	// A certificate of another CA, copied into the directory.
	other := newTestPKI(t, PKIOptions{KeyType: KeyEd25519}, "eve")
	if err := os.WriteFile(f.p.path("eve.crt"), mustRead(t, other.path("eve.crt")), 0o644); err != nil {
		t.Fatal(err)
	}
	f.keys.Rescan()
	if _, err := f.keys.Authenticate(f.key(t, "server")); err != nil {
		t.Fatal(err)
	}
	eveKey, _, err := LoadCurveKeyPair(other.path("eve.crt"), other.path("eve"+CurveKeyExt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(eveKey.String()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another CA's certificate: %v, want ErrUntrusted", err)
	}
	// A certificate issued after the first handshake is found by a rescan.
	f.p.issue(t, "carol", PKIOptions{KeyType: KeyEd25519})
	f.keys.cfg.RescanInterval = 1
	if cn, err := f.keys.Authenticate(f.key(t, "carol")); err != nil || cn != "carol" {
		t.Fatalf("carol: %q, %v", cn, err)
	}
	// Revoking bob's certificate revokes his key at the next handshake.
	bob := f.key(t, "bob")
	if _, err := f.keys.Authenticate(bob); err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(f.p.dir, "bob", PKIOptions{Now: f.p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	s, _ := f.keys.load()
	if err := s.verifier.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(bob); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked bob: %v, want ErrRevoked", err)
	}
	got := f.keys.Refused()
	want := map[string]uint64{RefusedUnknownKey: 1, RefusedUntrusted: 1, RefusedRevoked: 1}
	for r, n := range want {
		if got[r] != n {
			t.Fatalf("refused %v, want %v", got, want)
		}
	}
	if f.keys.Accepted() != 4 {
		t.Fatalf("accepted %d, want 4", f.keys.Accepted())
	}
}

func TestCurveKeysAllowlist(t *testing.T) {
	f := newCurveFixture(t, []string{"alice"}, "server", "alice", "bob")
	if _, err := f.keys.Authenticate(f.key(t, "alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(f.key(t, "bob")); err == nil || f.keys.Refused()[RefusedNotAllowed] != 1 {
		t.Fatalf("bob outside the allowlist: %v", err)
	}
}

func TestCurveKeysServerKey(t *testing.T) {
	f := newCurveFixture(t, nil, "server", "alice")
	if k, err := f.keys.ServerKey("tcp://h:1"); err != nil || k != f.key(t, "server") {
		t.Fatalf("server key %q, %v", k, err)
	}
	if _, err := f.keys.ServerKey("tcp://elsewhere:1"); err == nil {
		t.Fatal("a key for an unknown address")
	}
	explicit, _, _ := newCurveKeyPair()
	f.keys.cfg.Servers["tcp://x:2"] = explicit.String()
	if k, err := f.keys.ServerKey("tcp://x:2"); err != nil || k != explicit.String() {
		t.Fatalf("explicit key %q, %v", k, err)
	}
	if _, err := Revoke(f.p.dir, "server", PKIOptions{Now: f.p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	s, _ := f.keys.load()
	if err := s.verifier.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.ServerKey("tcp://h:1"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked server: %v", err)
	}
}

// Rescans and CRL reloads while handshakes are authenticated: race-free under -race, and a key
// that stays valid is never refused.
func TestCurveKeysReloadUnderLoad(t *testing.T) {
	f := newCurveFixture(t, nil, "server", "alice", "bob")
	alice := f.key(t, "alice")
	s, err := f.keys.load()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if cn, err := f.keys.Authenticate(alice); err != nil || cn != "alice" {
					errs <- fmt.Errorf("alice refused during a reload: %v", err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		f.p.issue(t, fmt.Sprintf("svc%d", i), PKIOptions{KeyType: KeyEd25519})
		f.keys.Rescan()
		if i == 10 {
			if _, err := Revoke(f.p.dir, "bob", PKIOptions{Now: f.p.clock.Now}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.verifier.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := f.keys.Authenticate(f.key(t, "bob")); !errors.Is(err, ErrRevoked) {
		t.Fatalf("bob after revocation: %v", err)
	}
}

// FuzzZ85 checks the Z85 codec: decoding never panics, and whatever decodes encodes back to the
// same text (Z85 is a bijection on groups that do not overflow).
func FuzzZ85(f *testing.F) {
	f.Add("HelloWorld")
	f.Add("rq>.7jRqx[u!8D0ZJ6vs=J4[yv]^y1N!uA3jgo4%")
	f.Add("#####")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := z85Decode(s)
		if err != nil {
			return
		}
		if back := z85Encode(b); back != s {
			t.Fatalf("%q decoded to %x, which encodes to %q", s, b, back)
		}
		if k, err := ParseCurveKey(s); err == nil && k.String() != s {
			t.Fatalf("key %q prints as %q", s, k)
		}
	})
}

// With the CRL at a URL, a CURVE key is refused once a refreshed CRL (fetched after
// crl_cache_expiry, without a restart) lists its certificate, and not before.
func TestCurveKeysRevokedByFetchedCRL(t *testing.T) {
	p := newTestPKI(t, PKIOptions{KeyType: KeyEd25519}, "server", "alice")
	s := newTrustServer(t, p)
	trust := urlConfig(p, s, t.TempDir(), nil)
	trust.CRLCacheExpiry = time.Hour
	k, err := NewCurveKeys(CurveConfig{CertFile: p.path("server.crt"), KeyFile: p.path("server" + CurveKeyExt), Dir: p.dir, Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	alice, _, err := LoadCurveKeyPair(p.path("alice.crt"), p.path("alice"+CurveKeyExt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Authenticate(alice.String()); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(time.Minute)
	revoke(t, p, "alice", PKIOptions{})
	s.set("/crl.pem", mustRead(t, p.path(CRLFileName)))
	// A handshake that finds the CRL due starts its download and does not wait for it: the
	// handshake after the download has landed is the one the new CRL applies to.
	checked := func() error {
		_, _ = k.Authenticate(alice.String())
		s, err := k.load()
		if err != nil {
			return err
		}
		s.verifier.bg.Wait()
		_, err = k.Authenticate(alice.String())
		return err
	}
	p.clock.Advance(30 * time.Minute)
	if err := checked(); err != nil {
		t.Fatalf("before crl_cache_expiry: %v", err) // the cached CRL is still in force
	}
	p.clock.Advance(30 * time.Minute)
	if err := checked(); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after the refresh: %v, want ErrRevoked", err)
	}
}
