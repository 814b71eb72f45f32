package certs

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ackmsg/ackmsg/message"
)

// Crypto field values this package signs and verifies.
const (
	// CryptoX509 is the crypto field value of fedmsg's X.509 backend: RSA PKCS#1 v1.5 over SHA-1.
	CryptoX509 = "x509"
	// CryptoEd25519 is ackmsg's extension (spec/wire.md §4): the same certificates, fields and
	// checks as x509, but an Ed25519 signature over the canonical bytes by a certificate whose key
	// is Ed25519. Python fedmsg rejects this value ("crypto must be x509 or gpg") instead of
	// misreading it, so only buses where every consumer is ackmsg should sign with it.
	CryptoEd25519 = "x509-ed25519"
)

// Signer signs envelopes. Publishers and ACK emitters depend on this interface so tests can swap
// in fakes.
type Signer interface {
	// Sign adds crypto, signature and certificate to m (modifying it in place).
	Sign(m *message.Message) error
	// Name is the signer's identity on the bus: the first CN of its certificate.
	Name() string
}

// X509Signer signs as fedmsg's x509 backend does (RSA keys, crypto "x509"), or as ackmsg's
// x509-ed25519 extension (Ed25519 keys): the key type of the certificate decides. It is immutable
// and safe for concurrent use.
type X509Signer struct {
	rsaKey  *rsa.PrivateKey    // set for CryptoX509
	edKey   ed25519.PrivateKey // set for CryptoEd25519
	crypto  string             // CryptoX509 or CryptoEd25519
	cert    *x509.Certificate
	name    string
	certB64 string // the certificate field, computed once
}

var _ Signer = (*X509Signer)(nil)

// LoadSigner reads a certificate and an unencrypted private key (PEM: PKCS#8, or PKCS#1 for RSA),
// as fedmsg does from <ssldir>/<certname>.crt and .key. The certificate file may carry text before
// the PEM block; only its first certificate is used. The key must match the certificate. An RSA
// key signs as fedmsg's x509 backend; an Ed25519 key (PKCS#8) signs under CryptoEd25519.
func LoadSigner(certFile, keyFile string) (*X509Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: reading signer certificate: %w", err)
	}
	cert, err := firstPEMCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: signer certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: reading signer key: %w", err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: signer key %s: %w", keyFile, err)
	}
	s, err := NewSignerFromKey(cert, key)
	if err != nil {
		return nil, fmt.Errorf("%w (%s, %s)", err, certFile, keyFile)
	}
	return s, nil
}

// NewSigner returns a signer for cert and its RSA key (crypto "x509").
func NewSigner(cert *x509.Certificate, key *rsa.PrivateKey) (*X509Signer, error) {
	if key == nil {
		return nil, errors.New("certs: NewSigner needs a certificate and a key")
	}
	return NewSignerFromKey(cert, key)
}

// NewSignerFromKey returns a signer for cert and its private key: an *rsa.PrivateKey signs under
// CryptoX509, an ed25519.PrivateKey (or *ed25519.PrivateKey) under CryptoEd25519. Other key types
// are refused, as is a key that does not match the certificate's public key.
func NewSignerFromKey(cert *x509.Certificate, key crypto.Signer) (*X509Signer, error) {
	if cert == nil || key == nil {
		return nil, errors.New("certs: NewSigner needs a certificate and a key")
	}
	s := &X509Signer{
		cert: cert,
		name: firstCN(cert),
		// fedmsg re-serialises the parsed certificate to PEM, exactly what EncodeToMemory writes.
		certB64: wrap76(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
	}
	mismatch := errors.New("certs: signer key does not match the certificate's public key")
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k == nil {
			return nil, errors.New("certs: NewSigner needs a certificate and a key")
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&k.PublicKey) {
			return nil, mismatch
		}
		s.rsaKey, s.crypto = k, CryptoX509
	case ed25519.PrivateKey, *ed25519.PrivateKey:
		var ek ed25519.PrivateKey
		if p, isPtr := k.(*ed25519.PrivateKey); isPtr {
			if p == nil {
				return nil, errors.New("certs: NewSigner needs a certificate and a key")
			}
			ek = *p
		} else {
			ek = k.(ed25519.PrivateKey)
		}
		if len(ek) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("certs: Ed25519 private key of %d bytes, want %d", len(ek), ed25519.PrivateKeySize)
		}
		pub, ok := cert.PublicKey.(ed25519.PublicKey)
		if !ok || !pub.Equal(ek.Public()) {
			return nil, mismatch
		}
		s.edKey, s.crypto = ek, CryptoEd25519
	default:
		return nil, fmt.Errorf("certs: signer key %T is neither RSA (crypto x509) nor Ed25519 (crypto %s)", key, CryptoEd25519)
	}
	return s, nil
}

// Name returns the first CN of the signer's certificate.
func (s *X509Signer) Name() string { return s.name }

// Certificate returns the signer's certificate.
func (s *X509Signer) Certificate() *x509.Certificate { return s.cert }

// Crypto returns the crypto value Sign writes: CryptoX509 for an RSA key, CryptoEd25519 for an
// Ed25519 key.
func (s *X509Signer) Crypto() string { return s.crypto }

// Sign sets crypto first (it is part of the signed bytes): "x509" for an RSA key, "x509-ed25519"
// for an Ed25519 key. It then signs the canonical JSON of every field but signature and
// certificate (RSA PKCS#1 v1.5 over SHA-1, or Ed25519) and sets both fields, 76-column wrapped.
// Any previous signature and certificate are replaced.
func (s *X509Signer) Sign(m *message.Message) error {
	if m == nil {
		return errors.New("certs: Sign: nil message")
	}
	if err := m.Set(message.FieldCrypto, s.crypto); err != nil {
		return fmt.Errorf("certs: Sign: %w", err)
	}
	data, err := m.SignedBytes()
	if err != nil {
		return fmt.Errorf("certs: Sign: canonical bytes: %w", err)
	}
	sig, err := s.signBytes(data)
	if err != nil {
		return err
	}
	if err := m.Set(message.FieldSignature, sig); err != nil {
		return fmt.Errorf("certs: Sign: %w", err)
	}
	if err := m.Set(message.FieldCertificate, s.certB64); err != nil {
		return fmt.Errorf("certs: Sign: %w", err)
	}
	return nil
}

// signBytes returns the wrapped base64 signature of data.
func (s *X509Signer) signBytes(data []byte) (string, error) {
	if s.edKey != nil {
		return wrap76(ed25519.Sign(s.edKey, data)), nil
	}
	sum := sha1.Sum(data)
	// PKCS#1 v1.5 is deterministic, so no randomness is needed and Python produces the same bytes.
	raw, err := rsa.SignPKCS1v15(nil, s.rsaKey, crypto.SHA1, sum[:])
	if err != nil {
		return "", fmt.Errorf("certs: Sign: %w", err)
	}
	return wrap76(raw), nil
}

// parsePrivateKey returns the first private key of a PEM file: PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). Encrypted keys are refused.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block")
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted private keys are not supported")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		default:
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported private key type %T", k)
			}
			return s, nil
		}
	}
}
