package certs

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The ASN.1 shapes of RFC 5280 §5.1. We parse CRLs ourselves because x509.ParseRevocationList
// rejects version 1 CRLs, which fedmsg's test PKI and easy-rsa produce (reference §3.10), and the
// older x509.ParseCRL is deprecated.
type asn1CertificateList struct {
	TBS                asn1TBSCertList
	SignatureAlgorithm pkix.AlgorithmIdentifier
	SignatureValue     asn1.BitString
}

type asn1TBSCertList struct {
	Raw        asn1.RawContent
	Version    int `asn1:"optional,default:0"`
	Signature  pkix.AlgorithmIdentifier
	Issuer     asn1.RawValue
	ThisUpdate time.Time
	NextUpdate time.Time        `asn1:"optional"`
	Revoked    []asn1CRLEntry   `asn1:"optional"`
	Extensions []pkix.Extension `asn1:"tag:0,optional,explicit"`
}

type asn1CRLEntry struct {
	Serial         *big.Int
	RevocationDate time.Time
	Extensions     []pkix.Extension `asn1:"optional"`
}

var oidCRLNumber = asn1.ObjectIdentifier{2, 5, 29, 20}

// revocationList is a parsed CRL (version 1 or 2).
type revocationList struct {
	version    int // 1 or 2, as printed by OpenSSL
	rawIssuer  []byte
	issuer     pkix.RDNSequence
	thisUpdate time.Time
	nextUpdate time.Time // zero when absent: the CRL then never expires (OpenSSL semantics)
	number     *big.Int  // nil when absent
	entries    []revokedEntry
	revoked    map[string]struct{} // serial bytes -> present
	sigAlg     x509.SignatureAlgorithm
	sigAlgErr  error
	tbs        []byte
	signature  []byte
}

type revokedEntry struct {
	serial *big.Int
	when   time.Time
}

// parseCRL parses the first "X509 CRL" PEM block of data or, when data holds no PEM, data as DER.
func parseCRL(data []byte) (*revocationList, error) {
	der := data
	if bytes.Contains(data, []byte("-----BEGIN")) {
		der = nil
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type == "X509 CRL" {
				der = block.Bytes
				break
			}
		}
		if der == nil {
			return nil, errors.New("no PEM X509 CRL block")
		}
	}
	var cl asn1CertificateList
	rest, err := asn1.Unmarshal(der, &cl)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("parsing CRL: trailing data")
	}
	tbs := &cl.TBS
	if tbs.Version < 0 || tbs.Version > 1 {
		return nil, fmt.Errorf("parsing CRL: unsupported version %d", tbs.Version+1)
	}
	if !tbs.Signature.Algorithm.Equal(cl.SignatureAlgorithm.Algorithm) ||
		!bytes.Equal(tbs.Signature.Parameters.FullBytes, cl.SignatureAlgorithm.Parameters.FullBytes) {
		return nil, errors.New("parsing CRL: inner and outer signature algorithms differ")
	}
	rl := &revocationList{
		version:    tbs.Version + 1,
		rawIssuer:  tbs.Issuer.FullBytes,
		thisUpdate: tbs.ThisUpdate,
		nextUpdate: tbs.NextUpdate,
		revoked:    make(map[string]struct{}, len(tbs.Revoked)),
		tbs:        tbs.Raw,
		signature:  cl.SignatureValue.RightAlign(),
	}
	if rest, err := asn1.Unmarshal(rl.rawIssuer, &rl.issuer); err != nil || len(rest) != 0 {
		return nil, errors.New("parsing CRL: bad issuer name")
	}
	for _, e := range tbs.Revoked {
		if e.Serial == nil {
			return nil, errors.New("parsing CRL: entry without serial")
		}
		rl.entries = append(rl.entries, revokedEntry{serial: e.Serial, when: e.RevocationDate})
		rl.revoked[serialKey(e.Serial)] = struct{}{}
	}
	for _, ext := range tbs.Extensions {
		if ext.Id.Equal(oidCRLNumber) {
			n := new(big.Int)
			if rest, err := asn1.Unmarshal(ext.Value, &n); err == nil && len(rest) == 0 {
				rl.number = n
			}
		}
	}
	rl.sigAlg, rl.sigAlgErr = signatureAlgorithm(cl.SignatureAlgorithm)
	return rl, nil
}

