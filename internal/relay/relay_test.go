package relay

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAuthorizer(t *testing.T) {
	policy := map[string][]string{"org.a.open": {"alice", "bob"}, "org.a.bob": {"bob"}}
	for _, tc := range []struct {
		nitpicky    bool
		user, topic string
		ok          bool
	}{
		{false, "alice", "org.a.open", true},
		{false, "alice", "org.a.bob", false},
		{false, "bob", "org.a.bob", true},
		{false, "alice", "org.a.unlisted", true},
		{true, "alice", "org.a.unlisted", false},
		{true, "bob", "org.a.bob", true},
		{false, "", "org.a.unlisted", false},
	} {
		err := NewAuthorizer(policy, tc.nitpicky).Allow(tc.user, tc.topic)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUnauthorized)) {
			t.Errorf("nitpicky %v, %q on %q: %v, want ok=%v", tc.nitpicky, tc.user, tc.topic, err, tc.ok)
		}
	}
}

// With CURVE the relay forwards a topic only from the identities routing_policy names: alice's
// message on bob's topic is dropped before fan-out and counted, hers on an open topic arrives.
func TestRelayRefusesTopicOutsideRoutingPolicy(t *testing.T) {
	pki := testbus.CurvePKI(t, "relay", "alice", "bob")
	in, out := testbus.Addr(t), testbus.Addr(t)
	conf := func(name string) *config.Config {
		c := configtest.Curve(configtest.Config(map[string][]string{config.RelayOutboundKey: {out}}), pki, name)
		c.RelayInbound = in
		c.RoutingPolicy = config.ListMap{"org.example.test.bob": {"bob"}, "org.example.test.open": {"alice", "bob"}}
		return c
	}
	rc := conf("relay")
	r, err := New(Config{Inbound: in, Outbound: []string{out}, Transport: rc.Transport(), RoutingPolicy: rc.RoutingPolicy}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx := testbus.Within(t, 20*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := zsock.NewPub(zctx, zsock.PubConfig{Connect: in, Options: conf("alice").Transport()})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := zsock.NewSub(zctx, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "relay_outbound", Addr: out}}, Options: conf("bob").Transport()})
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	// Neither side can know when the other's subscription has travelled: retransmit. Each round
	// sends the forbidden topic first, so by the time an open message is out, one forbidden
	// message went through the relay's check before it.
	var got zsock.Inbound
	for {
		if err := alice.Send([]byte("org.example.test.bob"), []byte(`{"forged":true}`)); err != nil {
			t.Fatal(err)
		}
		if err := alice.Send([]byte("org.example.test.open"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		got, err = bob.Recv(wait)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("nothing forwarded")
		}
	}
	for {
		if topic := string(got.Frames[0]); topic != "org.example.test.open" {
			t.Fatalf("forwarded %q from alice", topic)
		}
		var ok bool
		if got, ok = bob.TryRecv(); !ok {
			break
		}
	}
	alice.Close()
	bob.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.DropCounts()["unauthorized"]; n == 0 || r.Forwarded() == 0 {
		t.Fatalf("unauthorized %d, forwarded %d", n, r.Forwarded())
	}
}

// Gradual rollout: relay.inbound_security = "none" keeps the inbound side plaintext (a Python
// fedmsg publisher) while subscribers need CURVE: the plaintext publisher's message reaches the
// CURVE subscriber, and a plaintext subscriber gets nothing.
func TestRelayPlaintextInboundCurveOutbound(t *testing.T) {
	pki := testbus.CurvePKI(t, "relay", "bob")
	in, out := testbus.Addr(t), testbus.Addr(t)
	conf := func(name string) *config.Config {
		c := configtest.Curve(configtest.Config(map[string][]string{config.RelayOutboundKey: {out}}), pki, name)
		c.RelayInbound = in
		return c
	}
	rc := conf("relay")
	rc.Relay.InboundSecurity = config.SecurityNone
	if err := rc.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Inbound: in, Outbound: []string{out}, Transport: rc.Transport(),
		InboundPlaintext: rc.Relay.InboundSecurity == config.SecurityNone}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx := testbus.Within(t, 20*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	python, err := zsock.NewPub(zctx, zsock.PubConfig{Connect: in}) // plaintext
	if err != nil {
		t.Fatal(err)
	}
	ep := []zsock.Endpoint{{Name: "relay_outbound", Addr: out}}
	bob, err := zsock.NewSub(zctx, zsock.SubConfig{Endpoints: ep, Options: conf("bob").Transport()})
	if err != nil {
		t.Fatal(err)
	}
	eve, err := zsock.NewSub(zctx, zsock.SubConfig{Endpoints: ep}) // plaintext subscriber
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		if err := python.Send([]byte("org.example.test.py"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := bob.Recv(wait)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the plaintext publisher's message never reached the CURVE subscriber")
		}
	}
	if in, ok := eve.TryRecv(); ok || len(eve.ConnectedEndpoints()) != 0 {
		t.Fatalf("the plaintext subscriber got %q", in.Frames)
	}
	// Its refused handshake is counted for ackmsg_relay_handshakes_refused_total{reason="handshake"}.
	testbus.Eventually(t, 10*time.Second, "the refused plaintext handshake counted", func() bool {
		return r.Refused()["handshake"] > 0
	})
	python.Close()
	bob.Close()
	eve.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
