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
	"strings"
)

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// firstCN returns the value of the first CN attribute of the subject, which is what fedmsg calls
// the signer. (pkix.Name.CommonName holds the last one.)
func firstCN(c *x509.Certificate) string {
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidCommonName) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
			return fmt.Sprint(atv.Value)
		}
	}
	return ""
}

// SerialHex formats a certificate serial number as OpenSSL prints it: uppercase hex, even length.
func SerialHex(n *big.Int) string { return serialHex(n) }

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	s := strings.ToUpper(n.Text(16))
	if n.Sign() < 0 {
		return "-" + strings.TrimPrefix(s, "-")
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// firstPEMCertificate returns the first CERTIFICATE block of data as a parsed certificate. Text
// before, between or after the blocks is ignored, as OpenSSL does with "openssl x509 -text" dumps.
func firstPEMCertificate(data []byte) (*x509.Certificate, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return c, nil
	}
}

// namesEqual reports whether two DER-encoded names are the same name: byte-equal, or equal after
// OpenSSL-style canonicalisation of string values (ASCII case folded, inner whitespace collapsed,
// outer whitespace trimmed), which lets a PrintableString issuer match a UTF8String subject.
func namesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb pkix.RDNSequence
	if rest, err := asn1.Unmarshal(a, &ra); err != nil || len(rest) != 0 {
		return false
	}
	if rest, err := asn1.Unmarshal(b, &rb); err != nil || len(rest) != 0 {
		return false
	}
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if len(ra[i]) != len(rb[i]) {
			return false
		}
		for j := range ra[i] {
			x, y := ra[i][j], rb[i][j]
			if !x.Type.Equal(y.Type) {
				return false
			}
			xs, xok := x.Value.(string)
			ys, yok := y.Value.(string)
			if xok != yok {
				return false
			}
			if xok {
				if canonString(xs) != canonString(ys) {
					return false
				}
				continue
			}
			if fmt.Sprint(x.Value) != fmt.Sprint(y.Value) {
				return false
			}
		}
	}
	return true
}

func canonString(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// issuedBy checks that leaf names ca as its issuer and carries a valid signature by ca's key.
// SHA-1 certificate signatures are allowed on purpose: CheckSignature permits them, as OpenSSL
// at fedmsg's security level does.
func issuedBy(leaf, ca *x509.Certificate) error {
	if !namesEqual(leaf.RawIssuer, ca.RawSubject) {
		return fmt.Errorf("issuer %q is not the CA %q", leaf.Issuer.String(), ca.Subject.String())
	}
	if err := ca.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
		return fmt.Errorf("issuer signature does not verify with the CA key (another CA with the same name?): %v", err)
	}
	return nil
}

// checkCACapable rejects a trust anchor that OpenSSL would refuse as a CA: basicConstraints
// present with CA:FALSE, or a keyUsage that lacks keyCertSign.
func checkCACapable(ca *x509.Certificate) error {
	if ca.BasicConstraintsValid && !ca.IsCA {
		return errors.New("certificate has basicConstraints CA:FALSE")
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("certificate keyUsage lacks keyCertSign")
	}
	return nil
}
