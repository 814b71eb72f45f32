// Package configtest builds the configurations tests run on: a valid loopback bus with the
// vector PKI (testdata/vectors/pki). It sits beside package config, above the components, so
// that the test kit under internal/ imports no configuration.
package configtest

import (
	"path/filepath"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// Config returns a valid configuration with topic prefix org.example, environment test, and
// the given endpoints; it names no publisher and signs nothing.
func Config(endpoints map[string][]string) *config.Config {
	c := config.DefaultConfig()
	c.TopicPrefix = "org.example"
	c.Environment = "test"
	c.Endpoints = config.ListMap(endpoints)
	c.ZMQLinger = 0
	return &c
}

// Sign makes c sign with the vector PKI certificate name and validate against its CA and CRL.
func Sign(c *config.Config, name string) *config.Config {
	c.SignMessages = true
	c.ValidateSignatures = true
	c.SSLDir = testbus.PKIDir()
	c.Certname = name
	c.CACertLocation = filepath.Join(testbus.PKIDir(), "ca.crt")
	c.CRLLocation = filepath.Join(testbus.PKIDir(), "crl.pem")
	return c
}

// Curve makes c run transport_security = "curve" as certificate name of the PKI in dir, checked
// against its CA and CRL, with the relay's endpoints served by the certificate "relay".
func Curve(c *config.Config, dir, name string) *config.Config {
	c.TransportSecurity = config.SecurityCurve
	c.SSLDir = dir
	c.Certname = name
	c.CACertLocation = filepath.Join(dir, "ca.crt")
	c.CRLLocation = filepath.Join(dir, "crl.pem")
	c.Certnames = config.StringMap{config.RelayInboundKey: "relay", config.RelayOutboundKey: "relay"}
	return c
}
