package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/bridge/broker"
)

// The broker keys of [bridge] map onto a broker.Config: urls, login, TLS with the bus CA and
// the bridge's own certificate as defaults, the queue type and its arguments as TOML gives them.
func TestBridgeBrokerKeys(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
ssldir = "/etc/pki/ackmsg"
certname = "bridge"
[bridge]
urls = ["amqps://mq1.example:5671/%2Ffedora", "amqps://mq2.example:5671/%2Ffedora", "amqps://mq3.example/%2Ffedora"]
login = "external"
queue = "in"
[bridge.queue_arguments]
x-delivery-limit = 10
x-overflow = "reject-publish"
`})
	c := mustLoad(t, opts)
	got := c.BridgeBroker()
	want := broker.Config{
		URLs:  []string{"amqps://mq1.example:5671/%2Ffedora", "amqps://mq2.example:5671/%2Ffedora", "amqps://mq3.example/%2Ffedora"},
		Login: broker.LoginExternal, QueueType: broker.Quorum,
		QueueArguments: map[string]any{"x-delivery-limit": int64(10), "x-overflow": "reject-publish"},
		TLS: broker.TLS{CAFile: filepath.Join("/etc/pki/ackmsg", "ca.crt"),
			CertFile: "/etc/pki/ackmsg/bridge.crt", KeyFile: "/etc/pki/ackmsg/bridge.key"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BridgeBroker\n %#v\nwant\n %#v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	// Explicit files and the system roots replace the defaults; one url is one node.
	c.Bridge.URLs, c.Bridge.URL = nil, "amqp://u:p@mq.example/"
	c.Bridge.TLSCA, c.Bridge.TLSCert, c.Bridge.TLSKey, c.Bridge.Login = BridgeSystemRoots, "/c.pem", "/k.pem", "password"
	got = c.BridgeBroker()
	if !reflect.DeepEqual(got.URLs, []string{"amqp://u:p@mq.example/"}) || got.TLS != (broker.TLS{CertFile: "/c.pem", KeyFile: "/k.pem"}) {
		t.Fatalf("BridgeBroker %#v", got)
	}
}

// Bad broker keys are errors naming the key.
func TestBridgeBrokerKeysInvalid(t *testing.T) {
	for _, tc := range []struct{ file, key string }{
		{"url = \"amqp://a/\"\nurls = [\"amqp://b/\"]\n", "bridge.urls"},
		{"urls = [\"http://b/\"]\n", "bridge.urls[0]"},
		{"login = \"kerberos\"\n", "bridge.login"},
		{"login = \"external\"\n", "bridge.login"}, // the default url is amqp://
		{"queue_type = \"stream\"\n", "bridge.queue_type"},
		{"[bridge.queue_arguments]\nx-queue-type = \"classic\"\n", "bridge.queue_arguments.x-queue-type"},
		{"[bridge.queue_arguments]\nx-max-length = [1]\n", "bridge.queue_arguments.x-max-length"},
		{"tls_cert = \"/c.pem\"\n", "bridge.tls_cert"},
	} {
		opts, sys, _ := testOptions(t)
		writeFiles(t, sys, map[string]string{"10.toml": "[bridge]\n" + tc.file})
		_, err := Load(opts)
		var ke *KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), tc.key+":") && ke.Key != tc.key {
			t.Errorf("%q: %v, want an error naming %s", tc.file, err, tc.key)
		}
	}
}

// The passwords in bridge.urls are masked in --print-config like bridge.url's.
func TestWriteTOMLMasksBridgeURLs(t *testing.T) {
	c := DefaultConfig()
	c.Bridge.URLs = []string{"amqp://bridge:s3cret-1@mq1.example/", "amqp://bridge:s3cret-2@mq2.example/"}
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, "amqp://bridge:xxxxx@mq2.example/") {
		t.Errorf("--print-config:\n%s", out)
	}
	if c.Bridge.URLs[1] != "amqp://bridge:s3cret-2@mq2.example/" {
		t.Errorf("WriteTOML changed the Config: %q", c.Bridge.URLs)
	}
}

// The production configurations docs/bridge.md and the README show load as they are (a
// document that drifted from the keys fails here), and say what they claim: TLS with EXTERNAL
// on three nodes and a quorum queue.
func TestBridgeDocsConfigurationsLoad(t *testing.T) {
	for _, doc := range []string{"../docs/bridge.md", "../README.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := 0
		for _, part := range strings.Split(string(data), "```toml\n")[1:] {
			block, _, _ := strings.Cut(part, "```")
			if !strings.Contains(block, "[bridge]") {
				continue
			}
			blocks++
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"10.toml": block})
			c, err := Load(opts)
			if err != nil {
				t.Fatalf("%s: the [bridge] example does not load: %v\n%s", doc, err, block)
			}
			bc := c.BridgeBroker()
			if len(bc.URLs) != 3 || bc.Login != broker.LoginExternal || bc.QueueType != broker.Quorum || !strings.HasPrefix(bc.URLs[0], "amqps://") {
				t.Errorf("%s: the example is not TLS + EXTERNAL on three nodes with a quorum queue: %+v", doc, bc)
			}
		}
		if blocks == 0 {
			t.Errorf("%s shows no [bridge] configuration", doc)
		}
	}
}
