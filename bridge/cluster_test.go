package bridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// producer publishes to the cluster as an AMQP client that fails over itself: an unconfirmed
// publish is sent again to the next node (at least once; the bridge's msg_ids de-duplicate).
type producer struct {
	c    *rmqtest.Cluster
	ex   string
	next int
	conn *amqp.Connection
	ch   *amqp.Channel
}

func (p *producer) close() {
	if p.conn != nil {
		p.conn.Close()
		p.conn, p.ch = nil, nil
	}
}

func (p *producer) publish(ctx context.Context, key, id string, body []byte) error {
	for ctx.Err() == nil {
		if p.ch == nil {
			conn, err := amqp.DialConfig(p.c.URL(p.next%p.c.Size()), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
			p.next++
			if err != nil {
				continue
			}
			ch, err := conn.Channel()
			if err == nil {
				err = ch.Confirm(false)
			}
			if err != nil {
				conn.Close()
				continue
			}
			p.conn, p.ch = conn, ch
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(cctx, p.ex, key, true, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", MessageId: id, Body: body})
		ok := false
		if err == nil {
			ok, err = dc.WaitContext(cctx)
		}
		cancel()
		if err == nil && ok {
			return nil
		}
		p.close()
	}
	return ctx.Err()
}

// ledger is what both directions did during a run.
type ledger struct {
	mu        sync.Mutex
	acked     []string     // bus → AMQP: msg_ids whose publish to bridge returned nil
	failed    int          // ... that returned an error
	sent      int          // AMQP → bus: broker messages confirmed to the producer
	delivered map[int]bool // ... that reached sub01 (by their n)
}

// A three-node cluster; the bridge's urls name all three nodes, its queues are quorum queues.
// In each run, while bus messages are published acked to the bridge and broker messages are
// published to its queue, a broker node is killed with SIGKILL and started again, twice: in the
// first run the node the bridge's bus → AMQP direction is connected to, in the second the leader
// of the quorum queue the bus messages go to. Afterwards every publish that returned nil is in
// that queue (duplicates counted), the bridge failed over within a few seconds, and every
// broker message reached the recipient sub01 (the bridge's queue emptied only by acks, sent
// after sub01's ACK).
func TestClusterNodeKills(t *testing.T) {
	c := rmqtest.NewCluster(t, 3)
	for _, run := range []struct {
		name   string
		victim func(t *testing.T, b *running, q string) int
	}{
		{"connected node", func(t *testing.T, b *running, q string) int { return c.Node(b.Stats().ToNode) }},
		{"queue leader", func(t *testing.T, b *running, q string) int { return c.Leader(t, q) }},
	} {
		t.Run(run.name, func(t *testing.T) { clusterRun(t, c, run.victim) })
	}
}

func clusterRun(t *testing.T, c *rmqtest.Cluster, victim func(*testing.T, *running, string) int) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
	w := &world{t: t, ex: rmqtest.Name("ex"), eps: map[string][]string{}}
	for _, k := range []string{"pub.host", "bridge.host", "sub01.host"} {
		w.eps[k] = []string{testbus.Addr(t)}
	}
	conn := c.Dial(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	out, in := rmqtest.Name("out"), rmqtest.Name("in")
	if _, err := ch.QueueDeclare(out, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(out, "org.example.#", w.ex, false, nil); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	sub, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithMode(ack.AfterProcessing), ack.WithLogger(testLog(t, "sub01")))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) {
		b.URL, b.URLs, b.ReconnectMax = "", c.URLs(), 2
		b.Topics = []string{"org.example.#"}
		b.Queue, b.QueueBindings, b.Recipients, b.Prefetch = in, []string{"in.#"}, []string{"sub01"}, 8
	})
	if err := b.Publisher().WaitSubscribed(testbus.Within(t, 20*time.Second), "org.example.test.probe"); err != nil {
		t.Fatal(err)
	}

	l := &ledger{delivered: map[int]bool{}}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	// sub01 takes every message the bridge brings from the broker.
	subCtx, stopSub := context.WithCancel(t.Context())
	defer stopSub()
	var subWG sync.WaitGroup
	subWG.Go(func() {
		for {
			d, err := nextMsg(subCtx, sub)
			if err != nil {
				return
			}
			if body, ok := d.Message.Body().(map[string]any); ok {
				var n int
				if _, err := fmt.Sscan(fmt.Sprint(body["n"]), &n); err == nil {
					l.mu.Lock()
					l.delivered[n] = true
					l.mu.Unlock()
				}
			}
			d.Done(nil)
		}
	})
	// Bus → AMQP: eight publishers, acked by bridge, until stopped.
	for range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				m, err := p.Publish(ctx, "kills", map[string]any{"i": i}, ack.To("bridge"), ack.Within(20*time.Second))
				l.mu.Lock()
				if err == nil {
					l.acked = append(l.acked, m.MsgID())
				} else if ctx.Err() == nil {
					l.failed++
				}
				l.mu.Unlock()
			}
		})
	}
	// AMQP → bus: a producer on the broker side, one message every 20 ms (a pace, so that the
	// queue is consumed through the faults rather than drained before them).
	wg.Go(func() {
		pr := &producer{c: c, ex: w.ex}
		defer pr.close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := pr.publish(ctx, fmt.Sprintf("in.%d", n%4), fmt.Sprintf("amqp-%d", n), fmt.Appendf(nil, `{"n":%d}`, n)); err != nil {
				return
			}
			l.mu.Lock()
			l.sent = n + 1
			l.mu.Unlock()
		}
	})
	confirmed := func() uint64 { return b.Stats().Confirmed }
	testbus.Eventually(t, 30*time.Second, "publishes flowing", func() bool { return confirmed() >= 100 })

	var failovers []time.Duration
	for round := range 2 {
		v := victim(t, b, out)
		if v < 0 {
			t.Fatalf("round %d: no node to kill (bridge on %q)", round, b.Stats().ToNode)
		}
		before := confirmed()
		killed := time.Now()
		c.Kill(t, v)
		// Failed over: connected to another node and confirming again.
		testbus.Eventually(t, 20*time.Second, "failover", func() bool {
			st := b.Stats()
			return st.ToNode != "" && c.Node(st.ToNode) != v && st.Confirmed >= before+20
		})
		failovers = append(failovers, time.Since(killed))
		t.Logf("round %d: killed node %d, failed over in %v: %+v", round, v, failovers[round], b.Stats())
		c.Start(t, v)
		after := confirmed()
		testbus.Eventually(t, 30*time.Second, "publishes flowing after the restart", func() bool { return confirmed() >= after+50 })
	}
	stop()
	wg.Wait()

	// Every broker message confirmed to the producer reaches sub01, and the queue empties.
	l.mu.Lock()
	sent := l.sent
	l.mu.Unlock()
	undelivered := func() []int {
		l.mu.Lock()
		defer l.mu.Unlock()
		var out []int
		for n := range sent {
			if !l.delivered[n] {
				out = append(out, n)
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(undelivered()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("broker messages confirmed and never delivered to sub01: %v; %+v", undelivered(), b.Stats())
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a synchronisation
	}
	conn = c.Dial(t)
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 30*time.Second, "the bridge's queue acked empty", func() bool {
		qi, err := ch.QueueDeclarePassive(in, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		return err == nil && qi.Messages == 0
	})
	stopSub()
	subWG.Wait()

	inQueue := map[string]int{}
	for _, d := range drain(t, ch, out) {
		inQueue[d.MessageId]++
	}
	missing, dups := 0, 0
	for _, id := range l.acked {
		if inQueue[id] == 0 {
			missing++
		}
	}
	for _, k := range inQueue {
		dups += k - 1
	}
	st := b.Stats()
	t.Logf("bus → AMQP: %d acked, %d failed, %d distinct in the queue, %d duplicates; failovers %v (ToFailovers %d); "+
		"AMQP → bus: %d sent, %d published, %d failed attempts, FromFailovers %d",
		len(l.acked), l.failed, len(inQueue), dups, failovers, st.ToFailovers, sent, st.FromPublished, st.FromFailed, st.FromFailovers)
	if missing > 0 {
		t.Fatalf("%d of %d publishes that returned nil are not in the queue", missing, len(l.acked))
	}
	for i, d := range failovers {
		if d > 10*time.Second {
			t.Errorf("failover %d took %v", i, d)
		}
	}
}
