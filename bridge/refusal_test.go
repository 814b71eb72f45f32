package bridge_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/bridge/broker"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// With several nodes, one that refuses the bridge (its TLS listener trusts another CA, as a
// node whose CA bundle was not updated) does not stop it: the refusal is counted and the bridge
// bridges, both directions, through the node that accepts it. Only when every node refuses does
// Run end with ErrRefused, naming each node and its reason.
func TestRefusingNodeAmongSeveral(t *testing.T) {
	w := newWorld(t)
	dir, other := tlsPKI(t)
	pem := func(name string) string { return filepath.Join(dir, name) }
	good := rmqtest.NewTLSNode(t, rmqtest.TLS{CAFile: pem("ca.crt"), CRLFile: pem("crl.pem"),
		CertFile: pem("broker.crt"), KeyFile: pem("broker.key"), Users: []string{"bridge"}})
	stale := rmqtest.NewTLSNode(t, rmqtest.TLS{CAFile: filepath.Join(other, "ca.crt"),
		CertFile: pem("broker.crt"), KeyFile: pem("broker.key"), Users: []string{"bridge"}})
	cfg := func(urls ...string) *config.Config {
		c := w.config("bridge.host", "bridge")
		c.SSLDir, c.CACertLocation, c.CRLLocation = dir, pem("ca.crt"), pem("crl.pem")
		b := &c.Bridge
		b.URL, b.URLs, b.Login, b.Exchange, b.ReconnectMax = "", urls, "external", w.ex, 0.5
		b.Topics, b.Queue = []string{"org.example.#"}, rmqtest.Name("refusal")
		return c
	}

	t.Run("one node of two refuses", func(t *testing.T) {
		p := w.publisher()
		b, err := config.NewBridge(t.Context(), cfg(good.TLSURL("localhost"), stale.TLSURL("localhost")), bridge.WithLogger(testLog(t, "bridge")))
		if err != nil {
			t.Fatal(err)
		}
		r := w.run(b)
		defer r.stop()
		// Both directions run and start at different nodes: one of them is refused first.
		testbus.Eventually(t, 30*time.Second, "bridge ready on the node that accepts it", b.Ready)
		st := b.Stats()
		node := broker.Node(good.TLSURL("localhost"))
		if st.ToNode != node || st.FromNode != node || st.ToRefusals+st.FromRefusals != 1 {
			t.Fatalf("to %s from %s, refusals %d + %d; want both on %s after one refusal (%+v)", st.ToNode, st.FromNode,
				st.ToRefusals, st.FromRefusals, node, st)
		}

		conn, err := amqp.Dial(good.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		q := w.queue(ch, "org.example.#")
		if err := p.WaitSubscribed(testbus.Within(t, 10*time.Second), "org.example.test.probe"); err != nil {
			t.Fatal(err)
		}
		m, err := p.Publish(testbus.Within(t, 30*time.Second), "refusal", map[string]any{"through": "the good node"},
			ack.To("bridge"), ack.Within(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if d, ok, err := ch.Get(q, true); err != nil || !ok || d.MessageId != m.MsgID() {
			t.Fatalf("queue: %v %v %q, want %s", ok, err, d.MessageId, m.MsgID())
		}
		t.Logf("%+v", b.Stats())
	})

	t.Run("every node refuses", func(t *testing.T) {
		urls := []string{stale.TLSURL("localhost"), stale.TLSURL("127.0.0.1")}
		b, err := config.NewBridge(t.Context(), cfg(urls...), bridge.WithLogger(testLog(t, "bridge")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		start := time.Now()
		err = b.Run(testbus.Within(t, 30*time.Second))
		took := time.Since(start)
		if !errors.Is(err, bridge.ErrRefused) || !errors.Is(err, bridge.ErrTLS) || !strings.Contains(err.Error(), "every broker node refused") {
			t.Fatalf("Run = %v after %s, want ErrRefused, ErrTLS, every node", err, took)
		}
		for _, u := range urls {
			if !strings.Contains(err.Error(), broker.Redact(u)) {
				t.Errorf("Run = %v: %s not named", err, u)
			}
		}
		if n := strings.Count(err.Error(), "unknown certificate authority"); n < 2 {
			t.Errorf("Run = %v: want each node's reason", err)
		}
		if took > 10*time.Second {
			t.Errorf("Run took %s to give up", took)
		}
	})
}
