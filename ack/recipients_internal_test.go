package ack

import (
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

func TestAsked(t *testing.T) {
	signer := &certs.Identity{CN: "pub01"}
	for _, c := range []struct {
		name   string
		field  any // nil: absent
		signed bool
		want   bool
	}{
		{"no field", nil, true, true},
		{"named", []any{"a", "sub01"}, true, true},
		{"not named", []any{"a", "b"}, true, false},
		{"empty list", []any{}, true, false},
		{"not named, not verified", []any{"a"}, false, true},
		{"not a list", "a", true, true},
		{"not strings", []any{"a", 1.0}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := message.Build("t", 1, 1, "u", time.Unix(1700000000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if c.field != nil {
				if err := m.Set(message.FieldAckRecipients, c.field); err != nil {
					t.Fatal(err)
				}
			}
			d := consumer.Delivery{Message: m}
			if c.signed {
				d.Signer = signer
			}
			if got := asked(d, "sub01"); got != c.want {
				t.Fatalf("asked = %v, want %v", got, c.want)
			}
		})
	}
}

func TestPeekAckID(t *testing.T) {
	for _, c := range []struct {
		frame, id string
		ok        bool
	}{
		{`{"msg":{"ack_msg_id":"2026-x"},"topic":"t"}`, "2026-x", true},
		{`{"msg": {"ack_msg_id" : "2026-y"}}`, "2026-y", true},
		{`{"msg":{"ack_msg_id":"2026-\u0078"}}`, "", false},
		{`{"msg":{"ack_msg_id":7}}`, "", false},
		{`{"msg":{"note":"\"ack_msg_id\":\"2026-z\""}}`, "", false},
		{`{"msg":{}}`, "", false},
		{`{"msg":{"ack_msg_id":"2026-unterminated`, "", false},
	} {
		id, ok := peekAckID([]byte(c.frame))
		if id != c.id || ok != c.ok {
			t.Errorf("peekAckID(%s) = %q, %v; want %q, %v", c.frame, id, ok, c.id, c.ok)
		}
	}
}

func TestIsAckTopic(t *testing.T) {
	for topic, want := range map[string]bool{
		"org.example.prod.gilmsg.ack":   true,
		"org.other.stg.gilmsg.ack":      true,
		"org.example.prod.gilmsg.ack.x": false,
		"org.example.prod.orders":       false,
	} {
		if got := isAckTopic([]byte(topic)); got != want {
			t.Errorf("isAckTopic(%q) = %v", topic, got)
		}
	}
}
