package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Revoke adds the serial of <dir>/<name>.crt to the CRL and writes a fresh signed crl.pem
// (version 2, CRL number incremented, nextUpdate now + CRLDays). Entries already in the CRL are
// kept, including those of a version 1 CRL. The certificate must have been issued by the CA.
// ErrAlreadyRevoked (wrapped) is returned, and nothing is written, when it is already listed.
func Revoke(dir, name string, opts PKIOptions) (*x509.Certificate, error) {
	o, err := opts.withDefaults(DefaultServiceDays)
	if err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	crtPath := filepath.Join(dir, name+".crt")
	data, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cert, err := firstPEMCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", crtPath, err)
	}
	if err := issuedBy(cert, ca); err != nil {
		return nil, fmt.Errorf("certs: %s was not issued by %s: %v", crtPath, filepath.Join(dir, CAFileName), err)
	}
	rl, err := loadOwnCRL(dir, ca)
	if err != nil {
		return nil, err
	}
	var entries []revokedEntry
	number := big.NewInt(1)
	if rl != nil {
		if rl.isRevoked(cert.SerialNumber) {
			return cert, fmt.Errorf("%w: %s (serial %s)", ErrAlreadyRevoked, name, serialHex(cert.SerialNumber))
		}
		entries = rl.entries
		if rl.number != nil {
			number.Add(rl.number, big.NewInt(1))
		}
	}
	now := o.Now()
	entries = append(entries, revokedEntry{serial: cert.SerialNumber, when: now})
	crlPEM, err := makeCRL(ca, caKey, entries, number, now, o.CRLDays)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, CRLFileName), crlPEM, 0o644, true); err != nil {
		return nil, err
	}
	return cert, nil
}

// RefreshCRL re-signs crl.pem with the same entries, a new CRL number and nextUpdate now +
// CRLDays. Run it (from cron, say) well before nextUpdate: an expired CRL fails every message.
func RefreshCRL(dir string, opts PKIOptions) error {
	o, err := opts.withDefaults(DefaultServiceDays)
	if err != nil {
		return err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return err
	}
	rl, err := loadOwnCRL(dir, ca)
	if err != nil {
		return err
	}
	var entries []revokedEntry
	number := big.NewInt(1)
	if rl != nil {
		entries = rl.entries
		if rl.number != nil {
			number.Add(rl.number, big.NewInt(1))
		}
	}
	crlPEM, err := makeCRL(ca, caKey, entries, number, o.Now(), o.CRLDays)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, CRLFileName), crlPEM, 0o644, true)
}

// loadOwnCRL reads dir's crl.pem (nil when absent) and checks that ca issued it, so that Revoke
// never merges or re-signs entries from somebody else's CRL.
func loadOwnCRL(dir string, ca *x509.Certificate) (*revocationList, error) {
	p := filepath.Join(dir, CRLFileName)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	rl, err := parseCRL(data)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", p, err)
	}
	if err := rl.checkIssuer(ca); err != nil {
		return nil, fmt.Errorf("certs: %s: %w", p, err)
	}
	return rl, nil
}

// makeCRL signs a version 2 CRL with the given entries.
func makeCRL(ca *x509.Certificate, key crypto.Signer, entries []revokedEntry, number *big.Int, now time.Time, crlDays int) ([]byte, error) {
	next := now.Add(days(crlDays))
	if next.After(ca.NotAfter) {
		next = ca.NotAfter
	}
	tmpl := &x509.RevocationList{
		Number:     number,
		ThisUpdate: now.Add(-Backdate),
		NextUpdate: next,
	}
	for _, e := range entries {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: e.serial, RevocationTime: e.when.UTC()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}
