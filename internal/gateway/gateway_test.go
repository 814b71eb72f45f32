package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bus is an inside publisher bound on a loopback address, and a gateway subscribed to it.
type bus struct {
	t    *testing.T
	ctx  context.Context
	zctx *zmq.Context
	pub  *zsock.Pub
	gw   *Gateway
	stop func()
	done chan error
}

// startBus binds an inside publisher and runs a gateway on it with cfg (Endpoints and Bind
// filled in when empty).
func startBus(t *testing.T, cfg Config) *bus {
	t.Helper()
	b := &bus{t: t, ctx: testbus.Within(t, 60*time.Second), done: make(chan error, 1)}
	var err error
	if b.zctx, err = zsock.NewContext(1); err != nil {
		t.Fatal(err)
	}
	if b.pub, err = zsock.NewPub(b.zctx, zsock.PubConfig{Bind: []string{testbus.Addr(t)}}); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints = []transport.Endpoint{{Name: "inside", Address: b.pub.Addr()}}
	if cfg.Bind == "" {
		cfg.Bind = testbus.Addr(t)
	}
	if b.gw, err = New(cfg, slog.Default()); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(b.ctx)
	b.stop = stop
	go func() { b.done <- b.gw.Run(runCtx) }()
	return b
}

// close stops the gateway, closes the sockets given and the publisher, and terminates the
// test's context.
func (b *bus) close(socks ...interface{ Close() error }) {
	b.t.Helper()
	for _, s := range socks {
		s.Close()
	}
	b.pub.Close()
	if err := b.zctx.Term(); err != nil {
		b.t.Fatal(err)
	}
	b.stop()
	if err := <-b.done; err != nil {
		b.t.Fatal(err)
	}
}

// sub connects a subscriber to the gateway's outward address.
func (b *bus) sub(opts transport.Options) *zsock.Sub {
	b.t.Helper()
	s, err := zsock.NewSub(b.zctx, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "gateway", Addr: b.gw.Addr()}}, Options: opts})
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// untilReceived sends the messages of round until s receives one (subscriptions travel
// asynchronously on both hops: retransmit), and returns it.
func (b *bus) untilReceived(s *zsock.Sub, round func()) zsock.Inbound {
	b.t.Helper()
	for {
		round()
		wait, cancel := context.WithTimeout(b.ctx, 50*time.Millisecond)
		got, err := s.Recv(wait)
		cancel()
		if err == nil {
			return got
		}
		if b.ctx.Err() != nil {
			b.t.Fatal("nothing came through the gateway")
		}
	}
}

func (b *bus) send(frames ...string) {
	b.t.Helper()
	var fs [][]byte
	for _, f := range frames {
		fs = append(fs, []byte(f))
	}
	if err := b.pub.Send(fs...); err != nil {
		b.t.Fatal(err)
	}
}

// With gateway.topics the gateway re-publishes only the matching topics, and drops a message
// that is not two frames; both are counted.
func TestGatewayTopicsAndInvalidFrames(t *testing.T) {
	b := startBus(t, Config{Topics: []string{"org.example.test.bodhi.#"}})
	out := b.sub(transport.Options{})
	// Each round sends the other topic and a three-frame message first, so that when a bodhi
	// message is out, both went through the gateway's check before it.
	got := b.untilReceived(out, func() {
		b.send("org.example.test.bodhi_other", "{}") // the ZeroMQ prefix lets it in: dropped as "topic"
		b.send("org.example.test.bodhi.update", "{}", "extra")
		b.send("org.example.test.bodhi.update", "{}")
	})
	for {
		if topic, n := string(got.Frames[0]), len(got.Frames); topic != "org.example.test.bodhi.update" || n != 2 {
			t.Fatalf("forwarded %q (%d frames)", topic, n)
		}
		var ok bool
		if got, ok = out.TryRecv(); !ok {
			break
		}
	}
	b.close(out)
	counts := b.gw.DropCounts()
	if counts["topic"] == 0 || counts["frames"] == 0 || b.gw.Forwarded() == 0 {
		t.Fatalf("drops %v, forwarded %d", counts, b.gw.Forwarded())
	}
}

// A topic no pattern's prefix admits is not even subscribed to: the gateway never sees it.
func TestGatewaySubscribesOnlyToItsTopics(t *testing.T) {
	b := startBus(t, Config{Topics: []string{"org.example.test.bodhi.#"}})
	out := b.sub(transport.Options{})
	b.untilReceived(out, func() {
		b.send("org.example.test.koji.build", "{}")
		b.send("org.example.test.bodhi.update", "{}")
	})
	b.close(out)
	if d := b.gw.DropCounts()["topic"]; d != 0 {
		t.Fatalf("%d koji messages reached the gateway's check", d)
	}
}

