package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
)

// trust is one immutable generation of trust material. Verifications load the current pointer
// once and use that snapshot throughout, so a concurrent reload never mixes two generations.
type trust struct {
	gen    uint64
	ca     *x509.Certificate
	caSum  [32]byte
	caID   fileID
	crl    *revocationList // nil when no CRL is configured
	crlSum [32]byte
	crlID  fileID
	// crlFail is set when the CRL is not issued or signed by the CA: every verification then
	// fails with ErrCRL, as OpenSSL's "unable to get certificate CRL" does.
	crlFail *failure
}

// loadedFile is one read of a trust file.
type loadedFile struct {
	data []byte
	sum  [32]byte
	id   fileID
}

// readTrustFile stats then reads path. Stat comes first so that a write racing with the read
// changes the identity seen at the next check and the file is read again.
func (v *X509Verifier) readTrustFile(path string) (loadedFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return loadedFile{}, err
	}
	v.stats.trustReads.Add(1)
	data, err := os.ReadFile(path)
	if err != nil {
		return loadedFile{}, err
	}
	return loadedFile{data: data, sum: sha256.Sum256(data), id: fileIDOf(fi)}, nil
}

// loadTrust reads and parses the CA and CRL files. Errors name the file.
func (v *X509Verifier) loadTrust() (*trust, error) {
	caFile, crlFile := v.caSource(), v.crlSource()
	caData, err := v.readTrustFile(v.caPath)
	if err != nil {
		return nil, fmt.Errorf("certs: CA file: %w", err)
	}
	ca, err := firstPEMCertificate(caData.data)
	if err != nil {
		return nil, fmt.Errorf("certs: CA file %s: %w", caFile, err)
	}
	if err := checkCACapable(ca); err != nil {
		return nil, fmt.Errorf("certs: CA file %s: not usable as a CA: %w", caFile, err)
	}
	t := &trust{ca: ca, caSum: caData.sum, caID: caData.id}
	if v.crlPath == "" {
		return t, nil
	}
	crlData, err := v.readTrustFile(v.crlPath)
	if err != nil {
		return nil, fmt.Errorf("certs: CRL file: %w", err)
	}
	rl, err := parseCRL(crlData.data)
	if err != nil {
		return nil, fmt.Errorf("certs: CRL file %s: %w", crlFile, err)
	}
	t.crl, t.crlSum, t.crlID = rl, crlData.sum, crlData.id
	if err := rl.checkIssuer(ca); err != nil {
		t.crlFail = fail(CheckCRL, ErrCRL, "%s: %v", crlFile, err)
		v.cfg.Logger.Error("certs: CRL not usable with this CA; every verification will fail",
			"crl", crlFile, "ca", caFile, "err", err)
	}
	return t, nil
}

// statTrust returns the current identities of the CA and CRL files.
func (v *X509Verifier) statTrust() (ca, crl fileID, err error) {
	v.stats.trustChecks.Add(1)
	fi, err := os.Stat(v.caPath)
	if err != nil {
		return ca, crl, fmt.Errorf("certs: CA file: %w", err)
	}
	ca = fileIDOf(fi)
	if v.crlPath != "" {
		fi, err := os.Stat(v.crlPath)
		if err != nil {
			return ca, crl, fmt.Errorf("certs: CRL file: %w", err)
		}
		crl = fileIDOf(fi)
	}
	return ca, crl, nil
}

// current returns the trust snapshot to verify with at now, first checking the files for changes
// if the check interval has passed. Exactly one caller wins the right to check per interval; the
// others carry on with the current snapshot instead of waiting. When the CRL is a URL nobody
// waits: the check (which may download the CRL, for up to FetchTimeout) runs in the background,
// and every verification, CURVE handshakes included, uses the trust in force until it lands.
func (v *X509Verifier) current(now int64) *trust {
	if v.cfg.CheckInterval < 0 {
		return v.trust.Load()
	}
	last := v.lastCheck.Load()
	// A clock that went backwards also triggers a check, so a clock step cannot freeze reloading.
	if now-last < int64(v.cfg.CheckInterval) && now >= last {
		return v.trust.Load()
	}
	if v.lastCheck.CompareAndSwap(last, now) {
		// The error is logged and recorded in Stats; the previous trust material stays in force.
		switch {
		case !IsURL(v.cfg.CRLFile):
			_ = v.refresh(false) // a stat of local files
		case v.fetching.CompareAndSwap(false, true):
			v.bg.Go(func() {
				defer v.fetching.Store(false)
				_ = v.refresh(false)
			})
		}
	}
	return v.trust.Load()
}

