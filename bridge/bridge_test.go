package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

func TestMain(m *testing.M) {
	code := rmqtest.Main(m)
	if pkiDir != "" {
		os.RemoveAll(pkiDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutines leaked: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

var (
	pkiOnce sync.Once
	pkiDir  string
	pkiErr  error
)

// pki is the vector PKI plus a certificate for "bridge", in a directory shared by the tests.
func pki(t *testing.T) string {
	t.Helper()
	pkiOnce.Do(func() {
		pkiDir, pkiErr = os.MkdirTemp("", "bridge-pki-")
		if pkiErr != nil {
			return
		}
		src := testbus.PKIDir()
		entries, err := os.ReadDir(src)
		if err != nil {
			pkiErr = err
			return
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				pkiErr = err
				return
			}
			if err := os.WriteFile(filepath.Join(pkiDir, e.Name()), data, 0o600); err != nil {
				pkiErr = err
				return
			}
		}
		_, pkiErr = certs.Issue(pkiDir, "bridge", certs.PKIOptions{KeyType: certs.KeyEd25519})
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiDir
}

// world is a bus on loopback (a publisher, the bridge, consumer sub01) and the shared broker.
type world struct {
	t   *testing.T
	eps map[string][]string
	url string
	ex  string // the bridge's exchange
	pub *ack.Publisher
}

func newWorld(t *testing.T) *world {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	w := &world{t: t, url: rmqtest.URL(t), ex: rmqtest.Name("ex"), eps: map[string][]string{}}
	for _, k := range []string{"pub.host", "bridge.host", "sub01.host"} {
		w.eps[k] = []string{testbus.Addr(t)}
	}
	return w
}

func (w *world) config(name, cert string) *config.Config {
	c := configtest.Sign(configtest.Config(w.eps), cert)
	dir := pki(w.t)
	c.SSLDir, c.CACertLocation, c.CRLLocation = dir, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem")
	c.Name = name
	return c
}

func testLog(t *testing.T, part string) *slog.Logger {
	if os.Getenv("BRIDGE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("part", part, "test", t.Name())
}

func (w *world) publisher() *ack.Publisher {
	w.t.Helper()
	p, err := config.NewAckPublisher(context.Background(), w.config("pub.host", "pub01"), ack.WithLogger(testLog(w.t, "pub")))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { p.Close() })
	w.pub = p
	return p
}

// running is a bridge whose Run goroutine the test can stop.
type running struct {
	*bridge.Bridge
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() {
	r.cancel()
	<-r.done
	r.Close()
}

func (w *world) bridge(edit func(*config.BridgeConfig)) *running {
	w.t.Helper()
	c := w.config("bridge.host", "bridge")
	c.Bridge.URL, c.Bridge.Exchange = w.url, w.ex
	c.Bridge.ReconnectMax = 0.5
	edit(&c.Bridge)
	b, err := config.NewBridge(w.t.Context(), c, bridge.WithLogger(testLog(w.t, "bridge")))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Bridge: b, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b.Run(ctx)
	}()
	w.t.Cleanup(r.stop)
	testbus.Eventually(w.t, 20*time.Second, "bridge ready", b.Ready)
	if b.Subscriber() != nil && w.pub != nil {
		// The publisher is made first: its first message reaches the bridge at once.
		if err := w.pub.WaitSubscribed(testbus.Within(w.t, 10*time.Second), "org.example.test.probe"); err != nil {
			w.t.Fatal(err)
		}
	}
	return r
}

// amqpChannel is a separate client of the broker, as an AMQP-side consumer would be.
func (w *world) amqpChannel() *amqp.Channel {
	w.t.Helper()
	conn, err := amqp.Dial(w.url)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		w.t.Fatal(err)
	}
	return ch
}

// queue declares a durable queue bound to the bridge's exchange with key.
func (w *world) queue(ch *amqp.Channel, key string) string {
	w.t.Helper()
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		w.t.Fatal(err)
	}
	q := rmqtest.Name("q")
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		w.t.Fatal(err)
	}
	if err := ch.QueueBind(q, key, w.ex, false, nil); err != nil {
		w.t.Fatal(err)
	}
	return q
}

// drain takes every message in q (basic.get, acked).
func drain(t *testing.T, ch *amqp.Channel, q string) []amqp.Delivery {
	t.Helper()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// An acked publish to recipient bridge returns nil only once the message is in a durable queue:
// a separate consumer finds it there, the envelope intact and verifiable, with
// fedora-messaging's headers.
func TestAckedPublishMeansQueued(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "org.example.#")
	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"org.example.#"} })
	ctx := testbus.Within(t, 60*time.Second)

	for i := range 20 {
		m, err := p.Publish(ctx, "bridge.test", map[string]any{"i": i}, ack.To("bridge"), ack.Within(10*time.Second))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		// The ACK is in: the message must be in the queue now, not later.
		d, ok, err := ch.Get(q, true)
		if err != nil || !ok {
			t.Fatalf("publish %d returned nil but the queue is empty (%v)", i, err)
		}
		if d.MessageId != m.MsgID() || d.RoutingKey != m.Topic() {
			t.Fatalf("message_id %q routing key %q, want %q %q", d.MessageId, d.RoutingKey, m.MsgID(), m.Topic())
		}
		want, _ := m.Marshal()
		if string(d.Body) != string(want) {
			t.Fatalf("body is not the signed envelope:\n%s\nwant\n%s", d.Body, want)
		}
		if d.DeliveryMode != amqp.Persistent || d.ContentType != "application/json" || d.Headers["fedora_messaging_schema"] != "base.message" ||
			d.Headers[bridge.HeaderBridge] != "bridge" || d.Headers[bridge.HeaderSigner] != "pub01" || d.Headers["sent-at"] == nil {
			t.Fatalf("properties: mode %d type %q headers %v", d.DeliveryMode, d.ContentType, d.Headers)
		}
		// Whoever reads the queue can check who signed it.
		got, err := message.Decode(d.Body)
		if err != nil {
			t.Fatal(err)
		}
		v := verifier(t)
		id, err := v.Verify(got)
		if err != nil || id.CN != "pub01" {
			t.Fatalf("verifying the queued envelope: %v %v", id, err)
		}
	}
	if st := b.Stats(); st.Confirmed != 20 || st.Returned != 0 {
		t.Fatalf("stats %+v: want 20 confirmed", st)
	}
}

