package certs

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// Verifier verifies signed envelopes. Consumers and the ACK listener depend on this interface so
// tests can swap in fakes.
type Verifier interface {
	// Verify runs every check (package doc) and returns the signer's identity.
	Verify(m *message.Message) (*Identity, error)
	// VerifySignedBy is fedmsg's validate_signed_by: Verify with the policy forced to
	// {topic: [name]} and nitpicky, i.e. valid and signed by exactly name.
	VerifySignedBy(m *message.Message, name string) (*Identity, error)
}

// Identity is who signed a verified message.
type Identity struct {
	// CN is the first common name of the signer's certificate: its name on the bus.
	CN string
	// Cert is the signer's certificate. It is shared with the cache: do not modify it.
	Cert *x509.Certificate
	// LateMarker is set when the signature only verified without the gilmsg_version field, i.e.
	// a Python gilmsg publisher added its ACK marker after signing.
	LateMarker bool
}

// X509Verifier implements Verifier for fedmsg's x509 backend, and ackmsg's x509-ed25519, with a CA, an optional CRL, a
// routing policy and a per-certificate verdict cache. It is safe for concurrent use.
type X509Verifier struct {
	cfg     TrustConfig
	policy  map[string][]string
	allowed map[string]bool

	trust     atomic.Pointer[trust]
	lastCheck atomic.Int64 // UnixNano of the last stat check
	cache     *certCache
	// caPath and crlPath are the local files read: CAFile and CRLFile, or their cache files when
	// those are URLs. crlPath is "" without a CRL.
	caPath, crlPath string

	// bg runs the trust checks of a verifier whose CRL is a URL, beside the verifications: a due
	// download can take FetchTimeout. fetching is set while one runs.
	bg       sync.WaitGroup
	fetching atomic.Bool

	// Guarded by reloadMu.
	reloadMu    sync.Mutex
	nextFetch   time.Time // when a CRL URL is due to be fetched again
	lastErr     error
	failedValid bool
	failedCA    fileID
	failedCRL   fileID

	stats struct {
		trustChecks  atomic.Uint64
		trustReads   atomic.Uint64
		trustReloads atomic.Uint64
		trustErrors  atomic.Uint64
		fetches      atomic.Uint64
		fetchErrors  atomic.Uint64
		lastError    atomic.Pointer[errBox]
	}
}

var _ Verifier = (*X509Verifier)(nil)

// NewVerifier loads the CA (first certificate of CAFile) and the CRL. Errors name the file.
// A CRL that parses but is not issued or signed by the CA is loaded anyway, logged, and makes
// every verification fail with ErrCRL (fail closed, as OpenSSL does).
func NewVerifier(cfg TrustConfig) (*X509Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	v := &X509Verifier{
		cfg:     cfg,
		policy:  make(map[string][]string, len(cfg.RoutingPolicy)),
		allowed: make(map[string]bool, len(cfg.AllowedCrypto)),
		cache:   newCertCache(cfg.CacheSize),
	}
	v.cfg.AllowedCrypto = slices.Clone(cfg.AllowedCrypto)
	for topic, names := range cfg.RoutingPolicy {
		v.policy[topic] = slices.Clone(names)
	}
	v.cfg.RoutingPolicy = v.policy
	for _, b := range cfg.AllowedCrypto {
		v.allowed[b] = true
	}
	v.caPath, v.crlPath = cfg.CAFile, cfg.CRLFile
	var err error
	if IsURL(cfg.CAFile) {
		if v.caPath, err = cacheFile(cfg.CACacheFile, "ca", cfg.CAFile); err != nil {
			return nil, err
		}
	}
	if IsURL(cfg.CRLFile) {
		if v.crlPath, err = cacheFile(cfg.CRLCacheFile, "crl", cfg.CRLFile); err != nil {
			return nil, err
		}
	}
	if err := v.fetchAtStart(); err != nil {
		return nil, err
	}
	t, err := v.loadTrust()
	if err != nil {
		return nil, err
	}
	t.gen = 1
	v.trust.Store(t)
	v.lastCheck.Store(cfg.Now().UnixNano())
	v.stats.lastError.Store(&errBox{})
	return v, nil
}

