package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestOutboxDefaults(t *testing.T) {
	o := DefaultConfig().Outbox
	if o.Store != "" || o.Expiry != 86400 || o.AttemptTimeout != 30 || o.RetryMax != 30 || o.ClaimLease != 90 ||
		o.MaxInFlight != 256 || o.HTTPAddress != "" || len(o.ExpiryFor) != 0 {
		t.Fatalf("outbox defaults %+v", o)
	}
}

func TestOutboxLoad(t *testing.T) {
	opts, sys, local := testOptions(t)
	writeFiles(t, sys, map[string]string{"10-outbox.toml": `
[outbox]
store = "/var/spool/ackmsg/outbox.db"
expiry = 3600
expiry_for = { "org.example.prod.#" = 600, "org.example.prod.billing.*" = 7200 }
`})
	writeFiles(t, local, map[string]string{"20-outbox.toml": `
[outbox]
attempt_timeout = 5
claim_lease = 20
expiry_for = { "org.example.prod.#" = 900 }
`})
	c := mustLoad(t, opts)
	o := c.Outbox
	if o.Store != "/var/spool/ackmsg/outbox.db" || o.Expiry != 3600 || o.AttemptTimeout != 5 || o.ClaimLease != 20 ||
		o.RetryMax != 30 || o.MaxInFlight != 256 {
		t.Fatalf("merged outbox %+v", o)
	}
	for topic, want := range map[string]Seconds{
		"org.example.prod.bodhi.update":   900,
		"org.example.prod.billing.charge": 7200, // the longer pattern wins
		"org.example.dev.x":               3600,
	} {
		if got := o.ExpiryOf(topic); got != want {
			t.Errorf("ExpiryOf(%s) = %v, want %v", topic, got, want)
		}
	}
	if src := c.Source("outbox.attempt_timeout"); !strings.HasSuffix(src, "20-outbox.toml") {
		t.Errorf("source of attempt_timeout = %q", src)
	}
	if src := c.Source("outbox.store"); !strings.HasSuffix(src, "10-outbox.toml") {
		t.Errorf("source of store = %q", src)
	}
	if o.IsPostgres() {
		t.Error("a file path taken for PostgreSQL")
	}
	c.Outbox.Store = "postgresql://u@127.0.0.1/db"
	if !c.Outbox.IsPostgres() {
		t.Error("a postgresql:// URL not taken for PostgreSQL")
	}

	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"[outbox]", "attempt_timeout = 5", `"org.example.prod.#" = 900`} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("--print-config lacks %q:\n%s", w, b.String())
		}
	}
}

func TestOutboxErrors(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "[outbox]\nstroe = \"x\"\n", []string{"outbox.stroe", "did you mean store?"}},
		{"lease too short", "[outbox]\nattempt_timeout = 30\nclaim_lease = 30\n", []string{"outbox.claim_lease", "not longer than attempt_timeout"}},
		{"negative expiry", "[outbox]\nexpiry = -1\n", []string{"outbox.expiry", "positive"}},
		{"bad pattern", "[outbox]\nexpiry_for = { \"a..b\" = 5 }\n", []string{"outbox.expiry_for"}},
		{"in flight", "[outbox]\nmax_in_flight = 0\n", []string{"outbox.max_in_flight", "below 1"}},
		{"http address", "[outbox]\nhttp_address = \"nope\"\n", []string{"outbox.http_address"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"a.toml": c.file})
			_, err := Load(opts)
			wantErr(t, err, c.want...)
		})
	}
}
