package certs

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels wrapped by *VerifyError; test them with errors.Is. Each names one step of the
// verification order described in the package documentation.
var (
	// ErrUnsigned means the envelope lacks a signature or certificate field.
	ErrUnsigned = errors.New("certs: message is not signed")
	// ErrCrypto means the crypto value (or the backend it selects) is not allowed or not supported.
	ErrCrypto = errors.New("certs: crypto backend not allowed")
	// ErrEncoding means the signature or certificate field cannot be decoded (base64, PEM, X.509).
	ErrEncoding = errors.New("certs: undecodable signature or certificate")
	// ErrUntrusted means the certificate was not issued by the trusted CA.
	ErrUntrusted = errors.New("certs: certificate not issued by the trusted CA")
	// ErrExpired means the leaf or the CA certificate is not valid at the current time.
	ErrExpired = errors.New("certs: certificate not valid now")
	// ErrRevoked means the CRL lists the leaf (or the CA).
	ErrRevoked = errors.New("certs: certificate revoked")
	// ErrCRL means the CRL cannot be used: expired, not yet valid, not issued or not signed by the CA.
	ErrCRL = errors.New("certs: CRL unusable")
	// ErrSignature means the signature does not match the canonical bytes (tampered message).
	ErrSignature = errors.New("certs: bad signature")
	// ErrPolicy means the routing policy (or nitpicky mode) does not allow this signer on this topic.
	ErrPolicy = errors.New("certs: routing policy forbids signer")
	// ErrSigner means the message is valid but not signed by the required name (VerifySignedBy).
	ErrSigner = errors.New("certs: signed by someone else")
)

// Names of the verification checks, as reported in VerifyError.Check.
const (
	CheckCrypto    = "crypto"
	CheckFields    = "fields"
	CheckEncoding  = "encoding"
	CheckIssuer    = "issuer"
	CheckDates     = "dates"
	CheckCRL       = "crl"
	CheckRevoked   = "revocation"
	CheckSignature = "signature"
	CheckPolicy    = "policy"
	CheckSigner    = "signer"
)

// VerifyError reports which verification check failed and for whom. Err wraps exactly one of the
// package sentinels (ErrUnsigned ... ErrSigner) together with the details.
type VerifyError struct {
	// Check is the failing step, one of the Check* constants.
	Check string
	// Subject is the signer certificate's subject, empty when it could not be parsed.
	Subject string
	// Serial is the signer certificate's serial number in hex, empty when unknown.
	Serial string
	// MsgID is the envelope's msg_id, empty when absent.
	MsgID string
	// Err wraps the sentinel.
	Err error
}

// Error says which check failed, for which signer and message, and why.
func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("certs: ")
	b.WriteString(e.Check)
	b.WriteString(" check failed for ")
	if e.Subject != "" {
		fmt.Fprintf(&b, "%q", e.Subject)
		if e.Serial != "" {
			b.WriteString(" (serial " + e.Serial + ")")
		}
	} else {
		b.WriteString("unknown signer")
	}
	if e.MsgID != "" {
		fmt.Fprintf(&b, ", msg_id %q", e.MsgID)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "certs: "))
	}
	return b.String()
}

// Unwrap returns the wrapped error, so errors.Is(err, ErrRevoked) works.
func (e *VerifyError) Unwrap() error { return e.Err }

// failure is a check result before the message context (msg_id, subject) is attached.
type failure struct {
	check string
	err   error
}

func fail(check string, sentinel error, format string, args ...any) *failure {
	return &failure{check: check, err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