// Stats is a snapshot of the verifier's counters, for metrics and tests.
type Stats struct {
	// Generation counts trust material versions; it starts at 1 and grows on each effective reload.
	Generation uint64
	// CacheHits and CacheMisses count chain-verdict lookups; CacheClears counts clear-when-full.
	CacheHits, CacheMisses, CacheClears uint64
	// CacheEntries is the current number of cached certificates.
	CacheEntries int
	// TrustChecks counts stat rounds of the CA/CRL files; TrustReads counts file reads.
	TrustChecks, TrustReads uint64
	// TrustReloads counts reloads that changed the trust material; TrustErrors failed reloads.
	TrustReloads, TrustErrors uint64
	// Fetches counts downloads of a CA or CRL URL; FetchErrors those that failed or were refused.
	Fetches, FetchErrors uint64
	// LastReloadError is the most recent reload error, nil once a reload succeeds.
	LastReloadError error
}

// Stats returns the current counters.
func (v *X509Verifier) Stats() Stats {
	s := Stats{
		Generation:   v.trust.Load().gen,
		CacheHits:    v.cache.hits.Load(),
		CacheMisses:  v.cache.misses.Load(),
		CacheClears:  v.cache.clears.Load(),
		CacheEntries: v.cache.len(),
		TrustChecks:  v.stats.trustChecks.Load(),
		TrustReads:   v.stats.trustReads.Load(),
		TrustReloads: v.stats.trustReloads.Load(),
		TrustErrors:  v.stats.trustErrors.Load(),
		Fetches:      v.stats.fetches.Load(),
		FetchErrors:  v.stats.fetchErrors.Load(),
	}
	if b := v.stats.lastError.Load(); b != nil {
		s.LastReloadError = b.err
	}
	return s
}

// CA returns the currently trusted CA certificate.
func (v *X509Verifier) CA() *x509.Certificate { return v.trust.Load().ca }

// Verify checks m against the trust material and the configured routing policy.
func (v *X509Verifier) Verify(m *message.Message) (*Identity, error) {
	return v.verify(m, "", false)
}

// VerifySignedBy checks that m is valid and signed by exactly name (the first CN). The configured
// routing policy is ignored; a missing topic fails, as it raises in fedmsg.
func (v *X509Verifier) VerifySignedBy(m *message.Message, name string) (*Identity, error) {
	return v.verify(m, name, true)
}

func (v *X509Verifier) verify(m *message.Message, signedBy string, forced bool) (*Identity, error) {
	if m == nil {
		return nil, &VerifyError{Check: CheckFields, Err: fmt.Errorf("%w: nil message", ErrUnsigned)}
	}
	msgID, _ := m.String(message.FieldMsgID)
	var e *chainEntry
	wrap := func(f *failure) error {
		ve := &VerifyError{Check: f.check, MsgID: msgID, Err: f.err}
		if e != nil {
			ve.Subject, ve.Serial = e.subject, e.serial
		}
		return ve
	}
	backend, f := v.backendOf(m)
	if f != nil {
		return nil, wrap(f)
	}
	sig, certPEM, f := signedFields(m)
	if f != nil {
		return nil, wrap(f)
	}
	if e, f = v.chainOf(certPEM); f != nil {
		return nil, wrap(f)
	}
	late, f := v.checkSignature(m, e, backend, sig)
	if f != nil {
		return nil, wrap(f)
	}
	if f := v.authorize(m, e, signedBy, forced); f != nil {
		return nil, wrap(f)
	}
	return &Identity{CN: e.cn, Cert: e.cert, LateMarker: late}, nil
}

// backendOf is step 1: the crypto backend m names (or its fields imply), allowed and supported.
func (v *X509Verifier) backendOf(m *message.Message) (string, *failure) {
	backend := ""
	if raw, ok := m.Get(message.FieldCrypto); ok {
		s, isString := raw.(string)
		if !isString {
			return "", fail(CheckCrypto, ErrCrypto, "crypto field is a %s, not a string", jsonKind(raw))
		}
		backend = s
	} else if m.Has(message.FieldCertificate) {
		backend = CryptoX509 // fedmsg <= 0.7.2 sent no crypto field
	} else if m.Has(message.FieldSignature) {
		backend = "gpg"
	} else {
		return "", fail(CheckFields, ErrUnsigned, "no crypto, signature or certificate field")
	}
	if !v.allowed[backend] {
		return "", fail(CheckCrypto, ErrCrypto, "crypto %q is not among the allowed %q", backend, v.cfg.AllowedCrypto)
	}
	if backend != CryptoX509 && backend != CryptoEd25519 {
		return "", fail(CheckCrypto, ErrCrypto, "crypto %q is not supported (only %s and %s)", backend, CryptoX509, CryptoEd25519)
	}

	return backend, nil
}

