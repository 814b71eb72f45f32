package certs

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CertInfo describes one certificate of an ssldir.
type CertInfo struct {
	Name      string // file name without .crt
	CN        string // first CN
	Serial    string // uppercase hex
	KeyType   string // "RSA-<bits>", "Ed25519", or the algorithm name for others
	NotBefore time.Time
	NotAfter  time.Time
	Status    string // one of the Status* constants
	CurveKey  string // the CURVE public key in Z85, "" when the certificate carries none
}

// CRLInfo describes the ssldir's crl.pem.
type CRLInfo struct {
	Version    int
	Number     string // decimal, empty when absent
	ThisUpdate time.Time
	NextUpdate time.Time // zero when absent
	Revoked    int
	// Problem is empty when the CRL is issued by the CA and current, else says why not.
	Problem string
}

// Inventory is what List found.
type Inventory struct {
	CA    CertInfo
	CRL   *CRLInfo // nil when crl.pem is absent
	Certs []CertInfo
}

// List describes the CA, the CRL and every <name>.crt of dir, sorted by name. The status of a
// certificate is foreign, revoked, not-yet-valid, expired or valid, checked in that order.
func List(dir string, opts PKIOptions) (*Inventory, error) {
	o, err := opts.withDefaults(DefaultServiceDays)
	if err != nil {
		return nil, err
	}
	now := o.Now()
	caPath := filepath.Join(dir, CAFileName)
	data, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	ca, err := firstPEMCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", caPath, err)
	}
	inv := &Inventory{CA: certInfo("ca", ca, now)}
	var rl *revocationList
	if data, err := os.ReadFile(filepath.Join(dir, CRLFileName)); err == nil {
		info := &CRLInfo{}
		if rl, err = parseCRL(data); err != nil {
			info.Problem = err.Error()
		} else {
			info.Version, info.ThisUpdate, info.NextUpdate, info.Revoked = rl.version, rl.thisUpdate, rl.nextUpdate, len(rl.entries)
			if rl.number != nil {
				info.Number = rl.number.String()
			}
			if err := rl.checkIssuer(ca); err != nil {
				info.Problem = err.Error()
				rl = nil
			} else if err := rl.checkTime(now); err != nil {
				info.Problem = err.Error()
			}
		}
		inv.CRL = info
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if rl != nil && rl.isRevoked(ca.SerialNumber) {
		inv.CA.Status = StatusRevoked
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, err
	}
	for _, p := range matches {
		name := strings.TrimSuffix(filepath.Base(p), ".crt")
		if filepath.Base(p) == CAFileName {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		cert, err := firstPEMCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %w", p, err)
		}
		info := certInfo(name, cert, now)
		switch {
		case issuedBy(cert, ca) != nil:
			info.Status = StatusForeign
		case rl != nil && rl.isRevoked(cert.SerialNumber):
			info.Status = StatusRevoked
		}
		inv.Certs = append(inv.Certs, info)
	}
	sort.Slice(inv.Certs, func(i, j int) bool { return inv.Certs[i].Name < inv.Certs[j].Name })
	return inv, nil
}

func certInfo(name string, c *x509.Certificate, now time.Time) CertInfo {
	info := CertInfo{Name: name, CN: firstCN(c), Serial: serialHex(c.SerialNumber), KeyType: keyTypeName(c),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: StatusValid}
	if k, err := CertCurveKey(c); err == nil {
		info.CurveKey = k.String()
	}
	switch {
	case now.Before(c.NotBefore):
		info.Status = StatusNotYetValid
	case now.After(c.NotAfter):
		info.Status = StatusExpired
	}
	return info
}

// keyTypeName describes the certificate's public key for List.
func keyTypeName(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}
