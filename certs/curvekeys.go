package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/ratelog"
)

// DefaultRescanInterval is how often, at most, an unknown client key makes CurveKeys read the
// certificate directory again.
const DefaultRescanInterval = time.Second

// CurveConfig configures CurveKeys.
type CurveConfig struct {
	// CertFile is this process's certificate, which carries its CURVE public key. Required.
	CertFile string
	// KeyFile is this process's CURVE secret key (<name>.curve next to <name>.key). Required.
	KeyFile string
	// Dir holds the certificates of the peers (fedmsg's ssldir): every <name>.crt in it but the
	// CA's. A client may connect when its CURVE key is carried by one of them that the CA issued,
	// that is within its dates and that the CRL does not revoke.
	Dir string
	// Trust is the CA and CRL the peers' certificates are checked against, as messages are (CA
	// and CRL may be URLs, refreshed). Its routing policy is not used. Required.
	Trust TrustConfig
	// Allow lists the CNs that may connect to this process's binding sockets. Empty (the
	// default) allows any valid certificate of the CA.
	Allow []string
	// Servers maps each address this process connects to onto the server's certificate name in
	// Dir (the server must present the CURVE key that certificate carries) or onto the server's
	// public key itself in Z85 (40 characters). A connect to an address absent here fails.
	Servers map[string]string
	// RescanInterval bounds how often an unknown client key makes Dir be read again, so a newly
	// issued certificate is picked up without a restart while a stranger knocking costs no more
	// than a directory read per interval. Default DefaultRescanInterval (1s).
	RescanInterval time.Duration
	// Logger receives refused handshakes (rate-limited) and rescans. Default slog.Default().
	Logger *slog.Logger
}

// CurveKeys binds CurveZMQ to the bus's PKI: it gives a process its own key pair from its
// certificate, the key of each server from the server's certificate, and authenticates clients
// by the certificate that carries their key. It implements transport.Keys and is safe for
// concurrent use: the table of known keys is replaced atomically when Dir is read again, and the
// CA and CRL are those of an X509Verifier, reloaded as it reloads them. Nothing is read until
// first use; a failure then is returned (and retried at the next use).
type CurveKeys struct {
	cfg     CurveConfig
	allow   map[string]bool
	refused *ratelog.Limiter

	mu    sync.Mutex // serialises loading and rescans
	state atomic.Pointer[curveState]
	table atomic.Pointer[map[CurveKey]*x509Entry]
	scan  atomic.Int64 // UnixNano of the last read of Dir

	accepted atomic.Uint64
}

type curveState struct {
	public, secret string
	verifier       *X509Verifier
}

// x509Entry is one certificate of Dir that carries a CURVE key.
type x509Entry struct {
	name string
	cert *x509.Certificate
}

// NewCurveKeys returns CurveKeys for cfg, checking only that the required settings are present.
func NewCurveKeys(cfg CurveConfig) (*CurveKeys, error) {
	switch {
	case cfg.CertFile == "" || cfg.KeyFile == "":
		return nil, errors.New("certs: CURVE keys need a certificate and a key file")
	case cfg.Trust.CAFile == "":
		return nil, errors.New("certs: CURVE keys need the CA")
	}
	if cfg.RescanInterval <= 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Trust.Logger = cfg.Logger
	cfg.Allow = slices.Clone(cfg.Allow)
	k := &CurveKeys{cfg: cfg, allow: map[string]bool{}, refused: ratelog.New(cfg.Logger, time.Second)}
	for _, n := range cfg.Allow {
		k.allow[n] = true
	}
	servers := make(map[string]string, len(cfg.Servers))
	for a, s := range cfg.Servers {
		servers[a] = s
	}
	k.cfg.Servers = servers
	return k, nil
}