func verifier(t *testing.T) certs.Verifier {
	dir := pki(t)
	c := config.DefaultConfig()
	c.ValidateSignatures = true
	c.SSLDir, c.CACertLocation, c.CRLLocation = dir, filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem")
	v, err := c.Verifier(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// With no queue bound for the topic the broker returns the message: the bridge does not ACK,
// and the publish times out naming bridge.
func TestUnroutableTimesOutNamingBridge(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "other.#")
	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"org.example.#"} })
	_, err := p.Publish(testbus.Within(t, 30*time.Second), "nowhere", map[string]any{}, ack.To("bridge"), ack.Within(1500*time.Millisecond))
	var te *ack.TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "bridge") {
		t.Fatalf("want a timeout naming bridge, got %v", err)
	}
	if st := b.Stats(); st.Returned == 0 || st.Confirmed != 0 {
		t.Fatalf("stats %+v: want returned, none confirmed", st)
	}
	if got := drain(t, ch, q); len(got) != 0 {
		t.Fatalf("%d messages in an unbound queue", len(got))
	}
}

// A message returned as unroutable is offered again by the publisher's retransmission: once a
// queue is bound for it, the same publish returns nil and the queue holds the message once.
func TestUnroutableDeliveredOnceBound(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "other.#")
	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"org.example.#"} })
	ctx := testbus.Within(t, 60*time.Second)
	f, err := p.PublishAsync(ctx, "later", map[string]any{"n": 1}, ack.To("bridge"), ack.Within(45*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for b.Stats().Returned == 0 { // proven returned before the queue is bound
		if ctx.Err() != nil {
			t.Fatalf("never returned: %+v", b.Stats())
		}
		time.Sleep(10 * time.Millisecond) // polling the bridge's counters
	}
	if err := ch.QueueBind(q, "org.example.#", w.ex, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("publish after the queue was bound: %v", err)
	}
	got := drain(t, ch, q)
	if len(got) != 1 || got[0].MessageId != f.Message().MsgID() {
		t.Fatalf("queue holds %d messages, want the one published (%s)", len(got), f.Message().MsgID())
	}
	if st := b.Stats(); st.Confirmed != 1 {
		t.Fatalf("stats %+v: want one confirmed", st)
	}
}

// RabbitMQ stopped and restarted while the publisher streams: every message whose publish
// returned nil is in the queue afterwards.
func TestBrokerRestartLosesNoAckedMessage(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "#")
	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"#"} })
	ctx := testbus.Within(t, 120*time.Second)

	var (
		mu    sync.Mutex
		acked []string
		fails int
	)
	const n = 300
	done := make(chan struct{})
	half := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			if i == n/3 {
				close(half)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				m, err := p.Publish(ctx, "stream", map[string]any{"i": i}, ack.To("bridge"), ack.Within(40*time.Second))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fails++
					return
				}
				acked = append(acked, m.MsgID())
			})
		}
		wg.Wait()
	}()
	<-half
	rmqtest.Restart(t)
	<-done

	conn, err := amqp.Dial(w.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]int{}
	for _, d := range drain(t, ch2, q) {
		in[d.MessageId]++
	}
	missing := 0
	for _, id := range acked {
		if in[id] == 0 {
			missing++
		}
	}
	t.Logf("acked %d, failed %d, in queue %d distinct, reconnects %d", len(acked), fails, len(in), b.Stats().ToReconnects)
	if missing > 0 {
		t.Fatalf("%d messages ACKed by the bridge are not in the queue", missing)
	}
	if len(acked) < n/2 {
		t.Fatalf("only %d of %d publishes succeeded across the restart", len(acked), n)
	}
	if b.Stats().ToReconnects == 0 {
		t.Fatal("the bridge never saw the broker go away: the test proved nothing")
	}
}

