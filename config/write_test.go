package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteTOMLRoundTrip(t *testing.T) {
	full := DefaultConfig()
	full.TopicPrefix, full.Environment, full.Name, full.Active, full.CertPrefix = "org.x", "prod", "bodhi.app01", true, "shell"
	full.Endpoints = ListMap{
		"bodhi.app01":   {"tcp://app01:3000", "tcp://app01:3001"},
		"relay_inbound": {"tcp://relay:2003"},
		"odd key \"q\"": {"ipc:///run/x.sock"},
		"empty":         {},
	}
	full.RelayInbound = "tcp://relay:2003"
	full.SignMessages, full.ValidateSignatures = true, true
	full.CryptoValidateBackends = []string{}
	full.SSLDir, full.Certname = "/ssl", "cn"
	full.Certnames = StringMap{"shell.app01": "shell-app01", "bodhi.app01": "bodhi-app01"}
	full.CACertLocation, full.CRLLocation = "/ssl/my-ca.crt", "/ssl/crl.pem"
	full.RoutingPolicy = ListMap{"org.x.prod.bodhi.update": {"bodhi-app01"}, "org.x.prod.blocked": {}}
	full.RoutingNitpicky = true
	full.IOThreads, full.HighWaterMark, full.ZMQLinger, full.ZMQReconnectIvl, full.ZMQReconnectIvlMax = 2, 0, -1, 50, 0
	full.ZMQTCPKeepalive, full.ZMQTCPKeepaliveCnt, full.ZMQTCPKeepaliveIdle, full.ZMQTCPKeepaliveIntvl = -1, -1, 30, 2
	full.MaxFrameSize = 123
	full.AckTimeout, full.AckMaxInFlight, full.DedupeWindow, full.MaxMessageAge = 0.25, 7, 9, 3600
	full.Recipients = ListMap{"org.x.prod.bodhi.#": {"a", "b"}, "org.x.*": {"c"}}
	full.AckRequireRecipients, full.Sink = true, SinkLog
	full.Hub.HTTPAddress, full.Hub.ShutdownTimeout, full.Hub.MaxAttempts = "127.0.0.1:9110", 2.5, 3
	hubExec := DefaultHubConsumer("archive", HubKindExec)
	hubExec.Topics, hubExec.Command = []string{"org.x.prod.#"}, []string{"sh", "-c", "cat >> 'out.jsonl'"}
	hubExec.Env, hubExec.Dir, hubExec.Enabled, hubExec.Timeout = StringMap{"A": "1"}, "/srv", false, 0
	hubFile := DefaultHubConsumer("audit", HubKindFile)
	hubFile.Topics, hubFile.Path, hubFile.Fsync, hubFile.Workers = []string{"org.x.*"}, "/var/x.jsonl", "never", 3
	hubFile.Overflow, hubFile.Ack, hubFile.Inbox = "drop", "receipt", 7
	full.Hub.Consumers = []HubConsumer{hubExec, hubFile, DefaultHubConsumer("orders", HubKindGo)}

	edOnly := DefaultConfig()
	edOnly.CryptoValidateBackends = []string{"x509-ed25519"}
	dev := DefaultConfig()
	dev.Mode = ModeDevelopment // not with full: development is refused on environment "prod"
	for name, c := range map[string]Config{"defaults": DefaultConfig(), "everything set": full, "x509-ed25519 only": edOnly, "development": dev} {
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatalf("test config invalid: %v", err)
			}
			var b bytes.Buffer
			if err := c.WriteTOML(&b); err != nil {
				t.Fatal(err)
			}
			opts, _, _ := testOptions(t)
			opts.File = filepath.Join(t.TempDir(), "printed.toml")
			if err := os.WriteFile(opts.File, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			back := mustLoad(t, opts)
			want, _ := c.redacted() // the default bridge.url has a password (guest's)
			equalSettings(t, back, want)
			if t.Failed() {
				t.Logf("printed:\n%s", b.String())
			}
		})
	}
}

func TestWriteTOMLHeader(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": "name = \"relay_outbound\"\npost_init_sleep = 1\n"})
	opts.Getenv = env(map[string]string{EnvCertname: "cn"})
	c := mustLoad(t, opts)
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sys, "10.toml")
	for _, s := range []string{
		"# files read, in order:\n#   " + file + "\n",
		"#   name: " + file + "\n",
		"#   certname: $ACKMSG_CERTNAME\n",
		"# fedmsg keys accepted and ignored:\n#   " + file + ": post_init_sleep\n",
		"# ca_cert_location is empty: the CA certificate is /etc/pki/fedmsg/ca.crt\n",
		"# crl_location is empty: no CRL check\n",
		"\nname = \"relay_outbound\"\n",
		"high_water_mark = 10000\n",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, b.String())
		}
	}
}

// A printed configuration is pasted into bug reports: no password of a URL may be in it.
func TestWriteTOMLMasksPasswords(t *testing.T) {
	c := DefaultConfig()
	c.PersistentStore = "postgres://app:s3cret-history@db.example/ackmsg?sslmode=disable"
	c.Outbox.Store = "postgresql://outbox@db.example/ackmsg?password=s3cret-outbox"
	c.Bridge.URL = "amqp://bridge:s3cret-broker@mq.example:5672/"
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "s3cret") {
		t.Errorf("--print-config shows a password:\n%s", out)
	}
	for _, w := range []string{
		`persistent_store = "postgres://app:xxxxx@db.example/ackmsg?sslmode=disable"`,
		`url = "amqp://bridge:xxxxx@mq.example:5672/"`,
		"password=xxxxx",
		"# passwords in URLs are shown as xxxxx\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if c.PersistentStore != "postgres://app:s3cret-history@db.example/ackmsg?sslmode=disable" {
		t.Errorf("WriteTOML changed the Config: %q", c.PersistentStore)
	}
}
