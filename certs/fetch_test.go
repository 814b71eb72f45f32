package certs

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// trustServer is an HTTP server on 127.0.0.1 serving CA and CRL bodies that a test can replace.
type trustServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	funcs map[string]http.HandlerFunc // override files when set
}

func newTrustServer(t *testing.T, p *testPKI) *trustServer {
	t.Helper()
	s := &trustServer{files: map[string][]byte{
		"/ca.crt":  mustRead(t, p.path(CAFileName)),
		"/crl.pem": mustRead(t, p.path(CRLFileName)),
	}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, ok := s.files[r.URL.Path]
		fn := s.funcs[r.URL.Path]
		s.mu.Unlock()
		if fn != nil {
			fn(w, r)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *trustServer) set(path string, body []byte) {
	s.mu.Lock()
	s.files[path] = body
	s.mu.Unlock()
}

func (s *trustServer) handle(path string, fn http.HandlerFunc) {
	s.mu.Lock()
	if s.funcs == nil {
		s.funcs = map[string]http.HandlerFunc{}
	}
	s.funcs[path] = fn
	s.mu.Unlock()
}

// urlConfig is p's trust configuration with the CA and CRL fetched from s, cached in cacheDir,
// and warnings written to logs.
func urlConfig(p *testPKI, s *trustServer, cacheDir string, logs *bytes.Buffer) TrustConfig {
	cfg := p.config(false)
	cfg.CAFile = s.URL + "/ca.crt"
	cfg.CRLFile = s.URL + "/crl.pem"
	cfg.CACacheFile = filepath.Join(cacheDir, "ca.crt")
	cfg.CRLCacheFile = filepath.Join(cacheDir, "crl.pem")
	cfg.FetchTimeout = 5 * time.Second
	cfg.CRLCacheExpiry = DefaultCRLCacheExpiry
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return cfg
}

func revoke(t *testing.T, p *testPKI, name string, opts PKIOptions) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = p.clock.Now
	}
	if _, err := Revoke(p.dir, name, opts); err != nil {
		t.Fatal(err)
	}
}

func TestFetchVerifiesAndCaches(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	cache := t.TempDir()
	v := p.verifier(t, urlConfig(p, s, cache, nil))
	if _, err := v.Verify(signedMessage(t, p.signer(t, "alice"), testTopic, "hi")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(cache, "crl.pem")), mustRead(t, p.path(CRLFileName))) ||
		!bytes.Equal(mustRead(t, filepath.Join(cache, "ca.crt")), mustRead(t, p.path(CAFileName))) {
		t.Fatal("the cache files do not hold the served CA and CRL")
	}
	if st := v.Stats(); st.Fetches != 2 || st.FetchErrors != 0 {
		t.Fatalf("stats %+v, want 2 fetches and no error", st)
	}
}

// A verifier running for days picks up a revocation after crl_cache_expiry, without a restart,
// and not before.
func TestFetchRefreshPicksUpRevocation(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	cfg := urlConfig(p, s, t.TempDir(), nil)
	cfg.CRLCacheExpiry = time.Hour
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(m)), nil)

	p.clock.Advance(time.Minute)
	revoke(t, p, "alice", PKIOptions{})
	s.set("/crl.pem", mustRead(t, p.path(CRLFileName)))
	p.clock.Advance(30 * time.Minute)
	wantErr(t, verifyChecked(v, m), nil) // before crl_cache_expiry: the cached CRL is still used
	p.clock.Advance(30 * time.Minute)
	wantErr(t, verifyChecked(v, m), ErrRevoked)
}

// A CRL is fetched again at its nextUpdate when that comes before crl_cache_expiry.
func TestFetchRefreshAtNextUpdate(t *testing.T) {
	p := newTestPKI(t, PKIOptions{CRLDays: 1}, "alice")
	s := newTrustServer(t, p)
	cfg := urlConfig(p, s, t.TempDir(), nil)
	cfg.CRLCacheExpiry = 30 * 24 * time.Hour
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(m)), nil)

	p.clock.Advance(23 * time.Hour)
	revoke(t, p, "alice", PKIOptions{CRLDays: 1})
	s.set("/crl.pem", mustRead(t, p.path(CRLFileName)))
	wantErr(t, verifyChecked(v, m), nil)
	p.clock.Advance(time.Hour + time.Second)
	wantErr(t, verifyChecked(v, m), ErrRevoked)
}