// Three competing consumers on one queue each get a share, and together every message once.
func TestCompetingConsumersShare(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "#")
	p := w.publisher()
	w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"#"} })
	ctx := testbus.Within(t, 60*time.Second)

	var mu sync.Mutex
	got := map[string]int{}
	per := make([]int, 3)
	for i := range 3 {
		c := w.amqpChannel()
		if err := c.Qos(1, 0, false); err != nil {
			t.Fatal(err)
		}
		ds, err := c.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for d := range ds {
				mu.Lock()
				got[d.MessageId]++
				per[i]++
				mu.Unlock()
				d.Ack(false)
			}
		}()
	}
	const n = 90
	var ids []string
	for i := range n {
		m, err := p.Publish(ctx, "work", map[string]any{"i": i}, ack.To("bridge"), ack.Within(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.MsgID())
	}
	testbus.Eventually(t, 20*time.Second, "all consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("%s consumed %d times", id, got[id])
		}
	}
	for i, k := range per {
		if k == 0 {
			t.Fatalf("consumer %d got nothing: %v", i, per)
		}
	}
	t.Logf("shares %v", per)
}

// publishAMQP publishes body on the bridge's exchange with routing key key and waits for the
// broker's confirm.
func (w *world) publishAMQP(ch *amqp.Channel, key, id string, body []byte, headers amqp.Table) {
	w.t.Helper()
	ctx := testbus.Within(w.t, 10*time.Second)
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, w.ex, key, true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: id, Body: body, Headers: headers})
	if err != nil {
		w.t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		w.t.Fatalf("confirm: %v %v", ok, err)
	}
}

// depth is how many messages of q are ready (not delivered to a consumer, or requeued).
func depth(t *testing.T, ch *amqp.Channel, q string) int {
	t.Helper()
	qi, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return qi.Messages
}

