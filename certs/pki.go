package certs

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside an ssldir, as fedmsg expects them (ca_cert_location, crl_location,
// <ssldir>/<certname>.crt and .key).
const (
	CAFileName    = "ca.crt"
	CAKeyFileName = "ca.key"
	CRLFileName   = "crl.pem"
)

// Defaults of PKIOptions.
const (
	DefaultCADays      = 3650 // CA validity: 10 years
	DefaultServiceDays = 730  // service certificate validity: 2 years
	DefaultCRLDays     = 365  // CRL nextUpdate: a year, so a forgotten CRL does not break the bus soon
	DefaultBits        = 2048 // RSA key size
	DefaultCAName      = "ackmsg CA"
	// Backdate is subtracted from notBefore and thisUpdate so that hosts whose clocks lag behind
	// the issuing host accept fresh certificates and CRLs (a CRL "not yet valid" fails every
	// message on the bus).
	Backdate = time.Hour
)

// Key types of PKIOptions.KeyType.
const (
	// KeyRSA makes RSA keys of PKIOptions.Bits: certificates every fedmsg peer can use (crypto x509).
	KeyRSA = "rsa"
	// KeyEd25519 makes Ed25519 keys: service certificates sign under crypto x509-ed25519, which
	// only ackmsg verifies (and Python fedmsg rejects). An Ed25519 CA signs certificates and CRLs
	// with Ed25519, which fedmsg's OpenSSL check may not accept: prefer an RSA CA on mixed buses.
	KeyEd25519 = "ed25519"
)

// ErrExists is returned when a file would be overwritten without PKIOptions.Force.
var ErrExists = errors.New("certs: file exists (use force to overwrite)")

// ErrAlreadyRevoked is returned by Revoke when the certificate is already in the CRL.
var ErrAlreadyRevoked = errors.New("certs: certificate already revoked")

// PKIOptions tunes InitCA, Issue, Revoke, RefreshCRL and List. Zero fields take the defaults.
type PKIOptions struct {
	// Days is the validity of the new certificate. Default DefaultCADays for InitCA,
	// DefaultServiceDays for Issue. A service certificate never outlives its CA.
	Days int
	// KeyType is the type of the new key, KeyRSA or KeyEd25519. Default KeyRSA.
	KeyType string
	// Bits is the RSA key size, 1024..16384. Default DefaultBits (2048). Ignored for Ed25519.
	Bits int
	// CRLDays is the time until the CRL's nextUpdate. Default DefaultCRLDays (365). Verifiers
	// reject every message once it passes: re-sign the CRL (RefreshCRL) well before.
	CRLDays int
	// Force allows overwriting existing files (InitCA, Issue).
	Force bool
	// CommonName is the CA's CN (InitCA only). Default DefaultCAName.
	CommonName string
	// Organization is put in the subject of new certificates when set.
	Organization string
	// Hosts are the DNS names and IP addresses a service certificate is for (Issue only): its
	// subjectAltName, which TLS clients check against the name they dial (a broker's or any
	// server's certificate). Default none: a certificate for signing and for TLS client login.
	Hosts []string
	// NoCurve leaves the CURVE key pair out (Issue only): no URI subjectAltName and no .curve
	// file, for a TLS server outside the bus (a broker) whose clients' hostname checks fail on
	// the URI (Twisted's service_identity 18.1, pyca/service-identity#38). Such a certificate
	// cannot take part in transport_security = "curve".
	NoCurve bool
	// Now is the clock. Default time.Now.
	Now func() time.Time

	// newKey replaces key generation in tests (fixed keys keep -race runs fast).
	newKey func(bits int) (*rsa.PrivateKey, error)
}

func (o PKIOptions) generateKey() (crypto.Signer, error) {
	if o.KeyType == KeyEd25519 {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	if o.newKey != nil {
		return o.newKey(o.Bits)
	}
	return rsa.GenerateKey(rand.Reader, o.Bits)
}

func (o PKIOptions) withDefaults(days int) (PKIOptions, error) {
	if o.Days == 0 {
		o.Days = days
	}
	if o.Bits == 0 {
		o.Bits = DefaultBits
	}
	if o.KeyType == "" {
		o.KeyType = KeyRSA
	}
	if o.CRLDays == 0 {
		o.CRLDays = DefaultCRLDays
	}
	if o.CommonName == "" {
		o.CommonName = DefaultCAName
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Days < 0:
		return o, fmt.Errorf("certs: validity of %d days", o.Days)
	case o.CRLDays < 0:
		return o, fmt.Errorf("certs: CRL validity of %d days", o.CRLDays)
	case o.KeyType != KeyRSA && o.KeyType != KeyEd25519:
		return o, fmt.Errorf("certs: key type %q (want %s or %s)", o.KeyType, KeyRSA, KeyEd25519)
	case o.KeyType == KeyRSA && (o.Bits < 1024 || o.Bits > 16384):
		return o, fmt.Errorf("certs: RSA key size %d outside 1024..16384", o.Bits)
	}
	return o, nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// InitCA creates a CA in dir (created if missing): ca.crt, ca.key (mode 0600) and an empty,
// signed crl.pem. The CA is self-signed, basicConstraints CA:TRUE pathlen 0 (no intermediates),
// keyUsage keyCertSign|cRLSign, with a subject key identifier.
func InitCA(dir string, opts PKIOptions) (*x509.Certificate, error) {
	o, err := opts.withDefaults(DefaultCADays)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	paths := []string{filepath.Join(dir, CAFileName), filepath.Join(dir, CAKeyFileName), filepath.Join(dir, CRLFileName)}
	if !o.Force {
		if err := refuseExisting(paths...); err != nil {
			return nil, err
		}
	}
	key, err := o.generateKey()
	if err != nil {
		return nil, fmt.Errorf("certs: generating CA key: %w", err)
	}
	now := o.Now()
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject(o.CommonName, o.Organization),
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(days(o.Days)),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	crlPEM, err := makeCRL(ca, key, nil, big.NewInt(1), now, o.CRLDays)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	// Key first: a CA certificate without its key would be useless.
	if err := writeFileAtomic(paths[1], keyPEM, 0o600, o.Force); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(paths[0], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, o.Force); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(paths[2], crlPEM, 0o644, o.Force); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue creates <dir>/<name>.crt and <dir>/<name>.key (mode 0600) for a service: CN = name, a
// random 128-bit serial, keyUsage digitalSignature|keyEncipherment, EKU clientAuth+serverAuth, and
// the CA's key identifier as authority key identifier. It also issues the service's CURVE key
// pair: the public key goes into the certificate (see CertCurveKey), the secret key into
// <dir>/<name>.curve (mode 0600); with opts.NoCurve it issues none.
func Issue(dir, name string, opts PKIOptions) (*x509.Certificate, error) {
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
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	curvePath := filepath.Join(dir, name+CurveKeyExt)
	if !o.Force {
		if err := refuseExisting(crtPath, keyPath, curvePath); err != nil {
			return nil, err
		}
	}
	now := o.Now()
	if now.After(ca.NotAfter) {
		return nil, fmt.Errorf("certs: the CA expired on %s", fmtTime(ca.NotAfter))
	}
	key, err := o.generateKey()
	if err != nil {
		return nil, fmt.Errorf("certs: generating key: %w", err)
	}
	var curvePublic, curveSecret CurveKey
	if !o.NoCurve {
		if curvePublic, curveSecret, err = newCurveKeyPair(); err != nil {
			return nil, err
		}
	}
	tmpl, err := serviceTemplate(name, o, ca, now, key, curvePublic)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600, o.Force); err != nil {
		return nil, err
	}
	if o.NoCurve {
		// A reissue without CURVE must not leave an older key pair beside the certificate.
		if err := os.Remove(curvePath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	} else if err := writeFileAtomic(curvePath, encodeCurveSecret(curveSecret), 0o600, o.Force); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, o.Force); err != nil {
		return nil, err
	}
	return cert, nil
}

// serviceTemplate is the certificate Issue asks the CA to sign for name: a random serial, the
// validity clipped to the CA's, the key usages the key type allows, the organization of the CA
// unless o names one, the CURVE public key (unless o.NoCurve) and o.Hosts as subjectAltNames.
func serviceTemplate(name string, o PKIOptions, ca *x509.Certificate, now time.Time, key crypto.Signer, curvePublic CurveKey) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(days(o.Days))
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter // OpenSSL would reject the leaf once the CA expires anyway
	}
	keyUsage := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	if o.KeyType == KeyEd25519 {
		keyUsage = x509.KeyUsageDigitalSignature // an Ed25519 key cannot encipher
	}
	org := o.Organization
	if org == "" && len(ca.Subject.Organization) > 0 {
		org = ca.Subject.Organization[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject(name, org),
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              keyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		SubjectKeyId:          skid,
	}
	if !o.NoCurve {
		tmpl.URIs = []*url.URL{curveURI(curvePublic)}
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl, nil
}

// Certificate status values reported by List.
const (
	StatusValid       = "valid"
	StatusRevoked     = "revoked"
	StatusExpired     = "expired"
	StatusNotYetValid = "not-yet-valid"
	StatusForeign     = "foreign" // not issued by this directory's CA
)

// checkName refuses names that are not plain file names or that collide with the CA's files.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("certs: empty certificate name")
	case name == "ca":
		return fmt.Errorf("certs: %q is reserved for the CA", name)
	case strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-"):
		return fmt.Errorf("certs: %q is not usable as a file name", name)
	}
	return nil
}

func subject(cn, org string) pkix.Name {
	n := pkix.Name{CommonName: cn}
	if org != "" {
		n.Organization = []string{org}
	}
	return n
}

// randomSerial returns a positive 128-bit random serial, the size CAs use so serials never collide.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: random serial: %w", err)
	}
	return n.Add(n, new(big.Int).Lsh(big.NewInt(1), 127)), nil // fixed length, never zero
}

// subjectKeyID is RFC 5280 method 1: SHA-1 of the subjectPublicKey bits.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// loadCA reads ca.crt and ca.key of dir.
func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	caPath, keyPath := filepath.Join(dir, CAFileName), filepath.Join(dir, CAKeyFileName)
	data, err := os.ReadFile(caPath)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w (run init-ca first?)", err)
	}
	ca, err := firstPEMCertificate(data)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %s: %w", caPath, err)
	}
	data, err = os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %s: %w", keyPath, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("certs: %s does not match %s", keyPath, caPath)
	}
	return ca, key, nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file in the same directory and then moves it into
// place, so readers (a verifier polling crl.pem) never see a half-written file. Without overwrite
// the final step is a hard link, which fails if path appeared in the meantime.
func writeFileAtomic(path string, data []byte, perm os.FileMode, overwrite bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: writing %s: %w", path, err)
	}
	if overwrite {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
