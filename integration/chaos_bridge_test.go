package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
)

// The bridge in the chaos run: a real ackmsg-bridge process is a recipient, with its own
// certificate, that ACKs a bus message only after RabbitMQ confirmed it into a durable queue.
// The in-process publisher sends acked publishes to it while the fault schedule also kills the
// bridge with -9 and restarts the RabbitMQ node. Afterwards the queue is drained with a plain
// AMQP client: every publish to "bridge" that returned nil must have its msg_id there (a missing
// one is a false positive); copies in the queue twice are counted (at-least-once is the promise).

// chaosBridgeTopics is what the bridge forwards: a modname of its own, so the tails and the hub,
// which follow org.example.test.work, never see this load.
const chaosBridgeTopics = "org.example.test.bridged.#"

// chaosBridge is the RabbitMQ side of the chaos bus: the shared node, or with
// ACKMSG_CHAOS_BRIDGE_NODES=3 (make chaos) a cluster of that many nodes whose queue is a quorum
// queue and whose nodes are killed with -9, one at a time, on the broker fault schedule.
type chaosBridge struct {
	url, queue string
	cluster    *rmqtest.Cluster
	next       int // the next node to kill
}

// chaosBridgeNodes is ACKMSG_CHAOS_BRIDGE_NODES, 1 by default (the 12-second run of make test
// keeps the one shared node: a cluster takes longer to start than that run lasts).
func chaosBridgeNodes(t *testing.T) int {
	s := os.Getenv("ACKMSG_CHAOS_BRIDGE_NODES")
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("ACKMSG_CHAOS_BRIDGE_NODES=%q: want a number of nodes", s)
	}
	return n
}

