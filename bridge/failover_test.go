package bridge_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// proxy forwards TCP connections from a loopback port to the broker, and can cut them all: a
// broker node that dies, as far as its clients can tell, while the broker behind stays.
type proxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, to string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, to: to}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

// cut closes every connection through the proxy and refuses new ones.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// nodeSeries are the node labels of the ackmsg_bridge_broker_node series.
func nodeSeries(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "ackmsg_bridge_broker_node" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "node" {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// With urls naming several nodes, the bridge connects to one that answers, reports it
// (Stats, ackmsg_bridge_broker_node), and when that node goes away fails over to another at
// once, publishing again what was not confirmed: every publish that returned nil is in the
// queue, and the failover is counted.
func TestFailoverToAnotherNode(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	q := w.queue(ch, "#")
	u, err := url.Parse(w.url)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*proxy{}
	var urls []string
	for range 2 {
		p := newProxy(t, u.Host)
		nodes[p.addr()] = p
		urls = append(urls, "amqp://guest:guest@"+p.addr()+"/")
	}
	dead, _ := net.Listen("tcp", "127.0.0.1:0") // a node that is down: nothing answers there
	urls = append(urls, "amqp://guest:guest@"+dead.Addr().String()+"/")
	dead.Close()

	p := w.publisher()
	b := w.bridge(func(b *config.BridgeConfig) { b.URL, b.URLs, b.Topics, b.ReconnectMax = "", urls, []string{"#"}, 5 })
	first := b.Stats().ToNode
	if nodes[first] == nil {
		t.Fatalf("connected to %q, want one of the live nodes %v", first, urls[:2])
	}
	if want := "bus → AMQP: connected to " + first + ", 0 failovers; AMQP → bus: off"; b.Status() != want {
		t.Errorf("Status %q, want %q", b.Status(), want)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b.Metrics())
	if got := nodeSeries(t, reg); len(got) != 1 || got[0] != first {
		t.Fatalf("ackmsg_bridge_broker_node %v, want [%s]", got, first)
	}

	ctx := testbus.Within(t, 60*time.Second)
	var (
		mu    sync.Mutex
		acked []string
	)
	publish := func(from, to int) {
		var wg sync.WaitGroup
		for i := from; i < to; i++ {
			wg.Go(func() {
				m, err := p.Publish(ctx, "failover", map[string]any{"i": i}, ack.To("bridge"), ack.Within(30*time.Second))
				if err != nil {
					t.Errorf("publish %d: %v", i, err)
					return
				}
				mu.Lock()
				acked = append(acked, m.MsgID())
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	publish(0, 20)
	go publish(20, 60) // in flight while the node goes
	cut := time.Now()
	nodes[first].close()
	testbus.Eventually(t, 10*time.Second, "failed over", func() bool {
		st := b.Stats()
		return st.ToNode != "" && st.ToNode != first
	})
	took := time.Since(cut)
	publish(60, 80)
	testbus.Eventually(t, 30*time.Second, "80 acked", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) == 80 })

	in := map[string]int{}
	for _, d := range drain(t, ch, q) {
		in[d.MessageId]++
	}
	dups := 0
	for _, id := range acked {
		if in[id] == 0 {
			t.Errorf("acked %s is not in the queue", id)
		}
		dups += max(in[id]-1, 0)
	}
	st := b.Stats()
	t.Logf("failover %s → %s in %v, duplicates %d, %+v", first, st.ToNode, took, dups, st)
	if st.ToFailovers != 1 {
		t.Errorf("ToFailovers %d, want 1", st.ToFailovers)
	}
	if want := "bus → AMQP: connected to " + st.ToNode + ", 1 failover; AMQP → bus: off"; b.Status() != want {
		t.Errorf("Status after the failover %q, want %q", b.Status(), want)
	}
	if took > 5*time.Second {
		t.Errorf("failover took %v", took)
	}
}
