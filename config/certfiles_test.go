package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveCertname(t *testing.T) {
	certnames := StringMap{
		"shell.app01":    "shell-app01",
		"bodhi.app01":    "bodhi-app01",
		"announce.app01": "announce-app01",
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		host   string
		want   string
		errHas []string
	}{
		{"explicit certname wins", func(c *Config) { c.Certname = "mine"; c.CertPrefix = "shell"; c.Name = "bodhi.app01" }, "app01", "mine", nil},
		{"cert_prefix and short hostname", func(c *Config) { c.CertPrefix = "shell"; c.Name = "bodhi.app01" }, "app01.phx2.fedoraproject.org", "shell-app01", nil},
		{"cert_prefix announce", func(c *Config) { c.CertPrefix = "announce" }, "app01", "announce-app01", nil},
		{"name as index", func(c *Config) { c.Name = "bodhi.app01" }, "ignored", "bodhi-app01", nil},
		{"relay_inbound name means shell", func(c *Config) { c.Name = "relay_inbound" }, "app01.example.org", "shell-app01", nil},
		{"active without name borrows no identity", func(c *Config) { c.Active = true }, "app01", "", []string{"certname: missing: signing needs certname"}},
		{"active with name uses name", func(c *Config) { c.Active = true; c.Name = "bodhi.app01" }, "app01", "bodhi-app01", nil},
		{"missing entry names the index", func(c *Config) { c.Name = "koji.hub01" }, "hub01", "",
			[]string{`certnames."koji.hub01": missing: no certnames entry for "koji.hub01" (index from name)`, "set certname"}},
		{"missing prefixed entry says how", func(c *Config) { c.CertPrefix = "shell" }, "web02.example.org", "",
			[]string{`certnames."shell.web02"`, `cert_prefix "shell" and host "web02"`}},
		{"nothing to look up with", func(c *Config) {}, "app01", "", []string{"certname: missing: signing needs certname"}},
		{"bad certnames value", func(c *Config) { c.Name = "x"; c.Certnames["x"] = "../x" }, "h", "", []string{"not a path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			for k, v := range certnames {
				c.Certnames[k] = v
			}
			tc.modify(&c)
			got, err := c.ResolveCertname(tc.host)
			if tc.errHas != nil {
				wantErr(t, err, tc.errHas...)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveCertname(%q) = %q, %v; want %q", tc.host, got, err, tc.want)
			}
		})
	}
}

func TestResolveCertnameOSHostname(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	short, _, _ := strings.Cut(h, ".")
	c := DefaultConfig()
	c.CertPrefix = "shell"
	c.Certnames["shell."+short] = "found"
	if got, err := c.ResolveCertname(""); err != nil || got != "found" {
		t.Fatalf("ResolveCertname(\"\") = %q, %v; want found", got, err)
	}
}

func TestSigningFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"both.crt": "c", "both.key": "k", "crtonly.crt": "c"})
	if err := os.Mkdir(filepath.Join(dir, "dir.crt"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"dir.key": "k"})

	c := DefaultConfig()
	c.SSLDir = dir
	c.Name = "svc.host"
	c.Certnames["svc.host"] = "both"
	cert, key, err := c.SigningFiles("host")
	if err != nil || cert != filepath.Join(dir, "both.crt") || key != filepath.Join(dir, "both.key") {
		t.Fatalf("SigningFiles = %q, %q, %v", cert, key, err)
	}

	c.Certnames["svc.host"] = "crtonly"
	_, _, err = c.SigningFiles("host")
	wantErr(t, err, "config: "+filepath.Join(dir, "crtonly.key")+`: key certnames."svc.host": cannot read the signing private key: no such file`)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is(err, fs.ErrNotExist) = false")
	}

	c.Certname = "none"
	_, _, err = c.SigningFiles("host")
	wantErr(t, err, "2 problems", filepath.Join(dir, "none.crt")+": key certname: cannot read the signing certificate",
		filepath.Join(dir, "none.key")+": key certname: cannot read the signing private key")

	c.Certname = "dir"
	_, _, err = c.SigningFiles("host")
	wantErr(t, err, filepath.Join(dir, "dir.crt"), "is a directory")

	c.Certname, c.SSLDir = "both", ""
	_, _, err = c.SigningFiles("host")
	wantErr(t, err, "ssldir: missing")
}

func TestTrustFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ca.crt": "ca", "crl.pem": "crl", "other-ca.pem": "ca"})
	c := DefaultConfig()
	c.SSLDir = dir

	ca, crl, err := c.TrustFiles()
	if err != nil || ca != filepath.Join(dir, "ca.crt") || crl != "" {
		t.Fatalf("TrustFiles = %q, %q, %v; want <ssldir>/ca.crt and no CRL", ca, crl, err)
	}

	c.CACertLocation = filepath.Join(dir, "other-ca.pem")
	c.CRLLocation = filepath.Join(dir, "crl.pem")
	ca, crl, err = c.TrustFiles()
	if err != nil || ca != c.CACertLocation || crl != c.CRLLocation {
		t.Fatalf("TrustFiles = %q, %q, %v", ca, crl, err)
	}

	c.CACertLocation = ""
	c.SSLDir = filepath.Join(dir, "nope")
	c.CRLLocation = filepath.Join(dir, "nocrl.pem")
	_, _, err = c.TrustFiles()
	wantErr(t, err, filepath.Join(dir, "nope", "ca.crt")+": key ssldir: cannot read the CA certificate",
		filepath.Join(dir, "nocrl.pem")+": key crl_location: cannot read the CRL")

	// fedmsg's stock URLs are kept as URLs, for the verifier to download; nothing is read here.
	c.CACertLocation = "https://fedoraproject.org/fedmsg/ca.crt"
	c.CRLLocation = "https://fedoraproject.org/fedmsg/crl.pem"
	ca, crl, err = c.TrustFiles()
	if err != nil || ca != c.CACertLocation || crl != c.CRLLocation {
		t.Fatalf("TrustFiles = %q, %q, %v; want the URLs", ca, crl, err)
	}

	c.CACertLocation = "ftp://example.org/ca.crt"
	c.CRLLocation = "file:///etc/crl.pem"
	_, _, err = c.TrustFiles()
	wantErr(t, err, "ca_cert_location: not supported", "crl_location: not supported")
}