// Server down: the cached CRL is used (with a warning) until its nextUpdate, by the running
// verifier and by a new one; past it, verification fails closed naming the URL.
func TestFetchServerDownCacheThenFailClosed(t *testing.T) {
	p := newTestPKI(t, PKIOptions{CRLDays: 2}, "alice")
	s := newTrustServer(t, p)
	var logs bytes.Buffer
	cache := t.TempDir()
	cfg := urlConfig(p, s, cache, &logs)
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(m)), nil)

	s.Close()
	p.clock.Advance(cfg.CRLCacheExpiry + time.Second)
	if err := verifyChecked(v, m); err != nil {
		t.Fatalf("with a valid cached CRL and the server down: %v", err)
	}
	if !strings.Contains(logs.String(), "cannot refresh the CRL; keeping the cached copy") ||
		!strings.Contains(logs.String(), s.URL+"/crl.pem") {
		t.Fatalf("no warning naming the URL:\n%s", logs.String())
	}
	if v.Stats().FetchErrors == 0 {
		t.Fatal("the failed fetch is not counted")
	}
	restarted := p.verifier(t, cfg)
	wantErr(t, errOf(restarted.Verify(m)), nil)

	p.clock.Advance(2 * 24 * time.Hour)
	for _, v := range []*X509Verifier{v, restarted} {
		ve := wantErr(t, errOf(v.Verify(m)), ErrCRL)
		if !strings.Contains(ve.Error(), s.URL+"/crl.pem") || !strings.Contains(ve.Error(), "expired") {
			t.Fatalf("the error does not name the URL and the expiry: %v", ve)
		}
	}
}

// Without a cached copy, a CRL that cannot be had stops NewVerifier with the URL.
func TestFetchRefusedBodies(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	other := newTestPKI(t, PKIOptions{CommonName: "Other CA"})
	big := bytes.Repeat([]byte("A"), 4096)
	cases := []struct {
		name, path string
		body       []byte
		want       string
	}{
		{"CRL signed by another CA", "/crl.pem", mustRead(t, other.path(CRLFileName)), "is not the CA"},
		{"garbage CRL", "/crl.pem", []byte("<html>moved</html>"), "parsing CRL"},
		{"oversized CRL", "/crl.pem", big, "larger than"},
		{"garbage CA", "/ca.crt", []byte("not a certificate"), "fetching the CA"},
		{"missing CRL", "/nothing", nil, "404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTrustServer(t, p)
			cfg := urlConfig(p, s, t.TempDir(), nil)
			cfg.MaxFetchSize = 2048
			if c.body != nil {
				s.set(c.path, c.body)
			} else {
				cfg.CRLFile = s.URL + c.path
			}
			_, err := NewVerifier(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), s.URL) ||
				!strings.Contains(err.Error(), "no cached copy") {
				t.Fatalf("NewVerifier: %v, want an error naming the URL and %q", err, c.want)
			}
		})
	}
}

// A running verifier refuses a refreshed CRL signed by another CA and keeps the one it has.
func TestFetchForeignCRLOnRefreshRefused(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	other := newTestPKI(t, PKIOptions{CommonName: "Other CA"})
	s := newTrustServer(t, p)
	var logs bytes.Buffer
	cfg := urlConfig(p, s, t.TempDir(), &logs)
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	before := mustRead(t, cfg.CRLCacheFile)

	s.set("/crl.pem", mustRead(t, other.path(CRLFileName)))
	p.clock.Advance(cfg.CRLCacheExpiry + time.Second)
	wantErr(t, verifyChecked(v, m), nil)
	if !bytes.Equal(mustRead(t, cfg.CRLCacheFile), before) {
		t.Fatal("a CRL signed by another CA replaced the cached copy")
	}
	if !strings.Contains(logs.String(), "is not the CA") {
		t.Fatalf("the refusal is not logged:\n%s", logs.String())
	}
}

// An older CRL (a replay of one from before a revocation) is refused.
func TestFetchOlderCRLRefused(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	old := mustRead(t, p.path(CRLFileName))
	p.clock.Advance(time.Hour)
	revoke(t, p, "alice", PKIOptions{})
	s.set("/crl.pem", mustRead(t, p.path(CRLFileName)))
	cfg := urlConfig(p, s, t.TempDir(), nil)
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(m)), ErrRevoked)

	s.set("/crl.pem", old)
	p.clock.Advance(cfg.CRLCacheExpiry + time.Second)
	wantErr(t, verifyChecked(v, m), ErrRevoked)
}

func TestTrustConfigRejectsOtherSchemes(t *testing.T) {
	cfg := DefaultTrustConfig("ftp://example.org/ca.crt")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http") {
		t.Fatalf("Validate: %v", err)
	}
}

