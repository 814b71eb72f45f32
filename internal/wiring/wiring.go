// Package wiring turns a config.Config into the parts every bus component needs: socket
// options, the signer and the verifier. It keeps that translation in one place so the
// publisher, the consumers, the relay and the ACK overlay cannot drift apart.
package wiring

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/zsock"
)

// SocketOptions maps the zmq_* settings onto socket options (see config.Config.Transport).
func SocketOptions(cfg *config.Config) zsock.Options { return cfg.Transport() }

// Signer loads the signing certificate and key that the configuration names. Their key type
// picks the crypto value: RSA signs as "x509", Ed25519 as "x509-ed25519" (ackmsg peers only).
func Signer(cfg *config.Config) (*certs.X509Signer, error) {
	certFile, keyFile, err := cfg.SigningFiles(ShortHostname())
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
func Verifier(cfg *config.Config, lateMarker bool, logger *slog.Logger) (*certs.X509Verifier, error) {
	ca, crl, err := cfg.TrustFiles()
	if err != nil {
		return nil, err
	}
	tc := trustConfig(cfg, ca, crl)
	tc.RoutingPolicy = cfg.RoutingPolicy
	tc.Nitpicky = cfg.RoutingNitpicky
	tc.AllowedCrypto = cfg.CryptoValidateBackends
	tc.AcceptLateMarker = lateMarker
	tc.Logger = logger
	return certs.NewVerifier(tc)
}

// trustConfig is the trust configuration both verifiers share: the CA and CRL locations (files
// or URLs, with fedmsg's cache keys) and the default interval and cache size.
func trustConfig(cfg *config.Config, ca, crl string) certs.TrustConfig {
	tc := certs.DefaultTrustConfig(ca)
	tc.CRLFile = crl
	tc.CACacheFile = cfg.CACertCache
	tc.CRLCacheFile = cfg.CRLCache
	tc.CRLCacheExpiry = cfg.CRLCacheExpiry.Duration()
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

// Logger returns l, or slog.Default() when l is nil: a library that is given no logger still
// says what the documentation calls loud (a publish with no recipients, development mode, the
// log sink), as Go programs expect.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// AckVerifier builds the verifier for ACKs: fedmsg's validate_signed_by semantics, so the
// routing policy is not applied (the signer is checked against the recipient instead), and no
// late gilmsg marker is accepted (ACKs carry none).
func AckVerifier(cfg *config.Config, logger *slog.Logger) (*certs.X509Verifier, error) {
	ca, crl, err := cfg.TrustFiles()
	if err != nil {
		return nil, err
	}
	tc := trustConfig(cfg, ca, crl)
	tc.AllowedCrypto = cfg.CryptoValidateBackends
	tc.AcceptLateMarker = false
	tc.Logger = logger
	return certs.NewVerifier(tc)
}

// Lazy is a process-wide default built on first use from the configuration files and
// $ACKMSG_CONFIG, like fedmsg's module-level functions (publisher.Publish, ack.Publish).
type Lazy[T interface{ Close() error }] struct {
	// New builds the value from the loaded configuration.
	New func(*config.Config) (T, error)

	mu    sync.Mutex
	v     T
	built bool
}

// Get returns the value, building it on the first call (and after Close).
func (l *Lazy[T]) Get() (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built {
		return l.v, nil
	}
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := l.New(cfg)
	if err != nil {
		return v, err
	}
	l.v, l.built = v, true
	return v, nil
}

// Close closes the value if it was built; a later Get builds a new one.
func (l *Lazy[T]) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.built {
		return nil
	}
	var zero T
	err := l.v.Close()
	l.v, l.built = zero, false
	return err
}
