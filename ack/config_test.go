package ack_test

import (
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/transport"
)

// Without package config nothing is loaded behind the caller's back: a Publisher that awaits
// ACKs needs the verifier given, an acking Subscriber the verifier and the signer, and a bad
// Config is refused before any socket opens.
func TestConstructorsTakeTheirCollaborators(t *testing.T) {
	addr := testbus.Addr(t)
	pc := ack.DefaultConfig()
	pc.Publisher.Name, pc.Publisher.Bind = "shop", []string{addr}
	pc.Endpoints = []transport.Endpoint{{Name: "billing", Address: testbus.Addr(t)}}
	for name, tc := range map[string]struct {
		tune func(*ack.Config)
		want string
	}{
		"no verifier": {func(*ack.Config) {}, "give the verifier"},
		"timeout":     {func(c *ack.Config) { c.Timeout = 0 }, "Timeout"},
		"in flight":   {func(c *ack.Config) { c.MaxInFlight = 0 }, "MaxInFlight"},
		"nowhere":     {func(c *ack.Config) { c.Publisher.Bind = nil }, "nowhere to send"},
	} {
		c := pc
		tc.tune(&c)
		if p, err := ack.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			if p != nil {
				p.Close()
			}
			t.Errorf("%s: New = %v, want an error saying %q", name, err, tc.want)
		}
	}
	dev := pc
	dev.Development = true
	p, err := ack.New(dev) // awaits no ACK: needs no verifier
	if err != nil {
		t.Fatalf("development mode without a verifier: %v", err)
	}
	p.Close()

	tc := certs.DefaultTrustConfig(testbus.PKIDir() + "/ca.crt")
	v, err := certs.NewVerifier(tc)
	if err != nil {
		t.Fatal(err)
	}
	sc := ack.DefaultSubscriberConfig()
	sc.Consumer.Endpoints = []transport.Endpoint{{Name: "shop", Address: addr}}
	sc.Acks.Name, sc.Acks.Bind = "billing", []string{testbus.Addr(t)}
	if _, err := ack.NewSubscriber(sc, "", ack.WithVerifier(v)); err == nil || !strings.Contains(err.Error(), "signs its ACKs") {
		t.Errorf("NewSubscriber without a signer: %v", err)
	}
	if _, err := ack.NewSubscriber(sc, ""); err == nil || !strings.Contains(err.Error(), "give the verifier") {
		t.Errorf("NewSubscriber without a verifier: %v", err)
	}
}
