package config

import (
	"errors"
	"slices"
	"testing"
)

func TestSubscribeEndpoints(t *testing.T) {
	c := DefaultConfig()
	c.Endpoints = ListMap{
		"relay_outbound": {"tcp://relay:4001"},
		"bodhi.app01":    {"tcp://app01:3000", "tcp://app01:3001"},
		"relay_inbound":  {"tcp://relay:2001"},
		"alias.app01":    {"tcp://app01:3001", "tcp://app01:3002"},
		"empty":          {},
	}
	want := []Endpoint{
		{Name: "alias.app01", Address: "tcp://app01:3001"},
		{Name: "alias.app01", Address: "tcp://app01:3002"},
		{Name: "bodhi.app01", Address: "tcp://app01:3000"},
		{Name: "relay_outbound", Address: "tcp://relay:4001"},
	}
	if got := c.SubscribeEndpoints(); !slices.Equal(got, want) {
		t.Errorf("SubscribeEndpoints() =\n%v\nwant\n%v", got, want)
	}
	if s := want[0].String(); s != "alias.app01=tcp://app01:3001" {
		t.Errorf("String() = %q", s)
	}
}

func TestPublishEndpoints(t *testing.T) {
	c := DefaultConfig()
	c.Endpoints = ListMap{"bodhi.app01": {"tcp://app01:3000", "tcp://app01:3001"}, "empty": {}}
	c.Name = "bodhi.app01"

	got, err := c.PublishEndpoints("")
	if err != nil || !slices.Equal(got, []string{"tcp://app01:3000", "tcp://app01:3001"}) {
		t.Fatalf("PublishEndpoints(\"\") = %v, %v", got, err)
	}
	got[0] = "changed"
	if c.Endpoints["bodhi.app01"][0] != "tcp://app01:3000" {
		t.Error("PublishEndpoints returned the config's own slice")
	}

	_, err = c.PublishEndpoints("koji.hub01")
	wantErr(t, err, `endpoints."koji.hub01": missing: no such endpoints key`, "keys: \"bodhi.app01\", empty")
	_, err = c.PublishEndpoints("empty")
	wantErr(t, err, "endpoints.empty: missing: no address")
	c.Name = ""
	_, err = c.PublishEndpoints("")
	wantErr(t, err, "name: missing: a passive publisher needs a name")
	if !errors.Is(err, ErrMissing) {
		t.Error("not ErrMissing")
	}
}

func TestBindAddress(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://app01.example.org:3000": "tcp://*:3000",
		"tcp://10.0.0.5:3000":          "tcp://*:3000",
		"tcp://127.0.0.1:3000":         "tcp://127.0.0.1:3000",
		"tcp://127.1.2.3:3000":         "tcp://127.1.2.3:3000",
		"tcp://localhost:3000":         "tcp://127.0.0.1:3000",
		"tcp://[::1]:3000":             "tcp://[::1]:3000",
		"ipc:///run/x.sock":            "ipc:///run/x.sock",
	} {
		if got, err := BindAddress(in); err != nil || got != want {
			t.Errorf("BindAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"tcp://*:3000", "tcp://h", "udp://h:1"} {
		if _, err := BindAddress(in); err == nil {
			t.Errorf("BindAddress(%q): no error", in)
		}
	}
}
