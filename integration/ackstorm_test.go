package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

// ackTap counts the ACK frames on the relay's outbound side with a bare SUB socket: what every
// subscriber of the bus receives.
type ackTap struct {
	mu    sync.Mutex
	by    map[string][]string // msg_id -> signers of its ACKs, in arrival order
	total int
}

func startAckTap(t *testing.T, b *Bus, verify func(*message.Message) (string, error)) *ackTap {
	t.Helper()
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := zsock.NewSub(zctx, zsock.SubConfig{
		Endpoints: []zsock.Endpoint{{Name: "relay_outbound", Addr: b.Outbound}},
		Prefixes:  []string{"org.example.test.gilmsg.ack"},
	})
	if err != nil {
		zctx.Term()
		t.Fatal(err)
	}
	tap := &ackTap{by: map[string][]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := sub.Recv(context.Background())
			if err != nil {
				return
			}
			m, err := message.Decode(in.Frames[len(in.Frames)-1])
			if err != nil {
				t.Errorf("ACK frame: %v", err)
				continue
			}
			body, _ := m.Body().(map[string]any)
			id, _ := body["ack_msg_id"].(string)
			who, err := verify(m)
			if err != nil {
				t.Errorf("ACK for %s: %v", id, err)
			}
			tap.mu.Lock()
			tap.by[id] = append(tap.by[id], who)
			tap.total++
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(func() { sub.Close(); <-done; zctx.Term() })
	if err := sub.WaitConnected(testbus.Within(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return tap
}

func (a *ackTap) signers(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.by[id]...)
}

// N acking tails on one relay and messages that name one recipient: exactly that recipient's
// ACK goes on the bus per publish, not one per acking tail (issue 32 item 0), and every tail
// still prints every message.
func TestAckOnlyFromNamedRecipientProcesses(t *testing.T) {
	names := []string{"sub01", "sub02", "sub03", "sub04", "sub05"}
	b := NewBus(t, BusOptions{Certs: names})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	tails := map[string]*Proc{}
	for _, n := range names {
		tails[n] = startAcker(t, b, n, nil)
	}
	cfg, err := config.Load(config.LoadOptions{File: b.Config})
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Verifier(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tap := startAckTap(t, b, func(m *message.Message) (string, error) {
		id, err := v.Verify(m)
		if err != nil {
			return "", err
		}
		return id.CN, nil
	})
	p := b.AckPublisher(config.RelayInboundKey, "logger", nil)
	ctx := testbus.Within(t, 90*time.Second)
	sent := 0 // messages every tail prints
	// everyone publishes a message naming every tail and reports whether the tap heard each
	// tail's ACK for it within d. Each tail sends its ACKs in order on one connection and the
	// relay forwards them in order: once the tap has every tail's ACK for this message, it has
	// every earlier ACK.
	everyone := func(what string, d time.Duration) bool {
		t.Helper()
		m, err := p.Publish(ctx, "x", what, ack.To(names...), ack.Modname("work"), ack.Within(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sent++
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) { // polling the tap
			seen := map[string]bool{}
			for _, s := range tap.signers(m.MsgID()) {
				seen[s] = true
			}
			if len(seen) == len(names) {
				return true
			}
		}
		return false
	}
	// The tap's subscription reaches the relay some time after it connected: publish until
	// the tap hears a whole round of ACKs.
	for i := 0; !everyone(fmt.Sprintf("warm-up #%d", i), time.Second); i++ {
		if i == 20 {
			t.Fatal("the tap never heard a whole round of ACKs")
		}
	}
	tap.mu.Lock()
	before := tap.total
	tap.mu.Unlock()

	const publishes = 8
	var ids []string
	for i := range publishes {
		m, err := p.Publish(ctx, "x", fmt.Sprintf("for sub03 #%d", i), ack.To("sub03"), ack.Modname("work"), ack.Within(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.MsgID())
	}
	if !everyone("barrier", 20*time.Second) {
		t.Fatal("the barrier's ACKs did not all reach the tap")
	}
	retransmits := p.Stats().Retransmits

	tap.mu.Lock()
	total := tap.total - before - len(names) // without the barrier's
	tap.mu.Unlock()
	for _, id := range ids {
		signers := tap.signers(id)
		if len(signers) == 0 {
			t.Errorf("msg %s: no ACK on the bus", id)
		}
		for _, s := range signers {
			if s != "sub03" {
				t.Errorf("msg %s ACKed by %s, which it does not name (ACKs: %v)", id, s, signers)
			}
		}
	}
	// One ACK per publish; a retransmission (slow machine) may draw one re-ACK from sub03.
	if total < publishes || total > publishes+int(retransmits) {
		t.Fatalf("%d ACK frames on the bus for %d publishes naming one recipient (%d retransmissions), want %d",
			total, publishes, retransmits, publishes)
	}
	// Every tail printed every message, ACKed or not: the warm-ups, the eight, the barrier.
	for n, tail := range tails {
		testbus.Eventually(t, 10*time.Second, n+" printed every message", func() bool {
			return len(Lines(tail.Stdout.String())) == sent+publishes
		})
	}
}