// serialKey is the map key of a serial; the sign tag keeps negative serials (invalid but
// parseable) distinct from positive ones.
func serialKey(n *big.Int) string {
	if n.Sign() < 0 {
		return "-" + string(n.Bytes())
	}
	return "+" + string(n.Bytes())
}

// isRevoked reports whether serial is listed.
func (rl *revocationList) isRevoked(serial *big.Int) bool {
	if serial == nil {
		return false
	}
	_, ok := rl.revoked[serialKey(serial)]
	return ok
}

// checkIssuer verifies that ca issued and signed the CRL and may sign CRLs.
func (rl *revocationList) checkIssuer(ca *x509.Certificate) error {
	if !namesEqual(rl.rawIssuer, ca.RawSubject) {
		return fmt.Errorf("CRL issuer %q is not the CA %q", rl.issuer.String(), ca.Subject.String())
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errors.New("CA keyUsage lacks cRLSign")
	}
	if rl.sigAlgErr != nil {
		return rl.sigAlgErr
	}
	if err := ca.CheckSignature(rl.sigAlg, rl.tbs, rl.signature); err != nil {
		return fmt.Errorf("CRL signature does not verify with the CA key: %v", err)
	}
	return nil
}

// checkTime applies OpenSSL's CRL time rules: thisUpdate in the future or nextUpdate in the past
// make the CRL unusable; a CRL without nextUpdate does not expire.
func (rl *revocationList) checkTime(now time.Time) error {
	if now.Before(rl.thisUpdate) {
		return fmt.Errorf("CRL not yet valid: thisUpdate %s is after now %s", fmtTime(rl.thisUpdate), fmtTime(now))
	}
	if !rl.nextUpdate.IsZero() && now.After(rl.nextUpdate) {
		return fmt.Errorf("CRL expired: nextUpdate %s is before now %s", fmtTime(rl.nextUpdate), fmtTime(now))
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var (
	oidSHA1WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// signatureAlgorithm maps the CRL's AlgorithmIdentifier to crypto/x509's constant. RSA-PSS and
// MD5 are not supported (no CA in this field uses them).
func signatureAlgorithm(ai pkix.AlgorithmIdentifier) (x509.SignatureAlgorithm, error) {
	switch {
	case ai.Algorithm.Equal(oidSHA1WithRSA):
		return x509.SHA1WithRSA, nil
	case ai.Algorithm.Equal(oidSHA256WithRSA):
		return x509.SHA256WithRSA, nil
	case ai.Algorithm.Equal(oidSHA384WithRSA):
		return x509.SHA384WithRSA, nil
	case ai.Algorithm.Equal(oidSHA512WithRSA):
		return x509.SHA512WithRSA, nil
	case ai.Algorithm.Equal(oidECDSAWithSHA1):
		return x509.ECDSAWithSHA1, nil
	case ai.Algorithm.Equal(oidECDSAWithSHA256):
		return x509.ECDSAWithSHA256, nil
	case ai.Algorithm.Equal(oidECDSAWithSHA384):
		return x509.ECDSAWithSHA384, nil
	case ai.Algorithm.Equal(oidECDSAWithSHA512):
		return x509.ECDSAWithSHA512, nil
	case ai.Algorithm.Equal(oidEd25519):
		return x509.PureEd25519, nil
	}
	return x509.UnknownSignatureAlgorithm, fmt.Errorf("unsupported CRL signature algorithm %v", ai.Algorithm)
}
