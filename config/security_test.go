package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/transport"
)

func TestTransportSecurityCurve(t *testing.T) {
	pki := filepath.Join(t.TempDir(), "pki")
	if _, err := certs.InitCA(pki, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"relay", "svc"} {
		if _, err := certs.Issue(pki, n, certs.PKIOptions{KeyType: certs.KeyEd25519}); err != nil {
			t.Fatal(err)
		}
	}
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
transport_security = "curve"
ssldir = "` + pki + `"
certname = "svc"
relay_inbound = "tcp://h:2001"
curve_allow = ["relay"]
[endpoints]
relay_outbound = ["tcp://h:4001"]
"svc.h" = ["tcp://h:3000", "tcp://h:3001"]
other = ["tcp://h:5000"]
[replay_endpoints]
"svc.h" = "tcp://h:3002"
[certnames]
relay_inbound = "relay"
relay_outbound = "relay"
[curve_server_keys]
"svc.h" = "svc"
"tcp://h:5000" = "rq>.7jRqx[u!8D0ZJ6vs=J4[yv]^y1N!uA3jgo4%"
`})
	c := mustLoad(t, opts)
	want := map[string]string{"tcp://h:2001": "relay", "tcp://h:4001": "relay", "tcp://h:3000": "svc", "tcp://h:3001": "svc",
		"tcp://h:3002": "svc", "tcp://h:5000": "rq>.7jRqx[u!8D0ZJ6vs=J4[yv]^y1N!uA3jgo4%"}
	if got := c.CurveServers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("servers %v\nwant %v", got, want)
	}
	sec := c.Transport().Security
	if sec.Mode != transport.SecurityCurve || sec.Validate() != nil {
		t.Fatalf("security %+v", sec)
	}
	pub, _, err := sec.Keys.KeyPair()
	if err != nil {
		t.Fatal(err)
	}
	svc, _, _ := certs.LoadCurveKeyPair(filepath.Join(pki, "svc.crt"), filepath.Join(pki, "svc.curve"))
	if pub != svc.String() {
		t.Fatalf("own key %s, want svc's %s", pub, svc)
	}
	relay, _, _ := certs.LoadCurveKeyPair(filepath.Join(pki, "relay.crt"), filepath.Join(pki, "relay.curve"))
	if k, err := sec.Keys.ServerKey("tcp://h:4001"); err != nil || k != relay.String() {
		t.Fatalf("relay_outbound's key %q, %v; want %s", k, err, relay)
	}
	// curve_allow: only the relay may connect to svc's bound sockets.
	if _, err := sec.Keys.Authenticate(svc.String()); err == nil {
		t.Fatal("svc let itself in past curve_allow")
	}
	if cn, err := sec.Keys.Authenticate(relay.String()); err != nil || cn != "relay" {
		t.Fatalf("relay: %q, %v", cn, err)
	}
	// Without a certificate of its own the keys fail at the first socket, saying why.
	c.Certname = "nobody"
	if _, _, err := c.Transport().Security.Keys.KeyPair(); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("missing certificate: %v", err)
	}
	if d := DefaultConfig(); d.Transport().Security.Curve() {
		t.Fatal("CURVE on by default")
	}
}

func TestTransportSecurityValidation(t *testing.T) {
	c := DefaultConfig()
	c.TransportSecurity = "tls"
	c.CurveServerKeys = StringMap{"tcp://h:1": "not/a name"}
	c.CurveAllow = []string{""}
	wantErr(t, c.Validate(), "transport_security", `"tls"`, "curve_server_keys", "curve_allow[0]")
}
