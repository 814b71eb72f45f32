package certs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of the TrustConfig fields for a CA or CRL given as an http(s) URL.
const (
	// DefaultCRLCacheExpiry is how long a downloaded CRL is used before it is fetched again
	// (fedmsg's crl_cache_expiry default, 3600 s). A CRL is also fetched again at its nextUpdate,
	// whichever comes first.
	DefaultCRLCacheExpiry = time.Hour
	// DefaultFetchTimeout bounds one download of the CA or CRL (fedmsg's 30 s).
	DefaultFetchTimeout = 30 * time.Second
	// DefaultMaxFetchSize bounds the body of one download; a larger body is refused.
	DefaultMaxFetchSize = 16 << 20
	// fetchRetry is the wait after a failed CRL download before the next attempt (capped by the
	// cache expiry), so an unreachable server costs one bounded request per interval.
	fetchRetry = time.Minute
)

// IsURL reports whether loc is an http:// or https:// URL, which the verifier downloads, rather
// than a local file.
func IsURL(loc string) bool {
	l := strings.ToLower(loc)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// redactURL hides the password of a URL for errors and logs.
func redactURL(loc string) string {
	if u, err := neturl.Parse(loc); err == nil && u.User != nil {
		return u.Redacted()
	}
	return loc
}

// DefaultCacheDir is where downloaded CA and CRL files are cached when TrustConfig.CACacheFile or
// CRLCacheFile is empty: "ackmsg" under os.UserCacheDir() ($XDG_CACHE_HOME, else ~/.cache). It
// fails when there is no such directory (no $HOME); there is deliberately no fallback to a shared
// temporary directory, where another user could plant a CA.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("certs: no cache directory for downloaded trust files (%w): set the cache file", err)
	}
	return filepath.Join(d, "ackmsg"), nil
}

// cacheFile is the cache of url: file when set, else kind and a hash of the URL in
// DefaultCacheDir, so two buses' CRLs never share a file.
func cacheFile(file, kind, url string) (string, error) {
	if file != "" {
		return file, nil
	}
	dir, err := DefaultCacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(dir, kind+"-"+hex.EncodeToString(sum[:8])+".pem"), nil
}

// download GETs url within FetchTimeout and returns the body, refusing a non-200 status and a
// body over MaxFetchSize.
func (v *X509Verifier) download(url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// One request an hour: no idle connection (and its goroutines) is kept between fetches.
	req.Close = true
	v.stats.fetches.Add(1)
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxFetchSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(data)) > v.cfg.MaxFetchSize {
		return nil, fmt.Errorf("body larger than %d bytes", v.cfg.MaxFetchSize)
	}
	return data, nil
}

// fetchCA downloads the CA, checks that it is a usable CA certificate, replaces the cache file
// atomically and returns the CA. Called with reloadMu held (or before the verifier is shared).
func (v *X509Verifier) fetchCA() (*x509.Certificate, error) {
	data, err := v.download(v.cfg.CAFile)
	var ca *x509.Certificate
	if err == nil {
		ca, err = firstPEMCertificate(data)
	}
	if err == nil {
		if cerr := checkCACapable(ca); cerr != nil {
			err = fmt.Errorf("not usable as a CA: %w", cerr)
		}
	}
	if err == nil {
		err = writeCache(v.caPath, data)
	}
	if err != nil {
		v.stats.fetchErrors.Add(1)
		return nil, fmt.Errorf("certs: fetching the CA %s: %w", redactURL(v.cfg.CAFile), err)
	}
	return ca, nil
}

