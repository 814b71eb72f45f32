package ack_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a bus on loopback: one endpoint for the publisher and one per consumer name, all
// signing with the vector PKI.
type world struct {
	t     *testing.T
	eps   map[string][]string
	names []string
}

func newWorld(t *testing.T, consumers ...string) *world {
	w := &world{t: t, eps: map[string][]string{"pub.host": {testbus.Addr(t)}}, names: consumers}
	for _, c := range consumers {
		w.eps[c+".host"] = []string{testbus.Addr(t)}
	}
	return w
}

// config returns the configuration of the process named name, signing as cert.
func (w *world) config(name, cert string) *config.Config {
	c := configtest.Sign(configtest.Config(w.eps), cert)
	c.Name = name
	return c
}

func (w *world) publisher(opts ...ack.Option) *ack.Publisher {
	w.t.Helper()
	p, err := config.NewAckPublisher(context.Background(), w.config("pub.host", "pub01"), append([]ack.Option{ack.WithLogger(debugLog("pub"))}, opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { p.Close() })
	return p
}

// consumer is a running acking consumer and what it delivered.
type consumer struct {
	s      *ack.Subscriber
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	got  map[string]int // msg_id -> deliveries
	fail map[string]int // msg_id -> failures still to report
}

// startConsumer runs an acking consumer bound on endpoint key, signing as cert.
func (w *world) startConsumer(key, cert string, mode ack.Mode) *consumer {
	w.t.Helper()
	s, err := config.NewAckSubscriber(w.config(key+".host", cert), "", ack.WithMode(mode), ack.WithSubscriberLogger(debugLog(key)))
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{s: s, cancel: cancel, done: make(chan struct{}), got: map[string]int{}, fail: map[string]int{}}
	go func() {
		defer close(c.done)
		for {
			d, err := s.Next(ctx)
			if err != nil {
				return
			}
			id := d.Message.MsgID()
			c.mu.Lock()
			c.got[id]++
			var ferr error
			if c.fail[id] > 0 {
				c.fail[id]--
				ferr = errors.New("planned failure")
			}
			c.mu.Unlock()
			d.Done(ferr)
		}
	}()
	w.t.Cleanup(c.stop)
	return c
}

func (c *consumer) stop() {
	c.cancel()
	<-c.done
	c.s.Close()
}

func (c *consumer) deliveries(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[id]
}

func debugLog(name string) *slog.Logger {
	if os.Getenv("ACK_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("who", name)
}

func TestAllRecipientsUp(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	c1 := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	c2 := w.startConsumer("sub02", "sub02", ack.OnReceipt)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	m, err := p.Publish(ctx, "order", map[string]any{"n": 1}, ack.To("sub01", "sub02"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.String("gilmsg_version"); v != ack.Marker {
		t.Fatalf("marker %q", v)
	}
	// After-processing: delivered (and processed) before the ACK, so before Publish returned.
	if n := c1.deliveries(m.MsgID()); n != 1 {
		t.Fatalf("sub01 deliveries %d", n)
	}
	// On-receipt: the ACK goes out before the application sees the message.
	testbus.Eventually(t, 10*time.Second, "sub02 delivery", func() bool { return c2.deliveries(m.MsgID()) == 1 })
	st := p.Stats()
	if st.Succeeded != 1 || st.AcksCounted != 2 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMissingRecipientTimesOutNamingIt(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	start := time.Now()
	_, err := p.Publish(ctx, "order", 1, ack.To("sub01", "sub02"), ack.Within(1500*time.Millisecond))
	waited := time.Since(start)
	var te *ack.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, ack.ErrTimeout) {
		t.Fatalf("err = %v, want a TimeoutError", err)
	}
	if fmt.Sprint(te.Missing) != "[sub02]" || fmt.Sprint(te.Acked) != "[sub01]" {
		t.Fatalf("missing %v acked %v", te.Missing, te.Acked)
	}
	if te.Attempts < 2 {
		t.Fatalf("attempts %d: no retransmission", te.Attempts)
	}
	want := fmt.Sprintf("ack: 1 of 2 recipients did not ACK msg %s within", te.MsgID)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "missing sub02 (acked: sub01)") {
		t.Fatalf("error text %q", err)
	}
	if waited < 1500*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("waited %s for a 1.5s timeout", waited)
	}
	if p.Stats().InFlight != 0 {
		t.Fatal("waiter not freed")
	}
}

// A consumer started after the publish call began still gets the message: retransmission.
func TestLateConsumerGetsRetransmission(t *testing.T) {
	w := newWorld(t, "sub01")
	p := w.publisher()
	ctx := testbus.Within(t, 30*time.Second)
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Finished():
		t.Fatalf("finished before the consumer existed: %v", f.Err())
	default:
	}
	c := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.deliveries(f.Message().MsgID()); n != 1 {
		t.Fatalf("delivered %d times", n)
	}
	if p.Stats().Retransmits == 0 {
		t.Fatal("no retransmission recorded")
	}
	select {
	case <-f.Finished():
	default:
		t.Fatal("Wait returned, but Finished is not closed")
	}
	if f.Done() != f.Finished() {
		t.Fatal("the deprecated Future.Done is not Finished")
	}
}

// ACKs signed by the wrong certificate never count: revoked, expired, other CA, other CN.
func TestForgedAcksDoNotCount(t *testing.T) {
	cases := []struct {
		cert, recipient, reason string
	}{
		{"revoked01", "revoked01", "revoked"},
		{"expired01", "expired01", "expired"},
		{"untrusted01", "untrusted01", "untrusted"},
		{"sub01", "sub02", "not_recipient"},
	}
	for _, c := range cases {
		t.Run(c.cert+"_as_"+c.recipient, func(t *testing.T) {
			w := newWorld(t, "rogue")
			if c.cert == c.recipient {
				w.startConsumer("rogue", c.cert, ack.OnReceipt)
			}
			p := w.publisher()
			ctx := testbus.Within(t, 20*time.Second)
			f, err := p.PublishAsync(ctx, "order", 1, ack.To(c.recipient), ack.Within(1200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if c.cert != c.recipient {
				// Our consumers do not ACK a message whose ack_recipients does not name them;
				// gilmsg's ACK every marked message: send such an ACK.
				sendAck(t, w, "rogue.host", p, c.cert, f.Message().MsgID())
			}
			err = f.Wait(ctx)
			if !errors.Is(err, ack.ErrTimeout) {
				t.Fatalf("err = %v, want timeout", err)
			}
			if n := p.Stats().AcksRejected[c.reason]; n == 0 {
				t.Fatalf("no ACK rejected as %q: %+v", c.reason, p.Stats())
			}
			if p.Stats().AcksCounted != 0 {
				t.Fatal("a forged ACK was counted")
			}
		})
	}
}

// A genuine ACK from a subscriber that is not a recipient (a gilmsg consumer ACKs every marked
// message it gets) does not count and is not a warning: no WARN line per message, a count under
// AcksRejected["not_recipient"], and the timeout names that signer, so a recipient misnamed in
// To is still found.
func TestNonRecipientAckIsQuietAndNamedOnTimeout(t *testing.T) {
	w := newWorld(t, "gilmsg")
	log, buf := captureLog()
	p := w.publisher(ack.WithLogger(log))
	ctx := testbus.Within(t, 20*time.Second)
	raw := rawPub(t, w, "gilmsg.host")
	if err := raw.WaitSubscribed(ctx, p.AckTopic()); err != nil {
		t.Fatal(err)
	}
	sub01 := loadSigner(t, "sub01")
	for range 2 {
		f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01-typo"), ack.Within(1200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		// Our consumers ACK only when ack_recipients names them; a gilmsg consumer ACKs every
		// marked message: sub01 answers as gilmsg would.
		frame := signedFrame(t, sub01, p.AckTopic(), map[string]any{"ack_msg_id": f.Message().MsgID()}, nil, nil)
		if err := raw.Send([]byte(p.AckTopic()), frame); err != nil {
			t.Fatal(err)
		}
		err = f.Wait(ctx)
		var te *ack.TimeoutError
		if !errors.As(err, &te) || !errors.Is(err, ack.ErrTimeout) {
			t.Fatalf("err = %v, want a timeout", err)
		}
		if !slices.Equal(te.Others, []string{"sub01"}) || !strings.Contains(err.Error(), "also ACKed by non-recipients: sub01") {
			t.Fatalf("Others %q, error %q: want sub01 named", te.Others, err)
		}
	}
	if n := p.Stats().AcksRejected["not_recipient"]; n < 2 {
		t.Fatalf("AcksRejected[not_recipient] = %d, want >= 2", n)
	}
	if l := buf.lines("level=WARN", "not a recipient"); len(l) > 0 {
		t.Fatalf("a non-recipient's ACK was logged as a warning: %q", l)
	}
	if l := buf.lines("level=DEBUG", "not a recipient", "signer=sub01"); len(l) == 0 {
		t.Fatalf("no debug line names the non-recipient signer:\n%s", buf)
	}
}

func TestConcurrentPublishesNeverMixAcks(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	c2 := w.startConsumer("sub02", "sub02", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 90*time.Second)
	if _, err := p.Publish(ctx, "warm", 0, ack.To("sub01", "sub02")); err != nil {
		t.Fatal(err)
	}
	c2.stop() // from now on sub02 never ACKs
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				// Messages to sub01 alone must succeed, however slowly one consumer signs 50 ACKs
				// (RSA-2048 takes ~70 ms under the race detector); messages that also name the
				// stopped sub02 must time out.
				to, within := []string{"sub01"}, 50*time.Second
				if (g+i)%2 == 0 {
					to, within = []string{"sub01", "sub02"}, 1500*time.Millisecond
				}
				_, err := p.Publish(ctx, "order", g*100+i, ack.To(to...), ack.Within(within))
				switch {
				case len(to) == 1 && err != nil:
					errs <- fmt.Errorf("to sub01 failed: %w", err)
				case len(to) == 2 && !errors.Is(err, ack.ErrTimeout):
					errs <- fmt.Errorf("to sub01+sub02 = %v, want timeout (false positive)", err)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A retransmission of a message already ACKed is re-ACKed and not delivered again.
func TestDuplicateIsReackedNotRedelivered(t *testing.T) {
	w := newWorld(t, "sub01")
	c := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	m, err := p.Publish(ctx, "order", 1, ack.To("sub01"))
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := m.Marshal()
	// A retransmission of the publish itself (its ACK slow under load) may be re-ACKed too.
	before := c.s.Stats().Reacked
	for i := 0; i < 3; i++ {
		if err := p.Publisher().Resend(m.Topic(), frame); err != nil {
			t.Fatal(err)
		}
	}
	testbus.Eventually(t, 10*time.Second, "re-ACKs", func() bool { return c.s.Stats().Reacked >= before+3 })
	if n := c.deliveries(m.MsgID()); n != 1 {
		t.Fatalf("delivered %d times", n)
	}
}

// After-processing mode: a failure sends no ACK; the retransmission is processed again and ACKed.
func TestFailedProcessingIsRetriedByRetransmission(t *testing.T) {
	w := newWorld(t, "sub01")
	c := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The consumer may already have it; plan one failure before it can succeed: the mutex orders
	// this with its first delivery only if it has not happened yet, so check the outcome instead.
	c.mu.Lock()
	first := c.got[f.Message().MsgID()] == 0
	if first {
		c.fail[f.Message().MsgID()] = 1
	}
	c.mu.Unlock()
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if first {
		if n := c.deliveries(f.Message().MsgID()); n != 2 {
			t.Fatalf("delivered %d times, want 2 (one failure, one success)", n)
		}
		if c.s.Stats().Failed != 1 {
			t.Fatalf("stats %+v", c.s.Stats())
		}
	}
}

func TestCancelFreesTheWaiter(t *testing.T) {
	w := newWorld(t, "sub01")
	p := w.publisher()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-f.Finished()
	err = f.Err()
	if !errors.Is(err, context.Canceled) || errors.Is(err, ack.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if st := p.Stats(); st.InFlight != 0 || st.Cancelled != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInFlightBound(t *testing.T) {
	w := newWorld(t, "sub01")
	cfg := w.config("pub.host", "pub01")
	cfg.AckMaxInFlight = 1
	p, err := config.NewAckPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testbus.Within(t, 20*time.Second)
	if _, err := p.PublishAsync(ctx, "a", 1, ack.To("sub01"), ack.Within(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = p.PublishAsync(ctx, "b", 2, ack.To("sub01"), ack.Within(100*time.Millisecond))
	if !errors.Is(err, ack.ErrInFlightFull) {
		t.Fatalf("err = %v, want ErrInFlightFull", err)
	}
}

func TestNoRecipientsIsAPlainPublish(t *testing.T) {
	w := newWorld(t)
	p := w.publisher()
	m, err := p.Publish(testbus.Within(t, 10*time.Second), "order", 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Has("gilmsg_version") {
		t.Fatal("a plain publish carries the ACK marker")
	}
	if p.Stats().Plain != 1 {
		t.Fatalf("stats %+v", p.Stats())
	}
}

// Recipients configured per topic pattern apply without code changes; To overrides them.
func TestRecipientsFromConfig(t *testing.T) {
	w := newWorld(t, "sub01")
	w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	cfg := w.config("pub.host", "pub01")
	cfg.Recipients = config.ListMap{"org.example.test.#": {"sub01"}}
	p, err := config.NewAckPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testbus.Within(t, 20*time.Second)
	m, err := p.Publish(ctx, "order", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Has("gilmsg_version") || p.Stats().AcksCounted != 1 {
		t.Fatalf("configured recipients not used: %+v", p.Stats())
	}
	if _, err := p.Publish(ctx, "order", 2, ack.To("nobody"), ack.Within(300*time.Millisecond)); !errors.Is(err, ack.ErrTimeout) {
		t.Fatalf("To did not override the configuration: %v", err)
	}
}

// A valid ACK, signed by the right recipient, but for another msg_id (a replay of an earlier
// ACK) never completes the message waiting now.
func TestAckForAnotherMsgIDDoesNotCount(t *testing.T) {
	w := newWorld(t, "sub01")
	c := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	first, err := p.Publish(ctx, "order", 1, ack.To("sub01"))
	if err != nil {
		t.Fatal(err)
	}
	c.stop()

	// sub01's genuine signature over an ACK for the first message, replayed from sub01's
	// endpoint while the second message waits.
	replayer, err := config.NewPublisher(t.Context(), w.config("sub01.host", "sub01"), publisher.WithModname("gilmsg"))
	if err != nil {
		t.Fatal(err)
	}
	defer replayer.Close()
	f, err := p.PublishAsync(ctx, "order", 2, ack.To("sub01"), ack.Within(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	replays := 0
	for {
		select {
		case <-f.Finished():
		case <-time.After(50 * time.Millisecond): // replay cadence, not synchronisation
			if _, err := replayer.Publish(ctx, "ack", map[string]any{"ack_msg_id": first.MsgID()}); err != nil {
				t.Fatal(err)
			}
			replays++
			continue
		}
		break
	}
	if !errors.Is(f.Err(), ack.ErrTimeout) {
		t.Fatalf("err = %v after %d replays, want a timeout", f.Err(), replays)
	}
	if p.Stats().AcksOther == 0 {
		t.Fatalf("the replayed ACKs were not seen: %+v", p.Stats())
	}
}
