package consumer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bus starts a passive publisher named "svc.host" and a subscriber on it, both ready.
func bus(t *testing.T, signWith string, topic string) (*publisher.Publisher, *consumer.Subscriber, *config.Config) {
	t.Helper()
	cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(t)}})
	cfg.Name = "svc.host"
	if signWith != "" {
		configtest.Sign(cfg, signWith)
	}
	pub, err := config.NewPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	sub, err := config.NewSubscriber(cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ctx := testbus.Within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, topic); err != nil {
		t.Fatal(err)
	}
	return pub, sub, cfg
}

func TestPublishAndReceive(t *testing.T) {
	pub, sub, _ := bus(t, "", "")
	ctx := testbus.Within(t, 10*time.Second)
	sent, err := pub.Publish(ctx, "update", map[string]any{"n": 1, "f": 100.0}, publisher.Modname("bodhi"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sent.Topic(), "org.example.test.bodhi.update"; got != want {
		t.Fatalf("topic %q, want %q", got, want)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Topic != sent.Topic() || d.Message.MsgID() != sent.MsgID() || d.EndpointName != "svc.host" {
		t.Fatalf("delivery %+v", d)
	}
	wire, _ := sent.Marshal()
	if string(d.Raw) != string(wire) {
		t.Fatalf("raw %s != sent %s", d.Raw, wire)
	}
	if !strings.Contains(string(d.Raw), `"f":100.0`) {
		t.Fatalf("float not kept as a float: %s", d.Raw)
	}
	if d.Signer != nil {
		t.Fatalf("unsigned bus reported a signer")
	}
	// The counter goes up by one per message, from 1.
	second, err := pub.Publish(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sent.I() != 1 || second.I() != 2 {
		t.Fatalf("counters %d, %d", sent.I(), second.I())
	}
	if got, want := second.Topic(), "org.example.test.svc.unspecified"; got != want {
		t.Fatalf("empty topic became %q, want %q", got, want)
	}
	if b, ok := second.Body().(map[string]any); !ok || len(b) != 0 {
		t.Fatalf("nil body became %#v, want {}", second.Body())
	}
}

func TestSignedAndValidated(t *testing.T) {
	pub, sub, _ := bus(t, "pub01", "")
	ctx := testbus.Within(t, 10*time.Second)
	sent, err := pub.Publish(ctx, "log", map[string]any{"log": "café <b> 😀"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := sent.String(message.FieldCrypto); c != "x509" {
		t.Fatalf("crypto = %q", c)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Signer == nil || d.Signer.CN != "pub01" {
		t.Fatalf("signer %+v", d.Signer)
	}
}

func TestTopicPrefixFilters(t *testing.T) {
	pub, sub, _ := bus(t, "", "org.example.test.wanted")
	ctx := testbus.Within(t, 10*time.Second)
	if _, err := pub.Publish(ctx, "x", 1, publisher.Modname("other")); err != nil {
		t.Fatal(err)
	}
	want, err := pub.Publish(ctx, "x", 2, publisher.Modname("wanted"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.MsgID() != want.MsgID() {
		t.Fatalf("got %s on %s, want the wanted topic", d.Message.MsgID(), d.Topic)
	}
}

// A peer sending every kind of garbage must not stop the subscriber: each frame is dropped and
// counted by reason, and the next good message still arrives.
func TestGarbageIsCountedAndSkipped(t *testing.T) {
	raw, sub, signer := rawPeer(t, func(c *config.Config) { c.MaxFrameSize = 8192 })
	ctx := testbus.Within(t, 10*time.Second)
	build := func(topic string, body any) []byte {
		_, b := signedFrame(t, signer, topic, body, time.Now())
		return b
	}
	good := build("org.example.test.a.b", map[string]any{"ok": true})
	tampered := strings.Replace(string(build("org.example.test.a.b", map[string]any{"v": 1})), `"v":1`, `"v":2`, 1)
	garbage := []struct {
		reason string
		frames [][]byte
	}{
		{consumer.DropFrames, [][]byte{[]byte("t")}},
		{consumer.DropFrames, [][]byte{[]byte("t"), good, []byte("extra")}},
		{consumer.DropOversize, [][]byte{[]byte("org.example.test.a.b"), []byte(strings.Repeat("x", 20000))}},
		{consumer.DropUTF8, [][]byte{{0xff, 0xfe}, good}},
		{consumer.DropEnvelope, [][]byte{[]byte("org.example.test.a.b"), []byte("{not json")}},
		{consumer.DropEnvelope, [][]byte{[]byte("org.example.test.a.b"), []byte(`{"topic":"org.example.test.a.b"}`)}},
		{consumer.DropEnvelope, [][]byte{[]byte("org.example.test.a.b"), {0xc3, 0x28}}},
		{consumer.DropMismatch, [][]byte{[]byte("org.example.test.spoofed"), good}},
		{consumer.DropSignature, [][]byte{[]byte("org.example.test.a.b"), []byte(tampered)}},
		{consumer.DropSignature, [][]byte{[]byte("org.example.test.a.b"), []byte(`{"topic":"org.example.test.a.b","msg_id":"x","msg":{}}`)}},
	}
	want := map[string]uint64{}
	for _, g := range garbage {
		if err := raw.Send(g.frames...); err != nil {
			t.Fatal(err)
		}
		want[g.reason]++
	}
	if err := raw.Send([]byte("org.example.test.a.b"), good); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("%v (stats %+v)", err, sub.Stats())
	}
	if string(d.Raw) != string(good) {
		t.Fatalf("delivered %s", d.Raw)
	}
	st := sub.Stats()
	for reason, n := range want {
		if st.Dropped[reason] != n {
			t.Errorf("dropped[%s] = %d, want %d (all: %v)", reason, st.Dropped[reason], n, st.Dropped)
		}
	}
	if st.Delivered != 1 || st.Received != uint64(len(garbage)+1) {
		t.Errorf("stats %+v", st)
	}
}

func TestActivePublisherWithoutRelayFails(t *testing.T) {
	cfg := configtest.Config(map[string][]string{"relay_outbound": {testbus.Addr(t)}})
	cfg.Active = true
	cfg.RelayInbound = testbus.Addr(t)
	pub, err := config.NewPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = pub.Publish(ctx, "log", "x")
	if !errors.Is(err, publisher.ErrNoSubscriber) {
		t.Fatalf("err = %v, want ErrNoSubscriber", err)
	}
	if !strings.Contains(err.Error(), cfg.RelayInbound) {
		t.Fatalf("error does not name the relay: %v", err)
	}
}

func TestTailIteratorStopsOnBreakAndCancel(t *testing.T) {
	pub, _, cfg := bus(t, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	got := make(chan string, 1)
	go func() {
		for d, err := range config.Tail(ctx, cfg, "", consumer.WithEvents(func(e consumer.Event) {
			if e.Kind == consumer.Connected {
				close(ready)
			}
		})) {
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- d.Message.MsgID()
			return // break out of the loop: Tail must close its sockets
		}
	}()
	<-ready
	wctx := testbus.Within(t, 10*time.Second)
	// Two subscribers now (bus's and Tail's); wait until both subscriptions reached the publisher.
	testbus.Eventually(t, 10*time.Second, "two subscriptions", func() bool {
		return pub.Subscriptions() >= 2
	})
	sent, err := pub.Publish(wctx, "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != sent.MsgID() {
			t.Fatalf("got %s want %s", id, sent.MsgID())
		}
	case <-wctx.Done():
		t.Fatal("tail delivered nothing")
	}
}

// A replay of an old signed message (older than max_message_age) is refused even though its
// signature is valid: the dedupe window cannot remember forever, the age limit can.
func TestMaxMessageAgeRefusesOldReplays(t *testing.T) {
	raw, sub, signer := rawPeer(t, func(c *config.Config) { c.MaxMessageAge = 60 })
	ctx := testbus.Within(t, 10*time.Second)
	send := func(age time.Duration) string {
		m, b := signedFrame(t, signer, "org.example.test.a.b", map[string]any{"age": age.String()}, time.Now().Add(-age))
		if err := raw.Send([]byte(m.Topic()), b); err != nil {
			t.Fatal(err)
		}
		return m.MsgID()
	}
	send(time.Hour)
	fresh := send(0)
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.MsgID() != fresh {
		t.Fatalf("delivered %v, want the fresh message", d.Message.Body())
	}
	if n := sub.Stats().Dropped[consumer.DropTooOld]; n != 1 {
		t.Fatalf("too_old drops %d, want 1", n)
	}
}

// rawPeer binds a raw PUB socket on a loopback endpoint and returns it with a validating
// Subscriber (configured by edit) proven subscribed to it, and pub01's signer from the vector
// PKI, so a test can send any frames it likes. Everything is closed when the test ends.
func rawPeer(t *testing.T, edit func(*config.Config)) (*zsock.Pub, *consumer.Subscriber, *certs.X509Signer) {
	t.Helper()
	addr := testbus.Addr(t)
	cfg := configtest.Sign(configtest.Config(map[string][]string{"peer.host": {addr}}), "pub01")
	edit(cfg)
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(); zctx.Term() })
	sub, err := config.NewSubscriber(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if err := raw.WaitSubscribed(testbus.Within(t, 10*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	signer, err := certs.LoadSigner(testbus.PKIDir()+"/pub01.crt", testbus.PKIDir()+"/pub01.key")
	if err != nil {
		t.Fatal(err)
	}
	return raw, sub, signer
}

// signedFrame builds an envelope sent at the given time, signs it and encodes it.
func signedFrame(t *testing.T, signer certs.Signer, topic string, body any, at time.Time) (*message.Message, []byte) {
	t.Helper()
	m, err := message.Build(topic, body, 1, "u", at)
	if err != nil {
		t.Fatal(err)
	}
	if err := signer.Sign(m); err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

// WithSkip drops messages by frame 1 before anything else: a frame that is not even JSON is
// skipped, not counted as invalid, and the next message is delivered.
func TestSkipByTopicFrame(t *testing.T) {
	cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(t)}})
	cfg.Name = "svc.host"
	pub, err := config.NewPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	var asked []string
	sub, err := config.NewSubscriber(cfg, "", consumer.WithSkip(func(topic []byte) bool {
		asked = append(asked, string(topic))
		return strings.HasSuffix(string(topic), ".gilmsg.ack")
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ctx := testbus.Within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := pub.Resend("org.example.test.gilmsg.ack", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	sent, err := pub.Publish(ctx, "update", 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := sub.Stats()
	if d.Message.MsgID() != sent.MsgID() || st.Skipped != 1 || len(st.Dropped) != 0 || st.Received != 2 || st.Delivered != 1 {
		t.Fatalf("delivered %s, stats %+v", d.Message.MsgID(), st)
	}
	if len(asked) != 2 || asked[0] != "org.example.test.gilmsg.ack" || asked[1] != sent.Topic() {
		t.Fatalf("skip asked about %q", asked)
	}
}
