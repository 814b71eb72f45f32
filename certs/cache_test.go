package certs

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// A revocation made after the certificate was cached takes effect at the first verification after
// the check interval, and not before.
func TestCacheRevocationAfterInterval(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	cfg := p.config(true)
	cfg.CheckInterval = 5 * time.Second
	v := p.verifier(t, cfg)
	for range 3 {
		if _, err := v.Verify(m); err != nil {
			t.Fatal(err)
		}
	}
	if s := v.Stats(); s.CacheHits != 2 || s.CacheMisses != 1 || s.CacheEntries != 1 || s.Generation != 1 {
		t.Fatalf("stats after warm-up: %+v", s)
	}

	if _, err := Revoke(p.dir, "pub", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(4 * time.Second)
	if _, err := v.Verify(m); err != nil {
		t.Fatalf("before the interval the old CRL applies: %v", err)
	}
	p.clock.Advance(time.Second)
	_, err := v.Verify(m)
	wantErr(t, err, ErrRevoked)
	s := v.Stats()
	if s.Generation != 2 || s.TrustReloads != 1 {
		t.Fatalf("stats after reload: %+v", s)
	}
}

// Replacing the CA file (a new CA) makes certificates of the old one untrusted after the interval.
func TestCacheCAChange(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	other := newTestPKI(t, PKIOptions{})
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	v := p.verifier(t, p.config(false))
	if _, err := v.Verify(m); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p.path(CAFileName), mustRead(t, other.path(CAFileName)), 0o644, true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(m); err != nil {
		t.Fatalf("within the interval: %v", err)
	}
	p.clock.Advance(DefaultCheckInterval)
	_, err := v.Verify(m)
	wantErr(t, err, ErrUntrusted)
	if v.CA().Subject.String() != other.verifier(t, other.config(false)).CA().Subject.String() {
		t.Fatal("CA not replaced")
	}
}

// Failed verifications never reload the trust material: a stream of bad messages costs no stat
// and no read, and after the interval exactly one stat round happens, with no read when the files
// did not change.
func TestCacheFailuresDoNotReload(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "bad")
	other := newTestPKI(t, PKIOptions{}, "pub")
	if _, err := Revoke(p.dir, "bad", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	v := p.verifier(t, p.config(true))
	base := v.Stats()
	if base.TrustReads != 2 || base.TrustChecks != 0 {
		t.Fatalf("initial load: %+v", base)
	}
	tampered := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	_ = tampered.Set(message.FieldMsg, "changed")
	bad := []*message.Message{
		tampered,
		signedMessage(t, p.signer(t, "bad"), testTopic, "revoked"),
		signedMessage(t, other.signer(t, "pub"), testTopic, "foreign"),
	}
	for range 100 {
		for _, m := range bad {
			if _, err := v.Verify(m); err == nil {
				t.Fatal("bad message accepted")
			}
		}
	}
	if s := v.Stats(); s.TrustChecks != 0 || s.TrustReads != base.TrustReads {
		t.Fatalf("failures caused file access: %+v", s)
	}
	p.clock.Advance(DefaultCheckInterval)
	for range 100 {
		for _, m := range bad {
			_, _ = v.Verify(m)
		}
	}
	if s := v.Stats(); s.TrustChecks != 1 || s.TrustReads != base.TrustReads || s.Generation != 1 {
		t.Fatalf("after one interval: %+v", s)
	}
}

// A corrupt CRL on reload keeps the previous trust material, is recorded, is not re-read until it
// changes again, and a repaired file is picked up.
func TestCacheCorruptReloadKeepsPrevious(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub", "bad")
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	badMsg := signedMessage(t, p.signer(t, "bad"), testTopic, "hi")
	v := p.verifier(t, p.config(true))
	good := mustRead(t, p.path(CRLFileName))
	if err := writeFileAtomic(p.path(CRLFileName), good[:len(good)/2], 0o644, true); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(DefaultCheckInterval)
	if _, err := v.Verify(m); err != nil {
		t.Fatalf("previous CRL must stay in force: %v", err)
	}
	s := v.Stats()
	if s.TrustErrors != 1 || s.LastReloadError == nil || s.Generation != 1 {
		t.Fatalf("stats after corrupt reload: %+v", s)
	}
	reads := s.TrustReads
	for range 5 {
		p.clock.Advance(DefaultCheckInterval)
		_, _ = v.Verify(m)
	}
	if s := v.Stats(); s.TrustReads != reads || s.TrustChecks < 6 {
		t.Fatalf("a corrupt file that did not change was re-read: %+v", s)
	}
	if err := v.Reload(); err == nil {
		t.Fatal("forced Reload of a corrupt CRL succeeded")
	}

	if _, err := Revoke(p.dir, "bad", PKIOptions{Now: p.clock.Now}); err == nil {
		t.Fatal("Revoke merged a corrupt CRL")
	}
	if err := writeFileAtomic(p.path(CRLFileName), good, 0o644, true); err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(p.dir, "bad", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(DefaultCheckInterval)
	_, err := v.Verify(badMsg)
	wantErr(t, err, ErrRevoked)
	if s := v.Stats(); s.LastReloadError != nil || s.Generation != 2 {
		t.Fatalf("stats after repair: %+v", s)
	}
}

// Rewriting identical content (touch, cp) does not start a new generation or empty the cache.
func TestCacheSameContentKeepsGeneration(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	v := p.verifier(t, p.config(true))
	_, _ = v.Verify(m)
	if err := writeFileAtomic(p.path(CRLFileName), mustRead(t, p.path(CRLFileName)), 0o644, true); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(DefaultCheckInterval)
	if _, err := v.Verify(m); err != nil {
		t.Fatal(err)
	}
	s := v.Stats()
	if s.Generation != 1 || s.CacheHits != 1 || s.TrustReads != 4 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestCacheBounded(t *testing.T) {
	names := []string{"a", "b", "c"}
	p := newTestPKI(t, PKIOptions{}, names...)
	cfg := p.config(true)
	cfg.CacheSize = 2
	v := p.verifier(t, cfg)
	for _, n := range names {
		if _, err := v.Verify(signedMessage(t, p.signer(t, n), testTopic, n)); err != nil {
			t.Fatal(err)
		}
	}
	if s := v.Stats(); s.CacheClears != 1 || s.CacheEntries != 1 {
		t.Fatalf("stats: %+v", s)
	}

	cfg.CacheSize = -1
	nc := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "a"), testTopic, "x")
	for range 3 {
		if _, err := nc.Verify(m); err != nil {
			t.Fatal(err)
		}
	}
	if s := nc.Stats(); s.CacheHits != 0 || s.CacheEntries != 0 {
		t.Fatalf("disabled cache: %+v", s)
	}
}

// Many goroutines verify while the clock moves and the CRL is rewritten; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	p := newTestPKI(t, PKIOptions{}, names...)
	cfg := p.config(true)
	cfg.CheckInterval = time.Millisecond
	cfg.CacheSize = 3 // forces clears under load
	v := p.verifier(t, cfg)
	msgs := make([]*message.Message, len(names))
	for i, n := range names {
		msgs[i] = signedMessage(t, p.signer(t, n), testTopic, n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				m := msgs[(g+i)%len(msgs)]
				id, err := v.Verify(m)
				if err == nil && id.CN != names[(g+i)%len(msgs)] {
					errs <- fmt.Errorf("identity %q for message of %q", id.CN, names[(g+i)%len(msgs)])
					return
				}
				if _, err := v.VerifySignedBy(m, "a"); err == nil && m != msgs[0] {
					errs <- fmt.Errorf("signed-by a accepted for %q", names[(g+i)%len(msgs)])
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			p.clock.Advance(2 * time.Millisecond)
			if err := RefreshCRL(p.dir, PKIOptions{Now: p.clock.Now}); err != nil {
				errs <- err
				return
			}
			_ = v.Stats()
		}
		if _, err := Revoke(p.dir, "d", PKIOptions{Now: p.clock.Now}); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p.clock.Advance(time.Second)
	_, err := v.Verify(msgs[3])
	wantErr(t, err, ErrRevoked)
}

// Reloading works with a disabled interval only through Reload.
func TestReloadDisabledInterval(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "pub")
	cfg := p.config(true)
	cfg.CheckInterval = -1
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "pub"), testTopic, "hi")
	if _, err := Revoke(p.dir, "pub", PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(time.Hour)
	if _, err := v.Verify(m); err != nil {
		t.Fatalf("reloading disabled: %v", err)
	}
	if s := v.Stats(); s.TrustChecks != 0 {
		t.Fatalf("stats %+v", s)
	}
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(m)
	wantErr(t, err, ErrRevoked)
}

func TestFileIDChangesOnRewrite(t *testing.T) {
	p := newTestPKI(t, PKIOptions{})
	fi1, err := os.Stat(p.path(CRLFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := RefreshCRL(p.dir, PKIOptions{Now: p.clock.Now}); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(p.path(CRLFileName))
	if fileIDOf(fi1) == fileIDOf(fi2) {
		t.Fatal("rewritten file has the same identity")
	}
}
