package certs

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Defaults of TrustConfig.
const (
	// DefaultCheckInterval is how often the CA and CRL files are stat'ed for changes.
	DefaultCheckInterval = time.Second
	// DefaultCacheSize is the number of certificates whose chain verdict is cached.
	DefaultCacheSize = 1024
)

// TrustConfig configures an X509Verifier. Start from DefaultTrustConfig; zero numeric fields take
// their documented defaults in NewVerifier.
type TrustConfig struct {
	// CAFile is the PEM file of the CA (fedmsg's ca_cert_location). Only its first certificate is
	// trusted; text before the PEM block is ignored. Required. An http:// or https:// URL is
	// downloaded by NewVerifier (and again by Reload) and kept in CACacheFile; when the download
	// fails, the cached copy is used with a warning, and without one NewVerifier fails.
	CAFile string
	// CRLFile is the CRL (PEM "X509 CRL" or DER, version 1 or 2). Empty means no revocation check,
	// like a null crl_location in fedmsg. An http:// or https:// URL is downloaded, checked (it
	// parses, is issued and signed by the CA, is within its validity and not older than the CRL
	// in use) and only then replaces CRLCacheFile atomically; it is fetched again after
	// CRLCacheExpiry or at its nextUpdate, whichever is first, during a verification once
	// CheckInterval has passed. A failed fetch keeps the cached copy with a warning; once that copy
	// is past its nextUpdate every verification fails with ErrCRL naming the URL (fail closed).
	CRLFile string
	// CACacheFile is where a CA downloaded from a URL is kept (fedmsg's ca_cert_cache).
	// Default: "ca-<hash of the URL>.pem" in DefaultCacheDir() (an error without $HOME).
	CACacheFile string
	// CRLCacheFile is where a CRL downloaded from a URL is kept (fedmsg's crl_cache).
	// Default: "crl-<hash of the URL>.pem" in DefaultCacheDir() (an error without $HOME).
	CRLCacheFile string
	// CRLCacheExpiry is how long a downloaded CRL is used before it is fetched again (fedmsg's
	// crl_cache_expiry). Default DefaultCRLCacheExpiry (1h).
	CRLCacheExpiry time.Duration
	// FetchTimeout bounds one download of the CA or CRL. Default DefaultFetchTimeout (30s).
	FetchTimeout time.Duration
	// MaxFetchSize bounds a downloaded body in bytes. Default DefaultMaxFetchSize (16 MiB).
	MaxFetchSize int64
	// HTTPClient downloads CA and CRL URLs. Default: a client using http.DefaultTransport (which
	// honours $HTTPS_PROXY).
	HTTPClient *http.Client
	// RoutingPolicy maps a full topic to the CNs allowed to sign messages on it (fedmsg's
	// routing_policy). Exact string comparison, no wildcards. Copied by NewVerifier.
	RoutingPolicy map[string][]string
	// Nitpicky rejects topics absent from RoutingPolicy (fedmsg's routing_nitpicky). Default false.
	Nitpicky bool
	// AllowedCrypto lists the accepted crypto values (fedmsg's crypto_validate_backends):
	// CryptoX509, CryptoEd25519 and "gpg". Default DefaultAllowedCrypto(), i.e. ["x509",
	// "x509-ed25519"], so a bus mixing RSA and Ed25519 signers works without configuration; list
	// only "x509" for fedmsg's strictness. "gpg" may be listed for config compatibility, but
	// gpg-signed messages still fail with ErrCrypto: that backend is not implemented.
	AllowedCrypto []string
	// AcceptLateMarker retries a failed signature check without the gilmsg_version field, so
	// messages from Python gilmsg (which adds its marker after signing) verify; Identity.LateMarker
	// reports it. DefaultTrustConfig sets it to true, which is what consumers want; the zero value
	// (false) is strict and fits publishers checking ACKs, which carry no marker.
	AcceptLateMarker bool
	// Now is the clock for date checks and the reload interval. Default time.Now.
	Now func() time.Time
	// CheckInterval is the minimum time between two stat checks of the CA and CRL files.
	// Default DefaultCheckInterval (1s); negative disables reloading (the files are read once).
	CheckInterval time.Duration
	// CacheSize bounds the per-certificate verdict cache; the cache is cleared when full.
	// Default DefaultCacheSize (1024); negative disables caching (every message is a cold check).
	CacheSize int
	// Logger receives trust reload events and errors. Default: slog.Default().
	Logger *slog.Logger
}

// DefaultAllowedCrypto returns the crypto values a verifier accepts by default: x509 and
// x509-ed25519. Both rest on the same CA, CRL and policy checks; the second only exists between
// ackmsg peers, and accepting it costs nothing to a bus where nobody signs with Ed25519.
func DefaultAllowedCrypto() []string { return []string{CryptoX509, CryptoEd25519} }

// DefaultTrustConfig returns the configuration consumers want, with caFile as the CA, no CRL,
// an empty routing policy, late gilmsg markers accepted, and the default interval and cache size.
func DefaultTrustConfig(caFile string) TrustConfig {
	return TrustConfig{
		CAFile:           caFile,
		AllowedCrypto:    DefaultAllowedCrypto(),
		AcceptLateMarker: true,
		Now:              time.Now,
		CheckInterval:    DefaultCheckInterval,
		CacheSize:        DefaultCacheSize,
	}
}

// Validate reports configuration errors.
func (c *TrustConfig) Validate() error {
	if c.CAFile == "" {
		return errors.New("certs: TrustConfig.CAFile is required")
	}
	for _, loc := range []string{c.CAFile, c.CRLFile} {
		if strings.Contains(loc, "://") && !IsURL(loc) {
			return fmt.Errorf("certs: %q: only http:// and https:// URLs are fetched", loc)
		}
	}
	for _, b := range c.AllowedCrypto {
		if b != CryptoX509 && b != CryptoEd25519 && b != "gpg" {
			return fmt.Errorf("certs: TrustConfig.AllowedCrypto: unknown backend %q (want %s, %s or gpg)", b, CryptoX509, CryptoEd25519)
		}
	}
	return nil
}

func (c *TrustConfig) setDefaults() {
	if len(c.AllowedCrypto) == 0 {
		c.AllowedCrypto = DefaultAllowedCrypto()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CRLCacheExpiry <= 0 {
		c.CRLCacheExpiry = DefaultCRLCacheExpiry
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.MaxFetchSize <= 0 {
		c.MaxFetchSize = DefaultMaxFetchSize
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
}