// load reads the own key pair and builds the verifier once.
func (k *CurveKeys) load() (*curveState, error) {
	if s := k.state.Load(); s != nil {
		return s, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.state.Load(); s != nil {
		return s, nil
	}
	public, secret, err := LoadCurveKeyPair(k.cfg.CertFile, k.cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	v, err := NewVerifier(k.cfg.Trust)
	if err != nil {
		return nil, err
	}
	s := &curveState{public: public.String(), secret: secret.String(), verifier: v}
	k.state.Store(s)
	return s, nil
}

// KeyPair returns this process's public and secret key in Z85.
func (k *CurveKeys) KeyPair() (public, secret string, err error) {
	s, err := k.load()
	if err != nil {
		return "", "", err
	}
	return s.public, s.secret, nil
}

// ServerKey returns the public key the server at addr must present (see CurveConfig.Servers).
func (k *CurveKeys) ServerKey(addr string) (string, error) {
	s, err := k.load()
	if err != nil {
		return "", err
	}
	name, ok := k.cfg.Servers[addr]
	if !ok {
		return "", fmt.Errorf("certs: no CURVE server key known for %s (name its certificate, or give its key)", addr)
	}
	if key, err := ParseCurveKey(name); err == nil && len(name) == 40 {
		return key.String(), nil
	}
	path := filepath.Join(k.cfg.Dir, name+".crt")
	cert, err := readCertFile(path)
	if err != nil {
		return "", fmt.Errorf("certs: the server certificate for %s: %w", addr, err)
	}
	if _, err := s.verifier.CheckCertificate(cert); err != nil {
		return "", fmt.Errorf("certs: the server certificate %s for %s: %w", path, addr, err)
	}
	key, err := CertCurveKey(cert)
	if err != nil {
		return "", fmt.Errorf("certs: %s: %w", path, err)
	}
	return key.String(), nil
}

// Refusal reasons, the keys of Refused.
const (
	RefusedUnknownKey = "unknown_key" // no certificate in Dir carries the key
	RefusedUntrusted  = "untrusted"   // the certificate is not the CA's
	RefusedRevoked    = "revoked"     // the CRL lists it
	RefusedExpired    = "expired"     // outside its dates (or the CA's)
	RefusedCRL        = "crl"         // no usable CRL (fail closed)
	RefusedNotAllowed = "not_allowed" // valid, but its CN is not in Allow
	RefusedNoKeys     = "no_keys"     // this process's own keys or trust could not be loaded
	RefusedHandshake  = "handshake"   // the client failed the handshake before ZAP: no CURVE at all
)

// RefusedReasons lists every refusal reason, for metrics that report them at 0.
var RefusedReasons = []string{RefusedUnknownKey, RefusedUntrusted, RefusedRevoked, RefusedExpired, RefusedCRL, RefusedNotAllowed, RefusedNoKeys, RefusedHandshake}

// HandshakeFailed counts and logs (rate-limited) a client that failed a handshake before ZAP
// was asked, typically a plaintext (Python fedmsg) peer: it implements
// transport.HandshakeObserver.
func (k *CurveKeys) HandshakeFailed(endpoint, reason string) {
	k.refused.Warn(RefusedHandshake, "certs: refused a CURVE handshake", "endpoint", endpoint, "err", reason)
}

// Authenticate returns the CN of the valid certificate that carries publicKey (Z85), or an
// error saying why the client is refused. Refusals are counted by reason (Refused) and logged at
// most once a second per reason.
func (k *CurveKeys) Authenticate(publicKey string) (string, error) {
	cn, reason, err := k.authenticate(publicKey)
	if err != nil {
		k.refused.Warn(reason, "certs: refused a CURVE handshake", "key", publicKey, "cn", cn, "err", err)
		return "", err
	}
	k.accepted.Add(1)
	return cn, nil
}

func (k *CurveKeys) authenticate(publicKey string) (cn, reason string, err error) {
	s, err := k.load()
	if err != nil {
		return "", RefusedNoKeys, err
	}
	key, err := ParseCurveKey(publicKey)
	if err != nil {
		return "", RefusedUnknownKey, err
	}
	e := k.lookup(key)
	if e == nil {
		return "", RefusedUnknownKey, fmt.Errorf("certs: no certificate in %s carries CURVE key %s", k.cfg.Dir, publicKey)
	}
	cn, err = s.verifier.CheckCertificate(e.cert)
	switch {
	case errors.Is(err, ErrRevoked):
		return firstCN(e.cert), RefusedRevoked, err
	case errors.Is(err, ErrUntrusted):
		return firstCN(e.cert), RefusedUntrusted, err
	case errors.Is(err, ErrExpired):
		return firstCN(e.cert), RefusedExpired, err
	case err != nil:
		return firstCN(e.cert), RefusedCRL, err
	}
	if len(k.allow) > 0 && !k.allow[cn] {
		return cn, RefusedNotAllowed, fmt.Errorf("certs: %q may not connect (not in the allowlist)", cn)
	}
	return cn, "", nil
}

// lookup finds the certificate carrying key, reading Dir again when the key is unknown and the
// last read is older than RescanInterval.
func (k *CurveKeys) lookup(key CurveKey) *x509Entry {
	if t := k.table.Load(); t != nil {
		if e := (*t)[key]; e != nil {
			return e
		}
	}
	now := time.Now().UnixNano()
	last := k.scan.Load()
	if k.table.Load() != nil && now-last < int64(k.cfg.RescanInterval) && now >= last {
		return nil
	}
	if !k.scan.CompareAndSwap(last, now) {
		return nil // another handshake is reading Dir right now; this key was unknown anyway
	}
	k.rescan()
	if e := (*k.table.Load())[key]; e != nil {
		return e
	}
	return nil
}

// Rescan reads Dir again now (for SIGHUP handlers and tests). Handshakes in progress keep using
// the table they loaded.
func (k *CurveKeys) Rescan() {
	k.scan.Store(time.Now().UnixNano())
	k.rescan()
}

func (k *CurveKeys) rescan() {
	k.mu.Lock()
	defer k.mu.Unlock()
	table := map[CurveKey]*x509Entry{}
	matches, err := filepath.Glob(filepath.Join(k.cfg.Dir, "*.crt"))
	if err != nil {
		k.cfg.Logger.Error("certs: reading the certificate directory", "dir", k.cfg.Dir, "err", err)
	}
	for _, p := range matches {
		if filepath.Base(p) == CAFileName {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cert, err := firstPEMCertificate(data)
		if err != nil {
			continue
		}
		key, err := CertCurveKey(cert)
		if err != nil {
			continue // a certificate without a CURVE key cannot be used on a CURVE bus
		}
		table[key] = &x509Entry{name: strings.TrimSuffix(filepath.Base(p), ".crt"), cert: cert}
	}
	k.table.Store(&table)
}

// Refused returns the refused handshakes counted by reason (the Refused* constants).
func (k *CurveKeys) Refused() map[string]uint64 { return k.refused.Counts() }

// Accepted counts the handshakes Authenticate let through.
func (k *CurveKeys) Accepted() uint64 { return k.accepted.Load() }