// A server that never answers costs FetchTimeout, not a hang.
func TestFetchTimeoutBounded(t *testing.T) {
	p := newTestPKI(t, PKIOptions{})
	s := newTrustServer(t, p)
	s.handle("/crl.pem", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	cfg := urlConfig(p, s, t.TempDir(), nil)
	cfg.FetchTimeout = 100 * time.Millisecond
	_, err := NewVerifier(cfg)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || !strings.Contains(err.Error(), s.URL+"/crl.pem") {
		t.Fatalf("NewVerifier: %v, want a timeout naming the URL", err)
	}
}

// While one verification waits for a slow CRL download, the others go on with the CRL in force;
// when the download completes, the revocation it carries applies to all.
func TestFetchSlowRefreshDoesNotBlockOthers(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	cfg := urlConfig(p, s, t.TempDir(), nil)
	v := p.verifier(t, cfg)
	m := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(m)), nil)

	p.clock.Advance(time.Minute)
	revoke(t, p, "alice", PKIOptions{})
	revoked := mustRead(t, p.path(CRLFileName))
	entered, release := make(chan struct{}), make(chan struct{})
	s.handle("/crl.pem", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
			w.Write(revoked)
		case <-r.Context().Done():
		}
	})
	fetches := v.Stats().Fetches
	p.clock.Advance(cfg.CRLCacheExpiry)
	// The verification that finds the CRL due starts the download and does not wait for it.
	wantErr(t, errOf(v.Verify(m)), nil)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the due CRL was not fetched within 10s")
	}
	// Neither do the verifications (and CURVE handshakes) while the server is slow: they use the
	// CRL in force, even past the next check interval.
	p.clock.Advance(2 * cfg.CheckInterval)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := errOf(v.Verify(m)); err != nil {
				t.Errorf("a verification during the download: %v", err)
			}
		})
	}
	wg.Wait()
	close(release)
	if n := v.Stats().Fetches - fetches; n != 1 {
		t.Fatalf("%d downloads during the slow one, want 1: one at a time", n)
	}
	v.bg.Wait()
	wantErr(t, errOf(v.Verify(m)), ErrRevoked)
}

// Reload fetches the CA again and checks the CRL against the new CA: a CA rotation served at the
// same URLs takes effect without a restart.
func TestFetchReloadRotatesCA(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	q := newTestPKI(t, PKIOptions{CommonName: "New CA"}, "bob")
	s := newTrustServer(t, p)
	v := p.verifier(t, urlConfig(p, s, t.TempDir(), nil))
	alice := signedMessage(t, p.signer(t, "alice"), testTopic, "hi")
	bob := signedMessage(t, q.signer(t, "bob"), testTopic, "hi")
	wantErr(t, errOf(v.Verify(alice)), nil)
	wantErr(t, errOf(v.Verify(bob)), ErrUntrusted)

	s.set("/ca.crt", mustRead(t, q.path(CAFileName)))
	s.set("/crl.pem", mustRead(t, q.path(CRLFileName)))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, errOf(v.Verify(bob)), nil)
	wantErr(t, errOf(v.Verify(alice)), ErrUntrusted)
}

func errOf(_ *Identity, err error) error { return err }

// A served CRL past its nextUpdate is refused: with no cached copy NewVerifier fails, naming the
// URL.
func TestFetchStaleCRLRefused(t *testing.T) {
	p := newTestPKI(t, PKIOptions{CRLDays: 1}, "alice")
	s := newTrustServer(t, p)
	p.clock.Advance(2 * 24 * time.Hour)
	_, err := NewVerifier(urlConfig(p, s, t.TempDir(), nil))
	if err == nil || !strings.Contains(err.Error(), "CRL expired") || !strings.Contains(err.Error(), s.URL+"/crl.pem") {
		t.Fatalf("NewVerifier: %v, want the expiry and the URL", err)
	}
}

// Without cache files configured, downloads go to $XDG_CACHE_HOME/ackmsg; with no cache
// directory at all NewVerifier fails rather than cache in a shared temporary directory.
func TestFetchDefaultCacheDir(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	cfg := urlConfig(p, s, t.TempDir(), nil)
	cfg.CACacheFile, cfg.CRLCacheFile = "", ""
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	p.verifier(t, cfg)
	got, _ := filepath.Glob(filepath.Join(xdg, "ackmsg", "*.pem"))
	if len(got) != 2 {
		t.Fatalf("cache files %q, want ca-*.pem and crl-*.pem", got)
	}

	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), "no cache directory") {
		t.Fatalf("NewVerifier without a cache directory: %v", err)
	}
}

// A password in a CA or CRL URL appears in no error or log.
func TestFetchRedactsPassword(t *testing.T) {
	p := newTestPKI(t, PKIOptions{}, "alice")
	s := newTrustServer(t, p)
	var logs bytes.Buffer
	cfg := urlConfig(p, s, t.TempDir(), &logs)
	secret := strings.Replace(s.URL, "http://", "http://bus:s3cret@", 1)
	cfg.CAFile, cfg.CRLFile = secret+"/ca.crt", secret+"/nothing"
	_, err := NewVerifier(cfg)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "/nothing") {
		t.Fatalf("NewVerifier: %v, want an error naming the URL without its password", err)
	}
	s.Close()
	cfg.CRLFile = secret + "/crl.pem"
	_, err = NewVerifier(cfg)
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("NewVerifier with the server down: %v\n%s", err, logs.String())
	}
}
