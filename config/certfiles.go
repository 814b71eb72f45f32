package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ResolveCertname returns the prefix of the signing certificate's files in ssldir, as fedmsg looks
// it up when signing (reference §3.9), with hostname standing for this machine ("" means
// os.Hostname(); only the part before the first dot is used):
//
//   - an explicit certname wins;
//   - else, when cert_prefix is set, the certnames index is "<cert_prefix>.<short hostname>";
//   - else the index is name, except that a name of "relay_inbound" gives "shell.<short hostname>"
//     (fedmsg's shell tools);
//   - with none of certname, cert_prefix and name there is no identity to sign as: an error (an
//     active publisher does not quietly sign as "shell.<short hostname>", the shell tools'
//     certificate);
//   - certnames[index] is the result. A missing entry is an error naming the index and how it was
//     derived (fedmsg raised a KeyError on the first publish).
func (c *Config) ResolveCertname(hostname string) (string, error) {
	name, _, err := c.resolveCertname(hostname)
	return name, err
}

// resolveCertname also returns the key the certificate name came from, for error messages.
func (c *Config) resolveCertname(hostname string) (certname, key string, err error) {
	if c.Certname != "" {
		return c.Certname, "certname", nil
	}
	short := func() (string, error) {
		h := hostname
		if h == "" {
			var err error
			if h, err = os.Hostname(); err != nil {
				return "", fmt.Errorf("config: cannot find the host name for the certnames index: %w", err)
			}
		}
		h, _, _ = strings.Cut(h, ".")
		if h == "" {
			return "", errors.New("config: empty host name for the certnames index")
		}
		return h, nil
	}
	var index, how string
	switch {
	case c.CertPrefix != "":
		h, err := short()
		if err != nil {
			return "", "", err
		}
		index = c.CertPrefix + "." + h
		how = fmt.Sprintf("cert_prefix %q and host %q", c.CertPrefix, h)
	case c.Name == RelayInboundKey:
		h, err := short()
		if err != nil {
			return "", "", err
		}
		index = "shell." + h
		how = fmt.Sprintf("name relay_inbound signs as shell.<host>, host %q", h)
	case c.Name != "":
		index = c.Name
		how = "name"
	default:
		return "", "", &KeyError{Key: "certname", Err: fmt.Errorf("%w: signing needs certname, or "+
			"cert_prefix or name to look one up in certnames (nothing names this program's own certificate)", ErrMissing)}
	}
	key = subKey("certnames", index)
	certname, ok := c.Certnames[index]
	if !ok {
		return "", key, &KeyError{Key: key, Err: fmt.Errorf("%w: no certnames entry for %q (index from %s); "+
			"add one, or set certname", ErrMissing, index, how)}
	}
	if err := checkCertname(certname); err != nil {
		return "", key, &KeyError{Key: key, Source: c.Source(key), Err: err}
	}
	return certname, key, nil
}

// SigningFiles returns the signing certificate and private key paths,
// "<ssldir>/<certname>.crt" and "<ssldir>/<certname>.key", with the certificate name from
// [Config.ResolveCertname]. It checks that both files can be read; a failure names each file that
// cannot, and the key its name came from.
func (c *Config) SigningFiles(hostname string) (cert, key string, err error) {
	certname, from, err := c.resolveCertname(hostname)
	if err != nil {
		return "", "", err
	}
	if c.SSLDir == "" {
		return "", "", &KeyError{Key: "ssldir", Source: c.Source("ssldir"), Err: fmt.Errorf("%w: empty, "+
			"but signing needs <ssldir>/%s.crt and .key", ErrMissing, certname)}
	}
	cert = filepath.Join(c.SSLDir, certname+".crt")
	key = filepath.Join(c.SSLDir, certname+".key")
	var errs errorList
	errs.add(checkReadable(cert, from, "signing certificate"))
	errs.add(checkReadable(key, from, "signing private key"))
	if err := errs.err(); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

// CACertFile returns the CA certificate path: ca_cert_location, or "<ssldir>/ca.crt" when that is
// empty.
func (c *Config) CACertFile() string {
	if c.CACertLocation != "" {
		return c.CACertLocation
	}
	return filepath.Join(c.SSLDir, "ca.crt")
}

// TrustFiles returns the CA certificate location (see [Config.CACertFile]) and the CRL location
// ("" when crl_location is empty: no CRL check), after checking that local files can be read. An
// http(s) URL is returned as it is: the verifier downloads it (see [IsURL]). A failure names the
// file and the key.
func (c *Config) TrustFiles() (ca, crl string, err error) {
	var errs errorList
	ca = c.CACertFile()
	caKey := "ca_cert_location"
	if c.CACertLocation == "" {
		caKey = "ssldir" // the CA path is derived from it
	}
	if err := checkLocation(c.CACertLocation); err != nil {
		errs.add(&KeyError{Key: "ca_cert_location", Source: c.Source("ca_cert_location"), Err: err})
	} else if !IsURL(ca) {
		errs.add(checkReadable(ca, caKey, "CA certificate"))
	}
	crl = c.CRLLocation
	if err := checkLocation(crl); err != nil {
		errs.add(&KeyError{Key: "crl_location", Source: c.Source("crl_location"), Err: err})
	} else if crl != "" && !IsURL(crl) {
		errs.add(checkReadable(crl, "crl_location", "CRL"))
	}
	if err := errs.err(); err != nil {
		return "", "", err
	}
	return ca, crl, nil
}

// checkReadable opens path to prove it is a readable file.
func checkReadable(path, key, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return &FileError{File: path, Key: key, Err: fmt.Errorf("cannot read the %s: %w", what, pathErr(err))}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = errors.New("is a directory")
	}
	if err != nil {
		return &FileError{File: path, Key: key, Err: fmt.Errorf("cannot read the %s: %w", what, pathErr(err))}
	}
	return nil
}
