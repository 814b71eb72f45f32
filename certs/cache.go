package certs

import (
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"
)

// chainEntry is the cached, time-independent verdict on one certificate for one trust generation,
// plus the window in which the date checks pass. Only certificates issued by the CA get one.
type chainEntry struct {
	gen     uint64
	cert    *x509.Certificate
	cn      string
	subject string
	serial  string
	// notBefore/notAfter: max of the notBefore dates and thisUpdate, min of the notAfter dates and
	// nextUpdate. Inside it no date check can fail.
	notBefore time.Time
	notAfter  time.Time
	// fail is the CRL verdict (ErrCRL or ErrRevoked) or nil; it depends only on the generation.
	fail *failure
}

// certCache maps the SHA-256 of a certificate field's decoded bytes (its PEM text) to the verdict. Reads take a shared lock, so
// concurrent verifications of warm certificates do not serialise. When full it is cleared rather
// than evicted one by one: a bus has tens to hundreds of certificates, strangers cannot add
// entries (only CA-issued certificates are cached), and a clear costs one cold check per
// certificate.
type certCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]*chainEntry
	max     int // <= 0: disabled
	hits    atomic.Uint64
	misses  atomic.Uint64
	clears  atomic.Uint64
}

func newCertCache(max int) *certCache {
	return &certCache{entries: make(map[[32]byte]*chainEntry), max: max}
}

func (c *certCache) get(key [32]byte, gen uint64) *chainEntry {
	if c.max <= 0 {
		c.misses.Add(1)
		return nil
	}
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e == nil || e.gen != gen {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e
}

func (c *certCache) put(key [32]byte, e *chainEntry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		clear(c.entries)
		c.clears.Add(1)
	}
	c.entries[key] = e
	c.mu.Unlock()
}

func (c *certCache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

func (c *certCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
