package config

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
)

func TestGatewayLoad(t *testing.T) {
	if g := DefaultConfig().Gateway; g.Bind != "tcp://*:9940" || g.HWM != 1000 {
		t.Fatalf("gateway defaults %+v, want fedmsg-gateway's port 9940 and hwm 1000", g)
	}
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10-gw.toml": "[gateway]\nbind = \"tcp://*:9941\"\nhwm = 50\n" +
		"topics = [\"org.example.*.bodhi.#\"]\nhttp_address = \"127.0.0.1:9114\"\nsecurity = \"none\"\ncurve_allow = [\"outside\"]\nvalidate_signatures = true\n"})
	c := mustLoad(t, opts)
	g := c.Gateway
	if g.Bind != "tcp://*:9941" || g.HWM != 50 || len(g.Topics) != 1 || g.HTTPAddress != "127.0.0.1:9114" || g.Security != "none" || len(g.CurveAllow) != 1 || !g.ValidateSignatures {
		t.Fatalf("gateway %+v", g)
	}
	if src := c.Source("gateway.hwm"); !strings.HasSuffix(src, "10-gw.toml") {
		t.Errorf("source of gateway.hwm = %q", src)
	}
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "[gateway]\n  bind = \"tcp://*:9941\"\n  hwm = 50") {
		t.Errorf("--print-config lacks the gateway table:\n%s", b.String())
	}
}

func TestGatewayErrors(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "[gateway]\nhwmm = 1\n", []string{"gateway.hwmm", "did you mean hwm?"}},
		{"negative hwm", "[gateway]\nhwm = -1\n", []string{"gateway.hwm", "below 0"}},
		{"empty bind", "[gateway]\nbind = \"\"\n", []string{"gateway.bind", "empty"}},
		{"bad topic", "[gateway]\ntopics = [\"org..x\"]\n", []string{"gateway.topics[0]", "topic pattern"}},
		{"security", "[gateway]\nsecurity = \"tls\"\n", []string{"gateway.security", `"tls"`}},
		{"http address", "[gateway]\nhttp_address = \"nope\"\n", []string{"gateway.http_address", "want host:port"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"a.toml": c.file})
			_, err := Load(opts)
			wantErr(t, err, c.want...)
		})
	}
}

// The outward side follows transport_security unless gateway.security says otherwise, and its
// CURVE keys admit gateway.curve_allow, not curve_allow.
func TestGatewayOutward(t *testing.T) {
	c := DefaultConfig()
	if s := c.GatewayOutward(); s.Curve() {
		t.Fatal("plaintext bus, default gateway: outward runs CURVE")
	}
	c.Gateway.Security = SecurityCurve
	if s := c.GatewayOutward(); !s.Curve() {
		t.Fatal("gateway.security curve: outward is plaintext")
	}
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := certs.InitCA(dir, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"gateway", "inside", "outside"} {
		if _, err := certs.Issue(dir, n, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
			t.Fatal(err)
		}
	}
	c.TransportSecurity, c.SSLDir, c.Certname = SecurityCurve, dir, "gateway"
	c.CACertLocation, c.CRLLocation = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem")
	c.CurveAllow = []string{"inside"}
	c.Gateway.Security, c.Gateway.CurveAllow = "", []string{"outside"}
	key := func(name string) string {
		t.Helper()
		pub, _, err := certs.LoadCurveKeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+certs.CurveKeyExt))
		if err != nil {
			t.Fatal(err)
		}
		return pub.String()
	}
	out, bus := c.GatewayOutward(), c.Security()
	if !out.Curve() {
		t.Fatal("transport_security curve, gateway.security \"\": outward is plaintext")
	}
	if id, err := out.Keys.Authenticate(key("outside")); err != nil || id != "outside" {
		t.Errorf("outward refuses outside: %q %v", id, err)
	}
	if _, err := out.Keys.Authenticate(key("inside")); err == nil {
		t.Error("outward admits inside, who is not in gateway.curve_allow")
	}
	if _, err := bus.Keys.Authenticate(key("outside")); err == nil {
		t.Error("the bus side admits outside, who is not in curve_allow")
	}
	c.Gateway.Security = SecurityNone
	if c.GatewayOutward().Curve() {
		t.Error("gateway.security none on a CURVE bus: outward runs CURVE")
	}
}