// Reload re-reads the CA and CRL files now, whether or not they changed (for SIGHUP handlers and
// tests). On error the previous trust material stays in force and the error is returned.
func (v *X509Verifier) Reload() error {
	v.lastCheck.Store(v.cfg.Now().UnixNano())
	return v.refresh(true)
}

// refresh reloads the trust material if the files changed (or if force). A file that failed to
// load is not read again until its identity changes, so a corrupt CRL costs one stat per interval,
// not one read.
func (v *X509Verifier) refresh(force bool) error {
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	old := v.trust.Load()
	// A fetched CRL is checked against the CA it will be used with: a CA fetched now (Reload)
	// replaces the one in force.
	crlCheck := old
	if force && IsURL(v.cfg.CAFile) {
		if ca, err := v.fetchCA(); err != nil {
			v.cfg.Logger.Warn("certs: cannot fetch the CA; keeping the cached copy",
				"url", redactURL(v.cfg.CAFile), "cache", v.caPath, "err", err)
		} else if !ca.Equal(old.ca) {
			crlCheck = &trust{ca: ca}
		}
	}
	if IsURL(v.cfg.CRLFile) {
		v.refreshCRL(force, crlCheck)
	}
	caID, crlID, err := v.statTrust()
	if err != nil {
		return v.reloadFailed(err)
	}
	if !force {
		if caID == old.caID && crlID == old.crlID {
			return nil
		}
		if v.failedValid && caID == v.failedCA && crlID == v.failedCRL {
			return v.lastErr
		}
	}
	nt, err := v.loadTrust()
	if err != nil {
		v.failedValid, v.failedCA, v.failedCRL = true, caID, crlID
		return v.reloadFailed(err)
	}
	v.failedValid = false
	v.lastErr = nil
	v.stats.lastError.Store(&errBox{})
	if nt.caSum == old.caSum && nt.crlSum == old.crlSum {
		// Same bytes under a new identity (touch, copy): keep the generation and the cache.
		nt.gen = old.gen
		v.trust.Store(nt)
		return nil
	}
	nt.gen = old.gen + 1
	v.trust.Store(nt)
	v.cache.clear()
	v.stats.trustReloads.Add(1)
	v.cfg.Logger.Info("certs: trust material reloaded", "ca", v.caSource(), "crl", v.crlSource(),
		"generation", nt.gen)
	return nil
}

// reloadFailed records and logs a reload error once per distinct message.
func (v *X509Verifier) reloadFailed(err error) error {
	v.stats.trustErrors.Add(1)
	if v.lastErr == nil || v.lastErr.Error() != err.Error() {
		v.cfg.Logger.Error("certs: cannot reload trust material; keeping the previous CA and CRL",
			"err", err)
	}
	v.lastErr = err
	v.stats.lastError.Store(&errBox{err: err})
	return err
}

// errBox lets an error (possibly nil) live in an atomic.Pointer.
type errBox struct{ err error }

// caSource names the CA in errors and logs: the file, or "<URL> (cached in <file>)".
func (v *X509Verifier) caSource() string { return v.source(v.cfg.CAFile, v.caPath) }

// crlSource names the CRL in errors and logs, as caSource does.
func (v *X509Verifier) crlSource() string { return v.source(v.cfg.CRLFile, v.crlPath) }

func (v *X509Verifier) source(loc, path string) string {
	if IsURL(loc) {
		return redactURL(loc) + " (cached in " + path + ")"
	}
	return loc
}
