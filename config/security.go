package config

import (
	"fmt"
	"path/filepath"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/transport"
)

// Values of transport_security.
const (
	SecurityNone  = transport.SecurityNone
	SecurityCurve = transport.SecurityCurve
)

// Security maps transport_security and the curve_* keys onto the transport's security settings.
// With "curve" the keys are a certs.CurveKeys over ssldir, the CA and CRL: nothing is read until
// the first socket asks, and a failure then (no certificate, a key file that does not match it)
// fails that socket's creation with the reason.
func (c *Config) Security() transport.Security {
	if c.TransportSecurity != SecurityCurve {
		return transport.Security{Mode: SecurityNone}
	}
	keys, err := c.curveKeys()
	if err != nil {
		return transport.Security{Mode: SecurityCurve, Keys: failedKeys{err}}
	}
	return transport.Security{Mode: SecurityCurve, Keys: keys}
}

func (c *Config) curveKeys() (*certs.CurveKeys, error) { return c.curveKeysAllowing(c.CurveAllow) }

// curveKeysAllowing is curveKeys admitting the CNs of allow (empty: every valid certificate).
func (c *Config) curveKeysAllowing(allow []string) (*certs.CurveKeys, error) {
	certname, from, err := c.resolveCertname("")
	if err != nil {
		return nil, fmt.Errorf("transport_security curve needs this program's certificate: %w", err)
	}
	keyFile := c.CurveKey
	if keyFile == "" {
		keyFile = filepath.Join(c.SSLDir, certname+certs.CurveKeyExt)
	}
	ca, crl, err := c.TrustFiles()
	if err != nil {
		return nil, err
	}
	trust := certs.DefaultTrustConfig(ca)
	trust.CRLFile = crl
	trust.CACacheFile = c.CACertCache
	trust.CRLCacheFile = c.CRLCache
	trust.CRLCacheExpiry = c.CRLCacheExpiry.Duration()
	k, err := certs.NewCurveKeys(certs.CurveConfig{
		CertFile: filepath.Join(c.SSLDir, certname+".crt"),
		KeyFile:  keyFile,
		Dir:      c.SSLDir,
		Trust:    trust,
		Allow:    allow,
		Servers:  c.CurveServers(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return k, nil
}

// CurveServers returns, for every address this configuration may connect to, the certificate
// name (or Z85 key) of the server there: see CurveServerKeys.
func (c *Config) CurveServers() map[string]string {
	servers := map[string]string{}
	byName := func(name string) string {
		if v, ok := c.CurveServerKeys[name]; ok {
			return v
		}
		if v, ok := c.Certnames[name]; ok {
			return v
		}
		return name
	}
	for name, addrs := range c.Endpoints {
		for _, a := range addrs {
			servers[a] = byName(name)
		}
	}
	if c.RelayInbound != "" {
		servers[c.RelayInbound] = byName(RelayInboundKey)
	}
	for name, a := range c.ReplayEndpoints {
		servers[a] = byName(name)
	}
	for k, v := range c.CurveServerKeys {
		if _, isName := c.Endpoints[k]; isName {
			continue
		}
		if _, isName := c.ReplayEndpoints[k]; isName || k == RelayInboundKey {
			continue
		}
		servers[k] = v // an address
	}
	return servers
}

// failedKeys reports, at the first socket, why the CURVE keys could not be set up.
type failedKeys struct{ err error }

func (f failedKeys) KeyPair() (string, string, error)    { return "", "", f.err }
func (f failedKeys) ServerKey(string) (string, error)    { return "", f.err }
func (f failedKeys) Authenticate(string) (string, error) { return "", f.err }

// validateSecurity checks transport_security and the curve_* keys.
func (c *Config) validateSecurity(errs *errorList) {
	bad := func(key string, format string, args ...any) {
		errs.add(&KeyError{Key: key, Source: c.Source(key), Err: fmt.Errorf(format, args...)})
	}
	switch c.TransportSecurity {
	case SecurityNone, "":
	case SecurityCurve:
		if c.SSLDir == "" {
			bad("ssldir", "%w: empty, but transport_security %q finds the certificates there", ErrMissing, SecurityCurve)
		}
	default:
		bad("transport_security", "%w: %q: want %q (plaintext, as fedmsg) or %q (CurveZMQ bound to the certificates)",
			ErrInvalid, c.TransportSecurity, SecurityNone, SecurityCurve)
	}
	for _, k := range sortedKeys(c.CurveServerKeys) {
		key := subKey("curve_server_keys", k)
		v := c.CurveServerKeys[k]
		if _, err := certs.ParseCurveKey(v); err == nil && len(v) == 40 {
			continue
		}
		if err := checkCertname(v); err != nil {
			bad(key, "%w: %q is neither a certificate name nor a Z85 key of 40 characters", ErrInvalid, v)
		}
	}
	for i, cn := range c.CurveAllow {
		if cn == "" {
			bad(fmt.Sprintf("curve_allow[%d]", i), "%w: empty CN", ErrInvalid)
		}
	}
}