// A slow outside subscriber does not slow the bus: with one connected to the gateway that never
// reads, an inside consumer still receives every message, the gateway re-publishes every one
// (it never stops reading the bus), and the stalled subscriber's losses happen at the gateway's
// HWM. The inside consumer's rate with and without the stalled subscriber is logged.
func TestGatewaySlowOutsideSubscriberDoesNotSlowTheBus(t *testing.T) {
	const n, size = 50000, 1024
	b := startBus(t, Config{HWM: 100})
	inside, err := zsock.NewSub(b.zctx, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "inside", Addr: b.pub.Addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("x", size))
	// round publishes n messages and returns how long the inside consumer took to receive them.
	round := func(label string) time.Duration {
		t.Helper()
		start := time.Now()
		sent := make(chan error, 1)
		go func() {
			for i := range n {
				if err := b.pub.Send([]byte(fmt.Sprintf("org.example.test.load.%s.%d", label, i)), body); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		for i := range n {
			if _, err := inside.Recv(b.ctx); err != nil {
				t.Fatalf("%s: the inside consumer received %d of %d: %v", label, i, n, err)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// Both the gateway and the inside consumer are subscribed before anything counts.
	testbus.Eventually(t, 10*time.Second, "the gateway and the inside consumer subscribed", func() bool {
		return b.pub.Subscriptions()[""] >= 2
	})
	alone := round("alone")
	testbus.Eventually(t, 20*time.Second, "the gateway forwarded the first round", func() bool { return b.gw.Forwarded() == n })

	// The stalled subscriber: a raw SUB with the smallest queue, never read until the end.
	slow, err := b.zctx.NewSocket(zmq.SUB)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range []func() error{func() error { return slow.SetRcvhwm(1) }, func() error { return slow.SetRcvbuf(4096) },
		func() error { return slow.SetLinger(0) }, func() error { return slow.SetSubscribe("") }, func() error { return slow.Connect(b.gw.Addr()) }} {
		if err := set(); err != nil {
			t.Fatal(err)
		}
	}
	testbus.Eventually(t, 10*time.Second, "the stalled subscriber subscribed", func() bool {
		return b.gw.out.Subscriptions()[""] >= 1
	})
	stalled := round("stalled")
	testbus.Eventually(t, 20*time.Second, "the gateway forwarded the second round", func() bool { return b.gw.Forwarded() == 2*n })
	got := 0
	for {
		if _, err := slow.RecvBytes(zmq.DONTWAIT); err != nil {
			break
		}
		if more, _ := slow.GetRcvmore(); !more {
			got++
		}
	}
	slow.Close()
	b.close(inside)
	mbps := func(d time.Duration) float64 { return float64(n) * size / d.Seconds() / 1e6 }
	t.Logf("inside consumer: %d msgs of %d B in %v (%.0f msg/s, %.0f MB/s) alone, %v (%.0f msg/s, %.0f MB/s) with a stalled outside subscriber, which got %d of %d",
		n, size, alone, float64(n)/alone.Seconds(), mbps(alone), stalled, float64(n)/stalled.Seconds(), mbps(stalled), got, n)
	if got >= n {
		t.Fatalf("the stalled subscriber got all %d messages: nothing was dropped at the gateway", n)
	}
	if b.gw.Dropped() != 0 {
		t.Fatalf("the gateway dropped %d bus messages", b.gw.Dropped())
	}
}

// The outward side runs CURVE with its own allowlist on a plaintext bus: "outside", in
// gateway.curve_allow, receives; a plaintext subscriber and "inside" (a valid certificate of the
// CA, not in the list) receive nothing and are counted as refused.
func TestGatewayCurveOutward(t *testing.T) {
	pki := testbus.CurvePKI(t, "gateway", "outside", "inside")
	conf := func(name string) *config.Config {
		c := configtest.Curve(configtest.Config(map[string][]string{"inside": {"tcp://127.0.0.1:1"}}), pki, name)
		c.CurveServerKeys = config.StringMap{}
		return c
	}
	gc := conf("gateway")
	gc.TransportSecurity = config.SecurityNone // the bus is plaintext
	gc.Gateway.Security = config.SecurityCurve
	gc.Gateway.CurveAllow = []string{"outside"}
	if err := gc.Validate(); err != nil {
		t.Fatal(err)
	}
	bind := testbus.Addr(t)
	b := startBus(t, Config{Bind: bind, Outward: gc.GatewayOutward()})
	client := func(name string) transport.Options {
		c := conf(name)
		c.CurveServerKeys = config.StringMap{bind: "gateway"}
		return c.Transport()
	}
	outside, inside, plain := b.sub(client("outside")), b.sub(client("inside")), b.sub(transport.Options{})
	b.untilReceived(outside, func() { b.send("org.example.test.curve", "{}") })
	for name, s := range map[string]*zsock.Sub{"inside": inside, "plaintext": plain} {
		if in, ok := s.TryRecv(); ok || len(s.ConnectedEndpoints()) != 0 {
			t.Errorf("the %s subscriber got %q", name, in.Frames)
		}
	}
	testbus.Eventually(t, 10*time.Second, "both refusals counted", func() bool {
		r := b.gw.Refused()
		return r["not_allowed"] > 0 && r["handshake"] > 0
	})
	b.close(outside, inside, plain)
}

// With a Verifier (gateway.validate_signatures) only messages that validate go out: a tampered
// body, an unsigned envelope and a body that is not an envelope are dropped and counted.
func TestGatewayValidateSignatures(t *testing.T) {
	c := configtest.Sign(configtest.Config(map[string][]string{"inside": {"tcp://127.0.0.1:1"}}), "pub01")
	signer, err := c.Signer()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Verifier(false, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	const topic = "org.example.test.pub01.event"
	envelope := func(text string, sign bool) string {
		t.Helper()
		m, err := message.Build(topic, map[string]any{"text": text}, 1, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			if err := signer.Sign(m); err != nil {
				t.Fatal(err)
			}
		}
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	good, unsigned := envelope("good", true), envelope("unsigned", false)
	tampered := strings.Replace(envelope("original", true), "original", "tampered", 1)
	b := startBus(t, Config{Verifier: v})
	out := b.sub(transport.Options{})
	got := b.untilReceived(out, func() {
		b.send(topic, tampered)
		b.send(topic, unsigned)
		b.send(topic, "not json")
		b.send(topic, good)
	})
	for {
		if body := string(got.Frames[1]); body != good {
			t.Fatalf("forwarded %s", body)
		}
		var ok bool
		if got, ok = out.TryRecv(); !ok {
			break
		}
	}
	b.close(out)
	counts := b.gw.DropCounts()
	if counts["signature"] < 2 || counts["invalid"] == 0 {
		t.Fatalf("drops %v", counts)
	}
}
