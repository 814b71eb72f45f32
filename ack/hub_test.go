package ack_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	base "github.com/ackmsg/ackmsg/consumer" // ack_test declares its own consumer type
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// hubRun is an acking hub bound on endpoint key "<key>.host", signing as cert, running until the
// test ends.
type hubRun struct {
	*ack.Hub
	cancel context.CancelFunc
	done   chan error
}

func (w *world) startHub(key, cert string, mod func(*config.Config), add func(h *ack.Hub)) *hubRun {
	w.t.Helper()
	cfg := w.config(key+".host", cert)
	if mod != nil {
		mod(cfg)
	}
	h, err := config.NewAckHub(cfg, base.WithHubLogger(debugLog("hub-"+key)))
	if err != nil {
		w.t.Fatal(err)
	}
	add(h)
	ctx, cancel := context.WithCancel(context.Background())
	r := &hubRun{Hub: h, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	if err := h.WaitReady(testbus.Within(w.t, 10*time.Second)); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			w.t.Errorf("hub Run: %v", err)
		}
	})
	return r
}

// hubCounter is a consumer that counts runs per msg_id and fails while fail says so.
type hubCounter struct {
	mu   sync.Mutex
	runs map[string]int
	fail func(id string, attempt int) error
	gate chan struct{} // when not nil, Consume waits for it
	seen chan string   // when not nil, gets each msg_id as Consume starts
}

func newHubCounter() *hubCounter { return &hubCounter{runs: map[string]int{}} }

func (c *hubCounter) Topics() []string { return []string{"org.example.test.#"} }

func (c *hubCounter) Consume(ctx context.Context, m *message.Message) error {
	info, _ := base.InfoFrom(ctx)
	c.mu.Lock()
	c.runs[m.MsgID()]++
	c.mu.Unlock()
	if c.seen != nil {
		c.seen <- m.MsgID()
	}
	if c.gate != nil {
		<-c.gate
	}
	if c.fail != nil {
		return c.fail(m.MsgID(), info.Attempt)
	}
	return nil
}

func (c *hubCounter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

func addTo(t *testing.T, h *ack.Hub, name string, c base.Consumer) {
	t.Helper()
	if err := h.Add(c, base.DefaultConsumerConfig(name)); err != nil {
		t.Fatal(err)
	}
}

// The publisher's ACK arrives only after Consume returned nil.
func TestHubAcksOnlyAfterConsume(t *testing.T) {
	w := newWorld(t, "sub01")
	c := newHubCounter()
	c.gate, c.seen = make(chan struct{}), make(chan string, 1)
	h := w.startHub("sub01", "sub01", nil, func(h *ack.Hub) { addTo(t, h, "work", c) })
	p := w.publisher()
	ctx := testbus.Within(t, 30*time.Second)
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	<-c.seen
	if h.Name() != "sub01" {
		t.Fatalf("hub identity %q", h.Name())
	}
	if n := h.AckStats().Acked; n != 0 {
		t.Fatalf("%d ACKs sent while Consume was running", n)
	}
	select {
	case <-f.Finished():
		t.Fatalf("publish finished while Consume was running: %v", f.Err())
	default:
	}
	close(c.gate)
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.count(f.Message().MsgID()); n != 1 {
		t.Fatalf("consumed %d times", n)
	}
	if st := h.AckStats(); st.Acked != 1 {
		t.Fatalf("ack stats %+v", st)
	}
}

// A failure sends no ACK; the retransmission is processed again and then ACKed.
func TestHubFailureIsRetriedByRetransmission(t *testing.T) {
	w := newWorld(t, "sub01")
	c := newHubCounter()
	c.fail = func(_ string, attempt int) error {
		if attempt == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}
	h := w.startHub("sub01", "sub01", nil, func(h *ack.Hub) { addTo(t, h, "flaky", c) })
	p := w.publisher()
	f, err := p.PublishAsync(testbus.Within(t, 30*time.Second), "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(testbus.Within(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := c.count(f.Message().MsgID()); n != 2 {
		t.Fatalf("consumed %d times, want 2", n)
	}
	if f.Attempts() < 2 {
		t.Fatalf("ACKed after %d sends: the failure was ACKed?", f.Attempts())
	}
	if st := h.Stats().Consumers[0]; st.Failed != 1 || st.Processed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A consumer that always fails: the publisher times out naming the hub; the message is given up
// as poison after max_attempts runs.
func TestHubFailingConsumerTimesOutAndBecomesPoison(t *testing.T) {
	w := newWorld(t, "sub01")
	c := newHubCounter()
	c.fail = func(string, int) error { return errors.New("always") }
	h := w.startHub("sub01", "sub01", func(cfg *config.Config) { cfg.Hub.MaxAttempts = 2 },
		func(h *ack.Hub) { addTo(t, h, "broken", c) })
	p := w.publisher()
	_, err := p.Publish(testbus.Within(t, 30*time.Second), "order", 1, ack.To("sub01"), ack.Within(3*time.Second))
	var te *ack.TimeoutError
	if !errors.As(err, &te) || fmt.Sprint(te.Missing) != "[sub01]" {
		t.Fatalf("err = %v, want a timeout naming sub01", err)
	}
	if te.Attempts < 3 { // retransmissions at about 0.2, 0.6, 1.4 and 2.4 s
		t.Fatalf("only %d sends within the timeout", te.Attempts)
	}
	if n := c.count(te.MsgID); n != 2 {
		t.Fatalf("consumed %d times, want max_attempts = 2", n)
	}
	if st := h.Stats(); st.Poison != 1 || st.Rejected == 0 {
		t.Fatalf("stats %+v", st)
	}
	if st := h.AckStats(); st.Acked != 0 {
		t.Fatalf("ack stats %+v", st)
	}
}

// A retransmission of a message already ACKed is re-ACKed, not processed again.
func TestHubReacksWithoutReprocessing(t *testing.T) {
	w := newWorld(t, "sub01")
	c := newHubCounter()
	h := w.startHub("sub01", "sub01", nil, func(h *ack.Hub) { addTo(t, h, "once", c) })
	p := w.publisher()
	m, err := p.Publish(testbus.Within(t, 30*time.Second), "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := m.Marshal()
	for range 3 {
		if err := p.Publisher().Resend(m.Topic(), frame); err != nil {
			t.Fatal(err)
		}
	}
	testbus.Eventually(t, 10*time.Second, "re-ACKs", func() bool { return h.AckStats().Reacked == 3 })
	if n := c.count(m.MsgID()); n != 1 {
		t.Fatalf("consumed %d times", n)
	}
}

// Two consumers match; one fails once: the ACK waits for both, and the retransmission runs only
// the one that failed.
func TestHubPartialFailureRerunsOnlyTheFailedConsumer(t *testing.T) {
	w := newWorld(t, "sub01")
	steady, flaky := newHubCounter(), newHubCounter()
	flaky.fail = func(_ string, attempt int) error {
		if attempt == 1 {
			return errors.New("not yet")
		}
		return nil
	}
	w.startHub("sub01", "sub01", nil, func(h *ack.Hub) {
		addTo(t, h, "steady", steady)
		addTo(t, h, "flaky", flaky)
	})
	p := w.publisher()
	m, err := p.Publish(testbus.Within(t, 30*time.Second), "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if s, f := steady.count(m.MsgID()), flaky.count(m.MsgID()); s != 1 || f != 2 {
		t.Fatalf("runs: steady %d (want 1), flaky %d (want 2)", s, f)
	}
}
