package certs

import (
	"crypto"
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

// CryptoX509 is the crypto field value of fedmsg's X.509 backend.
const CryptoX509 = "x509"

// Signer signs envelopes. Publishers and ACK emitters depend on this interface so tests can swap
// in fakes.
type Signer interface {
	// Sign adds crypto, signature and certificate to m (modifying it in place).
	Sign(m *message.Message) error
	// Name is the signer's identity on the bus: the first CN of its certificate.
	Name() string
}

// X509Signer signs as fedmsg's x509 backend does. It is immutable and safe for concurrent use.
type X509Signer struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	name    string
	certB64 string // the certificate field, computed once
}

var _ Signer = (*X509Signer)(nil)

// LoadSigner reads a certificate and an unencrypted RSA private key (PEM, PKCS#8 or PKCS#1), as
// fedmsg does from <ssldir>/<certname>.crt and .key. The certificate file may carry text before
// the PEM block; only its first certificate is used. The key must match the certificate.
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
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("certs: signer key %s: %T is not an RSA key (fedmsg x509 signs with RSA only)", keyFile, key)
	}
	s, err := NewSigner(cert, rsaKey)
	if err != nil {
		return nil, fmt.Errorf("%w (%s, %s)", err, certFile, keyFile)
	}
	return s, nil
}

// NewSigner returns a signer for cert and its RSA key.
func NewSigner(cert *x509.Certificate, key *rsa.PrivateKey) (*X509Signer, error) {
	if cert == nil || key == nil {
		return nil, errors.New("certs: NewSigner needs a certificate and a key")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("certs: signer key does not match the certificate's public key")
	}
	return &X509Signer{
		key:  key,
		cert: cert,
		name: firstCN(cert),
		// fedmsg re-serialises the parsed certificate to PEM, exactly what EncodeToMemory writes.
		certB64: wrap76(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
	}, nil
}

// Name returns the first CN of the signer's certificate.
func (s *X509Signer) Name() string { return s.name }

// Certificate returns the signer's certificate.
func (s *X509Signer) Certificate() *x509.Certificate { return s.cert }

// Sign sets crypto to "x509" first (it is part of the signed bytes), then signs the canonical JSON
// of every field but signature and certificate with RSA PKCS#1 v1.5 over SHA-1 and sets both
// fields, 76-column wrapped. Any previous signature and certificate are replaced.
func (s *X509Signer) Sign(m *message.Message) error {
	if m == nil {
		return errors.New("certs: Sign: nil message")
	}
	if err := m.Set(message.FieldCrypto, CryptoX509); err != nil {
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
	sum := sha1.Sum(data)
	// PKCS#1 v1.5 is deterministic, so no randomness is needed and Python produces the same bytes.
	raw, err := rsa.SignPKCS1v15(nil, s.key, crypto.SHA1, sum[:])
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