// signedFields are steps 2 and 3: the signature and certificate fields, present and decoded.
func signedFields(m *message.Message) ([]byte, []byte, *failure) {
	sigRaw, hasSig := m.Get(message.FieldSignature)
	certRaw, hasCert := m.Get(message.FieldCertificate)
	switch {
	case !hasSig && !hasCert:
		return nil, nil, fail(CheckFields, ErrUnsigned, "no signature and no certificate field")
	case !hasSig:
		return nil, nil, fail(CheckFields, ErrUnsigned, "no signature field")
	case !hasCert:
		return nil, nil, fail(CheckFields, ErrUnsigned, "no certificate field")
	}
	sigB64, ok := sigRaw.(string)
	if !ok {
		return nil, nil, fail(CheckEncoding, ErrEncoding, "signature field is a %s, not a string", jsonKind(sigRaw))
	}
	certB64, ok := certRaw.(string)
	if !ok {
		return nil, nil, fail(CheckEncoding, ErrEncoding, "certificate field is a %s, not a string", jsonKind(certRaw))
	}
	sig, err := decodeLenient(sigB64)
	if err != nil {
		return nil, nil, fail(CheckEncoding, ErrEncoding, "signature base64: %v", err)
	}
	certPEM, err := decodeLenient(certB64)
	if err != nil {
		return nil, nil, fail(CheckEncoding, ErrEncoding, "certificate base64: %v", err)
	}
	return sig, certPEM, nil
}

// chainOf is step 4: the chain and CRL verdict on the certificate, and its dates. The entry is
// returned with a failure too when there is one, for the error's subject and serial.
func (v *X509Verifier) chainOf(certPEM []byte) (e *chainEntry, _ *failure) {
	// Chain and CRL, cached per certificate text and trust generation. Keying on the decoded
	// field (the PEM text) rather than the DER spares the PEM decoding on a hit; a variant layout
	// of the same certificate only costs one more entry.
	nowT := v.cfg.Now()
	t := v.current(nowT.UnixNano())
	key := sha256.Sum256(certPEM)
	if e = v.cache.get(key, t.gen); e == nil {
		der, err := pemCertificateDER(certPEM)
		if err != nil {
			return e, fail(CheckEncoding, ErrEncoding, "certificate: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return e, fail(CheckEncoding, ErrEncoding, "certificate: %v", err)
		}
		var f *failure
		if e, f = v.checkChain(t, cert); f != nil {
			return e, f
		}
		v.cache.put(key, e)
	}
	if e.fail != nil || nowT.Before(e.notBefore) || nowT.After(e.notAfter) {
		if f := v.checkDates(t, e, nowT); f != nil {
			return e, f
		}
	}
	return e, nil
}

// checkSignature is step 5; late reports a signature made before the gilmsg_version marker was
// added (accepted with AcceptLateMarker only).
func (v *X509Verifier) checkSignature(m *message.Message, e *chainEntry, backend string, sig []byte) (late bool, _ *failure) {
	// Signature over the canonical bytes, with the algorithm the crypto value names: the key
	// type of the certificate must agree, so an Ed25519 certificate can never pass as "x509"
	// (which fedmsg peers verify as RSA) nor an RSA one as "x509-ed25519".
	var valid func(data []byte) bool
	switch backend {
	case CryptoX509:
		pub, ok := e.cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return false, fail(CheckSignature, ErrSignature, "certificate key is %s, crypto %q messages are RSA-signed", e.cert.PublicKeyAlgorithm, backend)
		}
		valid = func(data []byte) bool { return rsaSHA1Valid(pub, data, sig) }
	default: // CryptoEd25519
		pub, ok := e.cert.PublicKey.(ed25519.PublicKey)
		if !ok {
			return false, fail(CheckSignature, ErrSignature, "certificate key is %s, crypto %q messages are Ed25519-signed", e.cert.PublicKeyAlgorithm, backend)
		}
		valid = func(data []byte) bool {
			return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, data, sig)
		}
	}
	data, err := m.SignedBytes()
	if err != nil {
		return false, fail(CheckEncoding, ErrEncoding, "canonical JSON of the envelope: %v", err)
	}
	if !valid(data) {
		if !v.cfg.AcceptLateMarker || !m.Has(message.FieldGilmsgVersion) {
			return false, fail(CheckSignature, ErrSignature, "signature does not match the canonical envelope")
		}
		data, err = m.SignedBytes(message.FieldGilmsgVersion)
		if err != nil || !valid(data) {
			return false, fail(CheckSignature, ErrSignature, "signature does not match the canonical envelope, with or without gilmsg_version")
		}
		late = true
	}
	return late, nil
}

