package certs

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// CURVE keys bound to certificates.
//
// A service's CurveZMQ key pair is issued with its certificate: the public key is written into the
// certificate as a subjectAltName URI, "urn:ackmsg:curve:<64 hex digits>", so the CA's signature
// binds it to the certificate's CN and revoking the certificate revokes the key. The secret key
// is kept in "<name>.curve" (mode 0600) next to "<name>.key". This works for RSA and Ed25519
// certificates alike, and keeps the signing key and the transport key apart (see docs/security.md).

// CurveKeyExt is the file extension of a CURVE secret key, next to the certificate's .crt and .key.
const CurveKeyExt = ".curve"

// curveURIPrefix starts the subjectAltName URI that carries a certificate's CURVE public key.
const curveURIPrefix = "urn:ackmsg:curve:"

const curvePEMType = "ACKMSG CURVE SECRET KEY"

// ErrNoCurveKey means a certificate carries no CURVE public key: it was issued before CURVE
// keys were, or by another tool. Reissue it with ackmsg-certs issue --force.
var ErrNoCurveKey = errors.New("certs: certificate carries no CURVE key")

// CurveKey is a Curve25519 key as CurveZMQ uses it (32 bytes).
type CurveKey [32]byte

// String is the key in Z85, the 40-character text form libzmq takes.
func (k CurveKey) String() string { return z85Encode(k[:]) }

// ParseCurveKey reads a key in Z85 (40 characters).
func ParseCurveKey(s string) (CurveKey, error) {
	var k CurveKey
	b, err := z85Decode(s)
	if err != nil {
		return k, err
	}
	if len(b) != len(k) {
		return k, fmt.Errorf("certs: a CURVE key is 40 Z85 characters, got %d", len(s))
	}
	copy(k[:], b)
	return k, nil
}

// newCurveKeyPair returns a fresh X25519 key pair (crypto_box's, which CurveZMQ uses).
func newCurveKeyPair() (public, secret CurveKey, err error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return public, secret, fmt.Errorf("certs: generating CURVE key: %w", err)
	}
	copy(secret[:], priv.Bytes())
	copy(public[:], priv.PublicKey().Bytes())
	return public, secret, nil
}

// curvePublic derives the public key of secret.
func curvePublic(secret CurveKey) (CurveKey, error) {
	var public CurveKey
	priv, err := ecdh.X25519().NewPrivateKey(secret[:])
	if err != nil {
		return public, err
	}
	copy(public[:], priv.PublicKey().Bytes())
	return public, nil
}

// curveURI is the subjectAltName URI that carries public.
func curveURI(public CurveKey) *url.URL {
	u, _ := url.Parse(curveURIPrefix + hex.EncodeToString(public[:]))
	return u
}

// CertCurveKey returns the CURVE public key a certificate carries, or ErrNoCurveKey.
func CertCurveKey(cert *x509.Certificate) (CurveKey, error) {
	var k CurveKey
	for _, u := range cert.URIs {
		s := u.String()
		if !strings.HasPrefix(s, curveURIPrefix) {
			continue
		}
		b, err := hex.DecodeString(strings.TrimPrefix(s, curveURIPrefix))
		if err != nil || len(b) != len(k) {
			return k, fmt.Errorf("certs: malformed CURVE key URI %q", s)
		}
		copy(k[:], b)
		return k, nil
	}
	return k, fmt.Errorf("%w (CN %q)", ErrNoCurveKey, firstCN(cert))
}

// encodeCurveSecret is the content of a .curve file.
func encodeCurveSecret(secret CurveKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: curvePEMType, Bytes: secret[:]})
}

// LoadCurveKeyPair reads the CURVE secret key in keyFile and checks that it belongs to the public
// key that the certificate in certFile carries: a key file and a certificate that do not match
// would fail every handshake, so they fail here, naming both files.
func LoadCurveKeyPair(certFile, keyFile string) (public, secret CurveKey, err error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return public, secret, fmt.Errorf("certs: CURVE key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != curvePEMType || len(block.Bytes) != len(secret) {
		return public, secret, fmt.Errorf("certs: CURVE key %s: not a %q PEM block of 32 bytes", keyFile, curvePEMType)
	}
	copy(secret[:], block.Bytes)
	if public, err = curvePublic(secret); err != nil {
		return public, secret, fmt.Errorf("certs: CURVE key %s: %w", keyFile, err)
	}
	cert, err := readCertFile(certFile)
	if err != nil {
		return public, secret, err
	}
	bound, err := CertCurveKey(cert)
	if err != nil {
		return public, secret, fmt.Errorf("certs: %s: %w", certFile, err)
	}
	if bound != public {
		return public, secret, fmt.Errorf("certs: CURVE key %s does not belong to %s (which carries %s)", keyFile, certFile, bound)
	}
	return public, secret, nil
}

// readCertFile parses the first certificate of a PEM file.
func readCertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cert, err := firstPEMCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	return cert, nil
}

// CheckCertificate checks cert as a message signer's certificate is checked, without a message:
// issued by the CA, within its dates and the CA's, and not revoked by a usable, current CRL. It
// uses the trust material in force, reloading (or fetching) the CA and CRL first when they are
// due, and returns the certificate's CN. The error wraps ErrUntrusted, ErrExpired, ErrCRL or
// ErrRevoked.
func (v *X509Verifier) CheckCertificate(cert *x509.Certificate) (string, error) {
	now := v.cfg.Now()
	t := v.current(now.UnixNano())
	e, f := v.checkChain(t, cert)
	if f == nil {
		f = v.checkDates(t, e, now)
	}
	if f != nil {
		return "", f.err
	}
	return e.cn, nil
}
