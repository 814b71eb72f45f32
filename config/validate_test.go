package config

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/go-multierror"
)

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" means valid
	}{
		{"tcp://127.0.0.1:4001", ""},
		{"tcp://app01.phx2.fedoraproject.org:3000", ""},
		{"tcp://[::1]:3000", ""},
		{"tcp://h:65535", ""},
		{"ipc:///var/run/fedmsg/monitoring.socket", ""},
		{"ipc://relative.sock", ""},
		{"tcp://*:3000", `"*" cannot be connected to`},
		{"tcp://h", "missing port"},
		{"tcp://:3000", "missing host"},
		{"tcp://h:0", "not a number from 1 to 65535"},
		{"tcp://h:65536", "not a number from 1 to 65535"},
		{"tcp://h:http", "not a number from 1 to 65535"},
		{"tcp://h:-1", "not a number from 1 to 65535"},
		{"tcp://::1:3000", "want tcp://host:port"},
		{"tcp://h :1", "white space"},
		{"ipc://", "missing path"},
		{"h:3000", "want tcp://host:port or ipc://path"},
		{"inproc://x", "want tcp://host:port or ipc://path"},
		{"", "want tcp://host:port or ipc://path"},
	}
	for _, tc := range tests {
		err := checkAddress(tc.addr, "subscribers connect to it")
		if tc.want == "" {
			if err != nil {
				t.Errorf("checkAddress(%q) = %v, want nil", tc.addr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkAddress(%q) = %v, want an error containing %q", tc.addr, err, tc.want)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("checkAddress(%q): not ErrInvalid", tc.addr)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // substrings; empty means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"empty topic_prefix", func(c *Config) { c.TopicPrefix = "" }, []string{"config: topic_prefix: missing: empty"}},
		{"dotted environment edge", func(c *Config) { c.Environment = "prod." }, []string{"environment:", "empty dotted part"}},
		{"topic_prefix with space", func(c *Config) { c.TopicPrefix = "org. x" }, []string{"topic_prefix:", "white space"}},
		{"bad endpoint named by key and index", func(c *Config) {
			c.Endpoints["bodhi.app01"] = []string{"tcp://app01:3000", "tcp://*:3001"}
		}, []string{`config: endpoints."bodhi.app01"[1]: invalid value: "tcp://*:3001": subscribers connect`}},
		{"relay_inbound star", func(c *Config) { c.RelayInbound = "tcp://*:2001" }, []string{"relay_inbound:", "active publishers connect"}},
		{"active without relay_inbound", func(c *Config) { c.Active, c.RelayInbound = true, "" }, []string{"relay_inbound: missing"}},
		{"inactive without relay_inbound is fine", func(c *Config) { c.RelayInbound = "" }, nil},
		{"name not an endpoints key", func(c *Config) { c.Name = "bodhi.app02" }, []string{`name: invalid value: "bodhi.app02" is not a key of endpoints`, "keys: relay_outbound"}},
		{"name with empty list", func(c *Config) { c.Name = "x"; c.Endpoints["x"] = nil }, []string{"name:", "endpoints.x lists no address"}},
		{"name is fine for active publishers", func(c *Config) { c.Name, c.Active = "shell.host", true }, nil},
		{"name is an endpoints key", func(c *Config) { c.Name = "relay_outbound" }, nil},
		{"gpg", func(c *Config) { c.CryptoBackend = "gpg"; c.CryptoValidateBackends = []string{"x509", "gpg"} },
			[]string{`crypto_backend: not supported by ackmsg: "gpg"`, "crypto_validate_backends[1]:"}},
		{"empty crypto_validate_backends means x509 and x509-ed25519", func(c *Config) { c.CryptoValidateBackends = nil }, nil},
		{"x509-ed25519 alone", func(c *Config) { c.CryptoValidateBackends = []string{"x509-ed25519"} }, nil},
		{"fedmsg-strict x509 alone", func(c *Config) { c.CryptoValidateBackends = []string{"x509"} }, nil},
		{"crypto_backend x509-ed25519", func(c *Config) { c.CryptoBackend = "x509-ed25519" },
			[]string{`crypto_backend: not supported by ackmsg: "x509-ed25519": keep "x509"`, "Ed25519 signing certificate"}},
		{"ed25519 misspelt", func(c *Config) { c.CryptoValidateBackends = []string{"x509", "ed25519"} },
			[]string{`crypto_validate_backends[1]:`, `"ed25519"`}},
		{"no ssldir while signing", func(c *Config) { c.SSLDir = ""; c.SignMessages = true }, []string{"ssldir: missing"}},
		{"certname path", func(c *Config) { c.Certname = "../etc/shadow" }, []string{"certname:", "not a path"}},
		{"certnames value", func(c *Config) { c.Certnames["shell.h"] = "" }, []string{`certnames."shell.h": invalid value: empty`}},
		{"https CA and CRL are fetched", func(c *Config) {
			c.CACertLocation, c.CRLLocation = "https://fedoraproject.org/fedmsg/ca.crt", "http://ca.example/crl.pem"
		}, nil},
		{"ftp CA", func(c *Config) { c.CACertLocation = "ftp://fedoraproject.org/fedmsg/ca.crt" }, []string{"ca_cert_location: not supported", "only local files and http"}},
		{"file URL CRL", func(c *Config) { c.CRLLocation = "file:///etc/pki/crl.pem" }, []string{"crl_location: not supported"}},
		{"crl_cache_expiry zero", func(c *Config) { c.CRLCacheExpiry = 0 }, []string{"crl_cache_expiry: invalid value"}},
		{"routing policy CN", func(c *Config) { c.RoutingPolicy["a.b"] = []string{""} }, []string{`routing_policy."a.b"[0]: invalid value: empty CN`}},
		{"routing policy block-all is fine", func(c *Config) { c.RoutingPolicy["a.b"] = []string{} }, nil},
		{"zmq ranges", func(c *Config) {
			c.IOThreads, c.HighWaterMark, c.ZMQLinger, c.ZMQReconnectIvl, c.ZMQReconnectIvlMax = 0, -1, -2, -2, -1
			c.ZMQTCPKeepalive, c.ZMQTCPKeepaliveCnt, c.ZMQTCPKeepaliveIdle, c.ZMQTCPKeepaliveIntvl = 2, 0, -2, 0
			c.MaxFrameSize = -1
		}, []string{"io_threads:", "high_water_mark:", "zmq_linger:", "zmq_reconnect_ivl:", "zmq_reconnect_ivl_max:",
			"zmq_tcp_keepalive:", "zmq_tcp_keepalive_cnt:", "zmq_tcp_keepalive_idle:", "zmq_tcp_keepalive_intvl:", "max_frame_size:", "config: 10 problems"}},
		{"zmq edge values are fine", func(c *Config) {
			c.HighWaterMark, c.ZMQLinger, c.ZMQReconnectIvl, c.ZMQReconnectIvlMax = 0, -1, -1, 0
			c.ZMQTCPKeepalive, c.ZMQTCPKeepaliveCnt, c.ZMQTCPKeepaliveIdle, c.ZMQTCPKeepaliveIntvl = -1, -1, -1, -1
			c.MaxFrameSize = 0
		}, nil},
		{"ack settings", func(c *Config) {
			c.AckTimeout, c.AckMaxInFlight, c.DedupeWindow, c.MaxMessageAge = 0, 0, 0, -1
		}, []string{"ack_timeout:", "ack_max_in_flight:", "dedupe_window:", "max_message_age:"}},
		{"ack_timeout NaN and Inf", func(c *Config) {
			c.AckTimeout, c.MaxMessageAge = Seconds(math.NaN()), Seconds(math.Inf(1))
		}, []string{"ack_timeout:", "max_message_age:"}},
		{"mode and sink values", func(c *Config) {
			c.Mode, c.Sink = "dev", "stdout"
		}, []string{`mode: invalid value: "dev": want "production" or "development"`, `sink: invalid value: "stdout": want "zmq"`}},
		{"empty mode and sink", func(c *Config) {
			c.Mode, c.Sink = "", ""
		}, []string{`mode: invalid value: ""`, `sink: invalid value: ""`}},
		{"development mode, log sink, require recipients", func(c *Config) {
			c.Mode, c.Sink, c.AckRequireRecipients = ModeDevelopment, SinkLog, true
		}, nil},
		{"development mode refused on prod", func(c *Config) {
			c.Mode, c.Environment = ModeDevelopment, "prod"
		}, []string{`mode: invalid value: "development" with environment "prod"`}},
		{"log sink allowed on prod", func(c *Config) {
			c.Sink, c.Environment = SinkLog, "prod"
		}, nil},
		{"persistent_store file", func(c *Config) { c.PersistentStore = "/var/lib/app/history.db" }, nil},
		{"persistent_store URL", func(c *Config) { c.PersistentStore = "postgresql://app:pw@db.example.net:5432/bus?sslmode=verify-full" }, nil},
		{"persistent_store bad URL", func(c *Config) { c.PersistentStore = "postgres://app:s3cret@[::1/bus" },
			[]string{`persistent_store: invalid value: "postgres://xxxxx@[::1/bus" is not a valid URL`}},
		{"persistent_store other scheme", func(c *Config) { c.PersistentStore = "mysql://app:s3cret@db/bus?password=s3cret" },
			[]string{`persistent_store: invalid value: "mysql://app:xxxxx@db/bus?password=xxxxx": want a file path or a postgres://`}},
		{"recipients", func(c *Config) {
			c.Recipients["a.b*.c"] = []string{"x"}
			c.Recipients["a.#"] = []string{"ok", ""}
		}, []string{`recipients."a.b*.c": invalid value: topic pattern`, `recipients."a.#"[1]: invalid value: empty recipient CN`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.modify(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			wantErr(t, err, tc.want...)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("no *KeyError in %#v", err)
			}
		})
	}
}

func TestValidateAggregates(t *testing.T) {
	c := DefaultConfig()
	c.TopicPrefix, c.Environment = "", ""
	err := c.Validate()
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("want a multierror of 2, got %#v", err)
	}
	if !errors.Is(err, ErrMissing) {
		t.Error("errors.Is(err, ErrMissing) = false")
	}
	if !strings.HasPrefix(err.Error(), "config: 2 problems:\n  config: topic_prefix:") {
		t.Errorf("unexpected format:\n%s", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://app:s3cret@db:5432/bus":                     "postgres://app:xxxxx@db:5432/bus",
		"postgres://app@db/bus?password=s3cret&sslmode=require": "postgres://app@db/bus?password=xxxxx&sslmode=require",
		"postgresql://app@db/bus":                               "postgresql://app@db/bus",
		"postgres://app:s3cret@[::1/bus":                        "postgres://xxxxx@[::1/bus",
		"amqp://guest:guest@127.0.0.1:5672/":                    "amqp://guest:xxxxx@127.0.0.1:5672/",
		"/var/lib/app/history.db":                               "/var/lib/app/history.db",
		"http://h/a%2Fb?x=1&a=2":                                "http://h/a%2Fb?x=1&a=2",
		"":                                                      "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