// authorize is step 6: signedBy when forced, else the routing policy (and nitpicky mode).
func (v *X509Verifier) authorize(m *message.Message, e *chainEntry, signedBy string, forced bool) *failure {
	topicRaw, hasTopic := m.Get(message.FieldTopic)
	topic, topicIsString := topicRaw.(string)
	if forced {
		if !hasTopic {
			return fail(CheckPolicy, ErrPolicy, "no topic field, cannot check signed-by %q", signedBy)
		}
		if signedBy == "" || e.cn != signedBy {
			return fail(CheckSigner, ErrSigner, "signed by %q, want %q", e.cn, signedBy)
		}
	} else if names, listed := v.policy[topic]; listed && hasTopic && topicIsString {
		if !slices.Contains(names, e.cn) {
			return fail(CheckPolicy, ErrPolicy, "%q may not sign topic %q (allowed: %q)", e.cn, topic, names)
		}
	} else if v.cfg.Nitpicky {
		return fail(CheckPolicy, ErrPolicy, "topic %q is not in the routing policy and nitpicky mode is on", topic)
	}
	return nil
}

// checkChain computes the time-independent verdict on cert for trust generation t. A certificate
// not issued by the CA gets no entry (and is not cached).
func (v *X509Verifier) checkChain(t *trust, cert *x509.Certificate) (*chainEntry, *failure) {
	e := &chainEntry{
		gen:     t.gen,
		cert:    cert,
		cn:      firstCN(cert),
		subject: cert.Subject.String(),
		serial:  serialHex(cert.SerialNumber),
	}
	if err := issuedBy(cert, t.ca); err != nil {
		return e, fail(CheckIssuer, ErrUntrusted, "%v", err)
	}
	e.notBefore, e.notAfter = cert.NotBefore, cert.NotAfter
	if t.ca.NotBefore.After(e.notBefore) {
		e.notBefore = t.ca.NotBefore
	}
	if t.ca.NotAfter.Before(e.notAfter) {
		e.notAfter = t.ca.NotAfter
	}
	if rl := t.crl; rl != nil {
		if rl.thisUpdate.After(e.notBefore) {
			e.notBefore = rl.thisUpdate
		}
		if !rl.nextUpdate.IsZero() && rl.nextUpdate.Before(e.notAfter) {
			e.notAfter = rl.nextUpdate
		}
		switch {
		case t.crlFail != nil:
			e.fail = t.crlFail
		case rl.isRevoked(cert.SerialNumber):
			e.fail = fail(CheckRevoked, ErrRevoked, "serial %s is listed in the CRL", e.serial)
		case rl.isRevoked(t.ca.SerialNumber):
			e.fail = fail(CheckRevoked, ErrRevoked, "the CA certificate (serial %s) is listed in its own CRL", serialHex(t.ca.SerialNumber))
		}
	}
	return e, nil
}

// checkDates is the slow path, taken only outside the cached window or for a cached CRL failure:
// CA dates, then leaf dates (OpenSSL checks the chain from the root down, so an expired CA is
// reported as such even when the leaf expires with it), then the CRL (issuer, then dates), then
// revocation.
func (v *X509Verifier) checkDates(t *trust, e *chainEntry, now time.Time) *failure {
	if now.Before(t.ca.NotBefore) {
		return fail(CheckDates, ErrExpired, "CA certificate not yet valid: notBefore %s is after now %s", fmtTime(t.ca.NotBefore), fmtTime(now))
	}
	if now.After(t.ca.NotAfter) {
		return fail(CheckDates, ErrExpired, "CA certificate expired: notAfter %s is before now %s", fmtTime(t.ca.NotAfter), fmtTime(now))
	}
	if now.Before(e.cert.NotBefore) {
		return fail(CheckDates, ErrExpired, "signer certificate not yet valid: notBefore %s is after now %s", fmtTime(e.cert.NotBefore), fmtTime(now))
	}
	if now.After(e.cert.NotAfter) {
		return fail(CheckDates, ErrExpired, "signer certificate expired: notAfter %s is before now %s", fmtTime(e.cert.NotAfter), fmtTime(now))
	}
	if t.crl != nil {
		if t.crlFail != nil {
			return t.crlFail
		}
		if err := t.crl.checkTime(now); err != nil {
			return fail(CheckCRL, ErrCRL, "%s: %v", v.crlSource(), err)
		}
	}
	return e.fail
}

// pemCertificateDER returns the DER of the first CERTIFICATE block of the decoded certificate
// field (the field is base64 of PEM text).
func pemCertificateDER(data []byte) ([]byte, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, nil
		}
	}
}

func rsaSHA1Valid(pub *rsa.PublicKey, data, sig []byte) bool {
	sum := sha1.Sum(data)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig) == nil
}

// jsonKind names the JSON type of a decoded value for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64, message.Int:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