// fetchCRL downloads the CRL and, only if it parses, is issued and signed by the trusted CA, is
// within its validity at now and is not older than the CRL in use, replaces the cache file
// atomically. It schedules the next fetch: after CRLCacheExpiry or at the CRL's nextUpdate,
// whichever is first; after a failure, in fetchRetry (at most CRLCacheExpiry).
// Called with reloadMu held (or before the verifier is shared).
func (v *X509Verifier) fetchCRL(now time.Time, cur *trust) error {
	retry := min(fetchRetry, v.cfg.CRLCacheExpiry)
	rl, data, err := v.downloadCRL(v.cfg.CRLFile, now, cur)
	if err == nil {
		err = writeCache(v.crlPath, data)
	}
	if err != nil {
		v.stats.fetchErrors.Add(1)
		v.nextFetch = now.Add(retry)
		return fmt.Errorf("certs: fetching the CRL %s: %w", redactURL(v.cfg.CRLFile), err)
	}
	v.nextFetch = now.Add(v.cfg.CRLCacheExpiry)
	if !rl.nextUpdate.IsZero() && rl.nextUpdate.Before(v.nextFetch) {
		v.nextFetch = rl.nextUpdate
	}
	return nil
}

func (v *X509Verifier) downloadCRL(url string, now time.Time, cur *trust) (*revocationList, []byte, error) {
	data, err := v.download(url)
	if err != nil {
		return nil, nil, err
	}
	rl, err := parseCRL(data)
	if err != nil {
		return nil, nil, err
	}
	if cur == nil || cur.ca == nil {
		return nil, nil, errors.New("no CA to check it with")
	}
	if err := rl.checkIssuer(cur.ca); err != nil {
		return nil, nil, err
	}
	if err := rl.checkTime(now); err != nil {
		return nil, nil, err
	}
	if old := cur.crl; old != nil && cur.crlFail == nil && rl.thisUpdate.Before(old.thisUpdate) {
		return nil, nil, fmt.Errorf("older than the CRL in use (thisUpdate %s before %s)",
			fmtTime(rl.thisUpdate), fmtTime(old.thisUpdate))
	}
	return rl, data, nil
}

// writeCache replaces path with data atomically, creating its directory.
func writeCache(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o644, true); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// fetchAtStart downloads a CA and a CRL given as URLs. A failed download is a warning when a
// cached copy exists (it is used; a CRL past its nextUpdate then fails every verification), and
// an error naming the URL when there is none.
func (v *X509Verifier) fetchAtStart() error {
	now := v.cfg.Now()
	if IsURL(v.cfg.CAFile) {
		if _, err := v.fetchCA(); err != nil {
			if _, serr := os.Stat(v.caPath); serr != nil {
				return fmt.Errorf("%w (and no cached copy at %s)", err, v.caPath)
			}
			v.cfg.Logger.Warn("certs: cannot fetch the CA; using the cached copy",
				"url", redactURL(v.cfg.CAFile), "cache", v.caPath, "err", err)
		}
	}
	if !IsURL(v.cfg.CRLFile) {
		return nil
	}
	var cur *trust
	if d, err := v.readTrustFile(v.caPath); err == nil {
		if ca, err := firstPEMCertificate(d.data); err == nil {
			cur = &trust{ca: ca}
		}
	}
	if err := v.fetchCRL(now, cur); err != nil {
		if _, serr := os.Stat(v.crlPath); serr != nil {
			return fmt.Errorf("%w (and no cached copy at %s)", err, v.crlPath)
		}
		v.cfg.Logger.Warn("certs: cannot fetch the CRL; using the cached copy until its nextUpdate",
			"url", redactURL(v.cfg.CRLFile), "cache", v.crlPath, "err", err)
	}
	return nil
}

// refreshCRL fetches the CRL when it is due (or when force) and checks it against cur's CA. A
// failure keeps the cached copy and is logged as a warning; once that copy is past its nextUpdate
// every verification fails with ErrCRL naming the URL. Called with reloadMu held.
func (v *X509Verifier) refreshCRL(force bool, cur *trust) {
	now := v.cfg.Now()
	if !force && now.Before(v.nextFetch) {
		return
	}
	if err := v.fetchCRL(now, cur); err != nil {
		until := "no nextUpdate"
		if t := v.trust.Load(); t.crl != nil && !t.crl.nextUpdate.IsZero() {
			until = fmtTime(t.crl.nextUpdate)
		}
		v.cfg.Logger.Warn("certs: cannot refresh the CRL; keeping the cached copy until its nextUpdate",
			"url", redactURL(v.cfg.CRLFile), "cache", v.crlPath, "next_update", until, "err", err)
	}
}