// newChaosBridge prepares the broker for the run, or returns nil (and logs why) when RabbitMQ
// cannot run here; under CI=true that is a failure (rmqtest.URL).
func newChaosBridge(t *testing.T) *chaosBridge {
	if err := rmqtest.Available(); err != nil && os.Getenv("CI") != "true" {
		t.Logf("chaos run without the bridge part: %v", err)
		return nil
	}
	cb := &chaosBridge{queue: rmqtest.Name("chaos.bridged")}
	var args amqp.Table
	var conn *amqp.Connection
	if n := chaosBridgeNodes(t); n > 1 {
		cb.cluster = rmqtest.NewCluster(t, n)
		conn = cb.cluster.Dial(t)
		args = amqp.Table{"x-queue-type": "quorum"}
	} else {
		cb.url = rmqtest.URL(t)
		var err error
		if conn, err = amqp.Dial(cb.url); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(cb.queue, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(cb.queue, chaosBridgeTopics, "amq.topic", false, nil); err != nil {
		t.Fatal(err)
	}
	return cb
}

// config is the [bridge] table of the chaos bus: a short reconnect cap, so that the bridge is
// back soon after a broker restart.
func (cb *chaosBridge) config() string {
	if cb == nil {
		return ""
	}
	if cb.cluster != nil {
		urls := make([]string, cb.cluster.Size())
		for i, u := range cb.cluster.URLs() {
			urls[i] = strconv.Quote(u)
		}
		return fmt.Sprintf("\n[bridge]\nurls = [%s]\ntopics = [%q]\nmax_in_flight = 64\nreconnect_max = 1\n",
			strings.Join(urls, ", "), chaosBridgeTopics)
	}
	return fmt.Sprintf("\n[bridge]\nurl = %q\ntopics = [%q]\nmax_in_flight = 64\nreconnect_max = 1\n", cb.url, chaosBridgeTopics)
}

func (c *chaosBus) startBridge(wait bool) {
	p := c.b.Start("ackmsg-bridge", "--certname", "bridge")
	if wait {
		p.WaitLog(c.t, "bridging bus → AMQP")
	}
	c.mu.Lock()
	c.procs["bridge"] = p
	c.mu.Unlock()
}

// publishBridgeLoad keeps up to 8 acked PublishAsync calls to recipient bridge in flight until
// ctx ends.
func (c *chaosBus) publishBridgeLoad(ctx context.Context, record func(outcome)) {
	slots := make(chan struct{}, 8)
	var inflight sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		slots <- struct{}{}
		f, err := c.pub.PublishAsync(context.Background(), "x", map[string]any{"i": i}, ack.Modname("bridged"),
			ack.To("bridge"), ack.Within(3*time.Second))
		if err != nil {
			<-slots
			continue
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			<-f.Finished()
			err := f.Err()
			var te *ack.TimeoutError
			if err != nil && !errors.As(err, &te) {
				<-slots
				return // not sent (the publisher closing): nothing was promised
			}
			record(outcome{ID: f.Message().MsgID(), To: []string{"bridge"}, OK: err == nil, At: time.Now(), From: "pub"})
			<-slots
		}()
	}
	inflight.Wait()
}

// restartBrokers is the "restart RabbitMQ" fault, on its own schedule because a restart takes
// seconds: a quarter into the run, and then every third of it, the node stops (SIGTERM, as
// systemd does) and starts again on the same port and data, while the other faults go on; on a
// cluster, one node after the other is killed with -9 instead and started again. Each restart
// is complete (the node accepts connections) when it returns.
func (c *chaosBus) restartBrokers(ctx context.Context, dur time.Duration) []faultRecord {
	var faults []faultRecord
	next := time.NewTimer(dur / 4)
	defer next.Stop()
	for {
		select {
		case <-ctx.Done():
			return faults
		case <-next.C: // the fault schedule, not synchronisation
		}
		start, kind := time.Now(), "restart RabbitMQ"
		if cb := c.bridge; cb.cluster != nil {
			kind = "kill -9 RabbitMQ node"
			// A cluster node dies (SIGKILL) and comes back on its data: the bridge fails over.
			i := cb.next % cb.cluster.Size()
			cb.next++
			cb.cluster.Kill(c.t, i)
			cb.cluster.Start(c.t, i)
			c.t.Logf("RabbitMQ node %d killed with -9 and started again: down for %s", i, time.Since(start).Round(time.Millisecond))
		} else {
			rmqtest.Restart(c.t)
			c.t.Logf("RabbitMQ restart: down for %s", time.Since(start).Round(time.Millisecond))
		}
		faults = append(faults, faultRecord{Kind: kind, Target: "bridge", Healed: time.Now()})
		next.Reset(dur / 3)
	}
}

// drain reads every message of the queue (message_id = msg_id) and counts each msg_id.
func (cb *chaosBridge) drain(t *testing.T) (map[string]int, error) {
	var conn *amqp.Connection
	if cb.cluster != nil {
		conn = cb.cluster.Dial(t)
	} else {
		var err error
		if conn, err = amqp.Dial(cb.url); err != nil {
			return nil, err
		}
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	for {
		d, ok, err := ch.Get(cb.queue, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			return got, nil
		}
		got[d.MessageId]++
	}
}

// bridgeReport is what the bridge check found.
type bridgeReport struct {
	Publishes, OK, Failed int
	InQueue, Duplicates   int      // distinct msg_ids in the queue; extra copies
	FalsePositives        []string // nil returned, not in the queue
	FalseNegatives        int      // timed out, but the broker has it
}

// checkBridge compares the publishes to recipient bridge with what the queue holds.
func checkBridge(outcomes []outcome, queue map[string]int) bridgeReport {
	r := bridgeReport{InQueue: len(queue)}
	for _, n := range queue {
		r.Duplicates += n - 1
	}
	sorted := slices.Clone(outcomes)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	for _, o := range sorted {
		r.Publishes++
		switch {
		case o.OK:
			r.OK++
			if queue[o.ID] == 0 {
				r.FalsePositives = append(r.FalsePositives, fmt.Sprintf("%s: the publish to bridge returned nil at %s, the queue does not hold it",
					o.ID, o.At.Format("15:04:05.000")))
			}
		default:
			r.Failed++
			if queue[o.ID] > 0 {
				r.FalseNegatives++
			}
		}
	}
	return r
}

func (r bridgeReport) table(restarts, kills int) string {
	return fmt.Sprintf("\n| bridge: acked publishes | nil (confirmed) | failed | in the queue | copies twice | false positives | false negatives | RabbitMQ restarts | bridge kill -9 |\n"+
		"|---|---|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
		r.Publishes, r.OK, r.Failed, r.InQueue, r.Duplicates, len(r.FalsePositives), r.FalseNegatives, restarts, kills)
}

// The bridge check must be able to fail: a nil publish whose message is not in the queue is a
// false positive; a timed-out one the queue holds is a false negative; extra copies are counted.
func TestCheckBridgeFindsFalsePositive(t *testing.T) {
	now := time.Now()
	outcomes := []outcome{
		{ID: "in", To: []string{"bridge"}, OK: true, At: now},
		{ID: "lost", To: []string{"bridge"}, OK: true, At: now.Add(time.Millisecond)},
		{ID: "late", To: []string{"bridge"}, At: now.Add(2 * time.Millisecond)},
		{ID: "never", To: []string{"bridge"}, At: now.Add(3 * time.Millisecond)},
	}
	r := checkBridge(outcomes, map[string]int{"in": 2, "late": 1})
	if r.Publishes != 4 || r.OK != 2 || r.Failed != 2 || r.InQueue != 2 || r.Duplicates != 1 || r.FalseNegatives != 1 ||
		len(r.FalsePositives) != 1 || !strings.HasPrefix(r.FalsePositives[0], "lost:") {
		t.Fatalf("check: %+v", r)
	}
	if r := checkBridge(outcomes, map[string]int{"in": 1, "lost": 1}); len(r.FalsePositives) != 0 || r.Duplicates != 0 {
		t.Fatalf("with every nil publish in the queue: %+v", r)
	}
}