// AMQP → bus → an acking consumer: the broker message is acked only after the consumer's ACK.
// While sub01 holds it, stopping the bridge puts it back in the queue; once sub01 ACKed, it is
// gone for good.
func TestFromAMQPAckedAfterRecipientACK(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q := rmqtest.Name("in")
	sub, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithMode(ack.AfterProcessing), ack.WithLogger(testLog(t, "sub01")))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	start := func() *running {
		return w.bridge(func(b *config.BridgeConfig) {
			b.Queue, b.QueueBindings, b.Recipients = q, []string{"org.example.#", "scm.#"}, []string{"sub01"}
			b.PublishTimeout = 60
		})
	}
	b := start()
	ctx := testbus.Within(t, 60*time.Second)
	if err := b.Publisher().WaitSubscribed(ctx, "org.example.test.probe"); err != nil {
		t.Fatal(err)
	}

	w.publishAMQP(ch, "scm.push", "first", []byte(`{"repo":"ackmsg","n":1}`), nil)
	d, err := nextMsg(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if d.Topic != "org.example.test.amqp.scm.push" || d.Signer.CN != "bridge" || !d.Marked {
		t.Fatalf("topic %q signer %q marked %v", d.Topic, d.Signer.CN, d.Marked)
	}
	if body, _ := d.Message.Body().(map[string]any); body["repo"] != "ackmsg" {
		t.Fatalf("body %v", d.Message.Body())
	}
	firstID := d.Message.MsgID()
	// Not ACKed yet: the broker message is held, unacked. Stopping the bridge returns it.
	if st := b.Stats(); st.FromPublished != 0 {
		t.Fatalf("published (acked to the broker) before the recipient's ACK: %+v", st)
	}
	b.stop()
	// A quorum queue requeues the unacked message of a closed channel through its log, a moment
	// after the close returned.
	testbus.Eventually(t, 10*time.Second, "the unACKed message requeued after stopping the bridge (1 ready)",
		func() bool { return depth(t, ch, q) == 1 })
	d.Done(errors.New("not processed")) // this attempt failed: no ACK

	// Redelivered to a new bridge under the same msg_id; this time sub01 ACKs.
	// (No WaitSubscribed on a restarted bridge: a publisher bound again on the address of one
	// that closed does not see the subscriptions of the subscribers that reconnect, although
	// messages flow; the acked publish retransmits until sub01 has it.)
	b = start()
	d, err = nextMsg(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if d.Message.MsgID() != firstID {
		t.Fatalf("redelivery has msg_id %s, first delivery %s: recipients could not de-duplicate", d.Message.MsgID(), firstID)
	}
	d.Done(nil)
	testbus.Eventually(t, 20*time.Second, "broker message acked", func() bool { return b.Stats().FromPublished == 1 })
	b.stop()
	if n := depth(t, ch, q); n != 0 {
		t.Fatalf("%d messages back in the queue after the recipient ACKed", n)
	}

	// A routing key under topic_prefix is kept whole.
	// (No WaitSubscribed on a restarted bridge: a publisher bound again on the address of one
	// that closed does not see the subscriptions of the subscribers that reconnect, although
	// messages flow; the acked publish retransmits until sub01 has it.)
	b = start()
	w.publishAMQP(ch, "org.example.prod.bodhi.update", "", []byte(`{"x":1}`), nil)
	d, err = nextMsg(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if d.Topic != "org.example.prod.bodhi.update" {
		t.Fatalf("topic %q", d.Topic)
	}
	d.Done(nil)
	testbus.Eventually(t, 20*time.Second, "second acked", func() bool { return b.Stats().FromPublished == 1 })
}

// A body that is not a JSON object goes to the dead-letter exchange at once; a message whose
// recipient never ACKs goes there after max_attempts. Nothing else is lost on the way.
func TestPoisonDeadLettered(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, dlx := rmqtest.Name("in"), rmqtest.Name("dlx")
	b := w.bridge(func(b *config.BridgeConfig) {
		b.Queue, b.QueueBindings, b.DeadLetterExchange = q, []string{"#"}, dlx
		b.Recipients, b.PublishTimeout, b.MaxAttempts = []string{"nobody"}, 0.3, 2
	})
	w.publishAMQP(ch, "poison", "p1", []byte("not json at all"), nil)
	w.publishAMQP(ch, "poison", "p2", []byte(`["an array"]`), nil)
	w.publishAMQP(ch, "unacked", "u1", []byte(`{"fine":true}`), nil)
	testbus.Eventually(t, 30*time.Second, "three dead letters", func() bool { return depth(t, ch, q+".dead") == 3 })
	got := map[string]bool{}
	for _, d := range drain(t, ch, q+".dead") {
		got[d.MessageId] = true
	}
	if !got["p1"] || !got["p2"] || !got["u1"] {
		t.Fatalf("dead letters %v", got)
	}
	st := b.Stats()
	if st.FromDead != 3 || st.FromPublished != 0 || st.FromFailed != 4 {
		t.Fatalf("stats %+v: want 3 dead (2 poison at once, 1 after 2 attempts)", st)
	}
	if n := depth(t, ch, q); n != 0 {
		t.Fatalf("%d left in the queue", n)
	}
}

// Both directions on one exchange: what the bridge sends to the broker does not come back to the
// bus, and what it brings from the broker is not sent back to the broker.
func TestNoLoops(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	seen := w.queue(ch, "#") // sees everything on the exchange
	p := w.publisher()
	q := rmqtest.Name("in")
	b := w.bridge(func(b *config.BridgeConfig) {
		b.Topics, b.Queue, b.QueueBindings = []string{"#"}, q, []string{"#"}
	})
	ctx := testbus.Within(t, 30*time.Second)
	if _, err := p.Publish(ctx, "outbound", map[string]any{"a": 1}, ack.To("bridge")); err != nil {
		t.Fatal(err)
	}
	w.publishAMQP(ch, "inbound", "in-1", []byte(`{"b":2}`), nil)
	testbus.Eventually(t, 20*time.Second, "both handled", func() bool {
		st := b.Stats()
		return st.FromLooped == 1 && st.FromPublished == 1 && st.SkippedOwn == 1
	})
	if got := drain(t, ch, seen); len(got) != 2 {
		// the bus message once, the AMQP one once: neither echoed
		t.Fatalf("%d messages on the exchange, want 2", len(got))
	}
	if st := b.Stats(); st.Confirmed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// nextMsg is the next delivery that is not an ACK (sub01 subscribes to everything).
func nextMsg(ctx context.Context, sub *ack.Subscriber) (*ack.Delivery, error) {
	for {
		d, err := sub.Next(ctx)
		if err != nil || !strings.HasSuffix(d.Topic, ".gilmsg.ack") {
			return d, err
		}
		d.Done(nil)
	}
}

// The broker message carries exactly the headers fedora-messaging puts on its own base messages
// (found by integration/fedora_messaging_interop_test.go: without "priority" its dumps/loads
// round trip gave back a different message), with the same AMQP types, plus the bridge's two.
func TestFedoraMessagingHeaders(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "org.example.#")
	p := w.publisher()
	w.bridge(func(b *config.BridgeConfig) { b.Topics = []string{"org.example.#"} })
	m, err := p.Publish(testbus.Within(t, 30*time.Second), "fm.headers", map[string]any{"k": "v"}, ack.To("bridge"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, ch, q)
	if len(got) != 1 {
		t.Fatalf("%d messages in the queue, want 1", len(got))
	}
	d := got[0]
	sent := time.Unix(m.Timestamp(), 0).UTC()
	want := amqp.Table{
		"fedora_messaging_schema":   "base.message",
		"fedora_messaging_severity": int32(20),
		"sent-at":                   sent.Format("2006-01-02T15:04:05+00:00"), // Python's isoformat() of a UTC time
		"priority":                  int32(0),
		bridge.HeaderBridge:         "bridge",
		bridge.HeaderSigner:         "pub01",
	}
	if !reflect.DeepEqual(d.Headers, want) {
		t.Fatalf("headers\n %#v\nwant\n %#v", d.Headers, want)
	}
	if d.ContentType != "application/json" || d.ContentEncoding != "utf-8" || d.DeliveryMode != amqp.Persistent ||
		d.MessageId != m.MsgID() || d.Priority != 0 || !d.Timestamp.Equal(sent) {
		t.Fatalf("properties: type %q encoding %q mode %d id %q priority %d timestamp %v", d.ContentType, d.ContentEncoding,
			d.DeliveryMode, d.MessageId, d.Priority, d.Timestamp)
	}
}

// A fedora-messaging message has a uuid4 message_id, no timestamp property and a sent-at
// header: its bus msg_id takes the year of sent-at, so a redelivery after New Year is still the
// same message (it used to take the year of the delivery).
func TestFromAMQPMsgIDYearFromSentAt(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	sub, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithMode(ack.AfterProcessing), ack.WithLogger(testLog(t, "sub01")))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	b := w.bridge(func(b *config.BridgeConfig) {
		b.Queue, b.QueueBindings, b.Recipients = rmqtest.Name("in"), []string{"bodhi.#"}, []string{"sub01"}
	})
	ctx := testbus.Within(t, 60*time.Second)
	if err := b.Publisher().WaitSubscribed(ctx, "org.example.test.probe"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sentAt time.Time
		year   string
	}{
		{time.Date(2019, 12, 31, 23, 59, 59, 0, time.UTC), "2019-"},
		{time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), "2031-"},
	} {
		id := "3f1c7a52-1b8e-4c36-9d0e-" + c.year[:4] + "00000000"
		w.publishAMQP(ch, "bodhi.update.comment", id, []byte(`{"comment":"ok"}`), bridge.FedoraMessagingHeaders(c.sentAt))
		d, err := nextMsg(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Message.MsgID(); !strings.HasPrefix(got, c.year) || got[5:] == id {
			t.Errorf("sent-at %s: msg_id %q, want %s<uuid5 of %s>", c.sentAt, got, c.year, id)
		}
		d.Done(nil)
	}
}

// A broker that refuses the bridge (a wrong password, a vhost it may not use) ends Run at once
// with ErrRefused and the broker's reason, both directions; a broker that cannot be reached is
// retried until ctx ends.
func TestRunStopsWhenTheBrokerRefuses(t *testing.T) {
	w := newWorld(t)
	good := w.url // amqp://guest:guest@127.0.0.1:PORT/
	for _, c := range []struct{ name, url, reason string }{
		{"password", strings.Replace(good, "guest:guest@", "guest:wrong@", 1), "(403)"},
		{"vhost", good + "no-such-vhost", "NOT_ALLOWED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := w.config("bridge.host", "bridge")
			cfg.Bridge.URL, cfg.Bridge.ReconnectMax = c.url, 0.5
			cfg.Bridge.Topics, cfg.Bridge.Queue = []string{"org.example"}, rmqtest.Name("refused")
			b, err := config.NewBridge(t.Context(), cfg, bridge.WithLogger(testLog(t, "bridge")))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			start := time.Now()
			err = b.Run(testbus.Within(t, 30*time.Second))
			took := time.Since(start)
			if !errors.Is(err, bridge.ErrRefused) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("Run = %v after %s, want ErrRefused with %s", err, took, c.reason)
			}
			var ae *amqp.Error
			if !errors.As(err, &ae) || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("Run = %v: want the broker's *amqp.Error, and no password", err)
			}
			for _, d := range []string{"bus → AMQP", "AMQP → bus"} {
				if !strings.Contains(err.Error(), d) {
					t.Errorf("Run = %v: the %s direction is not named", err, d)
				}
			}
			if took > 10*time.Second {
				t.Errorf("Run took %s to give up", took)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		cfg := w.config("bridge.host", "bridge")
		cfg.Bridge.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", testbus.FreePort(t))
		cfg.Bridge.ReconnectMax, cfg.Bridge.Queue = 0.2, rmqtest.Name("unreachable")
		b, err := config.NewBridge(t.Context(), cfg, bridge.WithLogger(testLog(t, "bridge")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		start := time.Now()
		if err := b.Run(testbus.Within(t, 1500*time.Millisecond)); err != nil || time.Since(start) < 1400*time.Millisecond {
			t.Fatalf("Run = %v after %s, want nil when ctx ends: a connection failure is retried", err, time.Since(start))
		}
	})
}
