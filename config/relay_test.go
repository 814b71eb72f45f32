package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestRelayLoad(t *testing.T) {
	if a := DefaultConfig().Relay.HTTPAddress; a != "" {
		t.Fatalf("relay.http_address defaults to %q", a)
	}
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10-relay.toml": "[relay]\nhttp_address = \"127.0.0.1:9113\"\n"})
	c := mustLoad(t, opts)
	if c.Relay.HTTPAddress != "127.0.0.1:9113" {
		t.Fatalf("relay %+v", c.Relay)
	}
	if src := c.Source("relay.http_address"); !strings.HasSuffix(src, "10-relay.toml") {
		t.Errorf("source of relay.http_address = %q", src)
	}
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "[relay]\n  http_address = \"127.0.0.1:9113\"") {
		t.Errorf("--print-config lacks the relay table:\n%s", b.String())
	}
}

func TestRelayErrors(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "[relay]\nhttp_adress = \"x\"\n", []string{"relay.http_adress", "did you mean http_address?"}},
		{"http address", "[relay]\nhttp_address = \"nope\"\n", []string{"relay.http_address", "want host:port"}},
		{"port out of range", "[relay]\nhttp_address = \"127.0.0.1:70000\"\n", []string{"relay.http_address", "0 to 65535"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"a.toml": c.file})
			_, err := Load(opts)
			wantErr(t, err, c.want...)
		})
	}
}
