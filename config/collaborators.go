package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/ackmsg/ackmsg/certs"
)

// The collaborators a configuration names and the components take: the signer and the
// verifiers. One translation, so the publisher, the consumers, the relay and the ACK overlay
// cannot drift apart.

// SetLogger sets the logger of the trust material the builders (NewSubscriber, NewAckPublisher,
// ...) load for the components: the CA and CRL reloads and fetches log there, as the component
// they serve does. Default slog.Default(). The commands set theirs.
func (c *Config) SetLogger(l *slog.Logger) { c.log = l }

// Signer loads the signing certificate and key that the configuration names. Their key type
// picks the crypto value: RSA signs as "x509", Ed25519 as "x509-ed25519" (ackmsg peers only).
func (c *Config) Signer() (*certs.X509Signer, error) {
	certFile, keyFile, err := c.SigningFiles(ShortHostname())
	if err != nil {
		return nil, err
	}
	s, err := certs.LoadSigner(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading signing certificate: %w", err)
	}
	return s, nil
}

// Verifier builds the verifier for incoming messages from the trust settings. lateMarker
// accepts Python gilmsg messages whose ACK marker was added after signing.
func (c *Config) Verifier(lateMarker bool, logger *slog.Logger) (*certs.X509Verifier, error) {
	ca, crl, err := c.TrustFiles()
	if err != nil {
		return nil, err
	}
	tc := c.trustConfig(ca, crl)
	tc.RoutingPolicy = c.RoutingPolicy
	tc.Nitpicky = c.RoutingNitpicky
	tc.AllowedCrypto = c.CryptoValidateBackends
	tc.AcceptLateMarker = lateMarker
	tc.Logger = logger
	return certs.NewVerifier(tc)
}

// AckVerifier builds the verifier for ACKs: fedmsg's validate_signed_by semantics, so the
// routing policy is not applied (the signer is checked against the recipient instead), and no
// late gilmsg marker is accepted (ACKs carry none).
func (c *Config) AckVerifier(logger *slog.Logger) (*certs.X509Verifier, error) {
	ca, crl, err := c.TrustFiles()
	if err != nil {
		return nil, err
	}
	tc := c.trustConfig(ca, crl)
	tc.AllowedCrypto = c.CryptoValidateBackends
	tc.AcceptLateMarker = false
	tc.Logger = logger
	return certs.NewVerifier(tc)
}

// trustConfig is the trust configuration both verifiers share: the CA and CRL locations (files
// or URLs, with fedmsg's cache keys) and the default interval and cache size.
func (c *Config) trustConfig(ca, crl string) certs.TrustConfig {
	tc := certs.DefaultTrustConfig(ca)
	tc.CRLFile = crl
	tc.CACacheFile = c.CACertCache
	tc.CRLCacheFile = c.CRLCache
	tc.CRLCacheExpiry = c.CRLCacheExpiry.Duration()
	return tc
}

var hostOnce = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	short, _, _ := strings.Cut(h, ".")
	return short
})

// ShortHostname is the host name up to its first dot, as fedmsg uses it in certnames indexes.
func ShortHostname() string { return hostOnce() }
