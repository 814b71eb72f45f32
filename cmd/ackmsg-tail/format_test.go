package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

func delivery(t *testing.T, topic string, body any, fields map[string]any) consumer.Delivery {
	t.Helper()
	f := map[string]any{"topic": topic, "msg": body, "msg_id": "2026-x", "timestamp": 1764979200, "i": 1,
		"username": "root", "certificate": "Q0VSVA==", "signature": "U0lH", "crypto": "x509"}
	for k, v := range fields {
		f[k] = v
	}
	b, err := message.Canonical(f)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return consumer.Delivery{Topic: topic, Message: m, Raw: b}
}

func TestFormatters(t *testing.T) {
	d := delivery(t, "org.example.dev.bodhi.update", map[string]any{"user": "alice", "n": 1, "s": strings.Repeat("x", 200)}, nil)
	d.Signer = &certs.Identity{CN: "bodhi"}
	cases := []struct {
		name                string
		json, pretty, rp, t bool
		query               string
		tty                 bool
		want, notWant       []string
	}{
		{name: "line", want: []string{"org.example.dev.bodhi.update 2026-x bodhi {"}},
		{name: "json", json: true, want: []string{`"certificate":"Q0VSVA=="`}},
		{name: "pretty", pretty: true, want: []string{"\n  \"msg\": {", `"timestamp": "Sat, 06 Dec 2025`}, notWant: []string{"certificate", "signature", "\x1b["}},
		{name: "really pretty on a pipe", rp: true, notWant: []string{"\x1b[", "certificate"}},
		{name: "really pretty on a terminal", rp: true, tty: true, want: []string{"\x1b[34;1m\"msg\"\x1b[0m", "\x1b[32m\"alice\"\x1b[0m", "\x1b[33m1\x1b[0m"}},
		{name: "terse", t: true, want: []string{"org.example.dev.bodhi.update bodhi: {", "x…\n"}},
		{name: "query", query: "msg.user, topic,nope.x,msg.n", want: []string{"alice, org.example.dev.bodhi.update, null, 1\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", "")
			f, err := newFormatter(c.json, c.pretty, c.rp, c.t, c.query, c.tty)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := f(&b, d); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
			if c.t && len([]rune(strings.SplitN(b.String(), ": ", 2)[1])) != terseWidth+1 {
				t.Errorf("terse body not cut to %d runes: %q", terseWidth, b.String())
			}
		})
	}
	if _, err := newFormatter(true, true, false, false, "", false); err == nil || !strings.Contains(err.Error(), "--json and --pretty exclude each other") {
		t.Errorf("--json --pretty: err = %v", err)
	}
	if _, err := newFormatter(false, false, false, false, "a,,b", false); err == nil {
		t.Error("--query with an empty path accepted")
	}
}

func TestColourNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	f, _ := newFormatter(false, false, true, false, "", true)
	var b bytes.Buffer
	if err := f(&b, delivery(t, "a.b", map[string]any{"k": "v"}, nil)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("NO_COLOR ignored: %q", b.String())
	}
}

func TestFilterUsersPackages(t *testing.T) {
	cases := []struct {
		name            string
		users, packages string
		body            any
		fields          map[string]any
		want            bool
	}{
		{"no filter", "", "", map[string]any{}, nil, true},
		{"envelope username", "root", "", map[string]any{}, nil, true},
		{"body agent", "bob", "", map[string]any{"agent": "bob"}, nil, true},
		{"nested owner object", "carol", "", map[string]any{"update": map[string]any{"owner": map[string]any{"name": "carol"}}}, nil, true},
		{"user list", "dave", "", map[string]any{"users": nil, "build": map[string]any{"user": []any{"x", "dave"}}}, nil, true},
		{"other user", "eve", "", map[string]any{"agent": "bob", "comment": "eve"}, nil, false},
		{"package", "", "kernel", map[string]any{"update": map[string]any{"packages": []any{"glibc", "kernel"}}}, nil, true},
		{"package name", "", "kernel", map[string]any{"package": map[string]any{"name": "kernel"}}, nil, true},
		{"package not named", "", "kernel", map[string]any{"title": "kernel"}, nil, false},
		{"both needed", "bob", "kernel", map[string]any{"agent": "bob", "package": "glibc"}, nil, false},
		{"both there", "bob", "kernel", map[string]any{"agent": "bob", "package": "kernel"}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := newFilter(c.users, c.packages)(delivery(t, "a.b", c.body, c.fields)); got != c.want {
				t.Errorf("keep = %v, want %v", got, c.want)
			}
		})
	}
}

func TestIsAck(t *testing.T) {
	if !isAck(delivery(t, "org.example.dev.gilmsg.ack", map[string]any{"ack_msg_id": "x"}, nil)) {
		t.Error("an ACK not recognised")
	}
	if isAck(delivery(t, "org.example.dev.gilmsg.ack", map[string]any{"log": "x"}, nil)) {
		t.Error("a message without ack_msg_id taken for an ACK")
	}
	if isAck(delivery(t, "org.example.dev.logger.log", map[string]any{"ack_msg_id": "x"}, nil)) {
		t.Error("a message on another topic taken for an ACK")
	}
}

func TestRecent(t *testing.T) {
	r := newRecent(2)
	for i, c := range []struct {
		id   string
		want bool
	}{{"a", true}, {"a", false}, {"b", true}, {"c", true}, {"a", true}, {"c", false}, {"", true}, {"", true}} {
		if got := r.add(c.id); got != c.want {
			t.Errorf("step %d: add(%q) = %v, want %v", i, c.id, got, c.want)
		}
	}
}
