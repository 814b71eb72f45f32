package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
)

// rssKiB is a process's resident memory, from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// Garbage on every socket — the consumers' subscriptions, the publisher's ACK listener and the
// relay's inbound side — while acked traffic continues: no process dies, no acked message is
// lost, memory stays bounded, and every frame the ACK listener read is accounted for.
func TestBadInputFloodDuringAckedTraffic(t *testing.T) {
	evil := testbus.Addr(t)
	b := NewBus(t, BusOptions{
		Certs:     []string{"pub", "sub01", "sub02"},
		Extra:     "max_frame_size = 65536",
		Endpoints: map[string]string{"evil.host": evil, "pub.host": testbus.Addr(t), "sub01.host": testbus.Addr(t)},
	})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	var consumers []*Proc
	for _, n := range []string{"sub01", "sub02"} {
		f, err := os.Create(filepath.Join(b.Dir, n+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		args := []string{"--ack", "--json", "--certname", n, "--topic", "org.example.test"}
		if n == "sub01" {
			args = append(args, "--name", "sub01.host")
		}
		p := b.StartTo(f, "ackmsg-tail", args...)
		p.WaitLog(t, "endpoint connected")
		consumers = append(consumers, p)
	}

	p := b.AckPublisher("pub.host", "pub", nil)

	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: []string{evil}})
	if err != nil {
		t.Fatal(err)
	}
	intoRelay, err := zsock.NewPub(zctx, zsock.PubConfig{Connect: b.Relay})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { attacker.Close(); intoRelay.Close(); zctx.Term() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := attacker.WaitSubscribed(ctx, p.AckTopic()); err != nil {
		t.Fatal(err)
	}
	if err := intoRelay.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	rssBefore := []int{rssKiB(t, consumers[0].cmd.Process.Pid), rssKiB(t, consumers[1].cmd.Process.Pid), rssKiB(t, relay.cmd.Process.Pid)}

	ackT, work := []byte(p.AckTopic()), []byte("org.example.test.work.x")
	garbage := [][][]byte{
		{ackT},
		{ackT, []byte("{}"), []byte("x")},
		{ackT, []byte("{not json")},
		{ackT, []byte(`{"topic":"` + p.AckTopic() + `","msg_id":"1","msg":{"ack_msg_id":"nope"}}`)},
		{ackT, []byte(strings.Repeat("x", 100000))},
		{work, []byte(`{"topic":"org.example.test.work.x","msg_id":"1","msg":{},"crypto":"x509","signature":"***","certificate":"!!!"}`)},
		{work, []byte(`{"topic":"org.example.test.work.x","msg_id":"1","msg":{},"crypto":"x509","signature":"AAAA","certificate":"` + strings.Repeat("QUFB", 300) + `"}`)},
		{{0xff, 0xfe}, []byte("{}")},
		{work, []byte(strings.Repeat("[", 5000))},
	}
	flooding, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var sent, sentRelay int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for flooding.Err() == nil {
			for _, g := range garbage {
				if attacker.Send(g...) == nil {
					sent++
				}
				if intoRelay.Send(g...) == nil {
					sentRelay++
				}
			}
		}
	}()

	// At least 60 acked publishes, and the flood lasts at least 3 s.
	var failed []string
	n := 0
	for start := time.Now(); n < 60 || time.Since(start) < 3*time.Second; n++ {
		i := n
		if _, err := p.Publish(ctx, "x", i, ack.Modname("work"), ack.To("sub01", "sub02"), ack.Within(10*time.Second)); err != nil {
			failed = append(failed, err.Error())
		}
	}
	stop()
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d acked publishes failed under the flood, e.g. %s", len(failed), n, failed[0])
	}
	for _, c := range append(consumers, relay) {
		if c.Exited() {
			t.Fatalf("%s died under the flood:\n%s", c.Name, c.Stderr.String())
		}
	}
	rssAfter := []int{rssKiB(t, consumers[0].cmd.Process.Pid), rssKiB(t, consumers[1].cmd.Process.Pid), rssKiB(t, relay.cmd.Process.Pid)}
	for i, name := range []string{"sub01", "sub02", "relay"} {
		if grew := rssAfter[i] - rssBefore[i]; grew > 200<<10 {
			t.Errorf("%s grew by %d MiB under the flood", name, grew>>10)
		}
	}
	// Every frame the ACK listener read is counted exactly once.
	testbus.Eventually(t, 20*time.Second, "ACK listener counters to add up", func() bool {
		st := p.Stats()
		var rejected uint64
		for _, v := range st.AcksRejected {
			rejected += v
		}
		return st.AcksReceived == st.AcksCounted+st.AcksDuplicate+st.AcksOther+rejected
	})
	st := p.Stats()
	t.Logf("garbage sent: %d direct, %d into the relay; ACK listener: %d read, %d counted, rejected %v; RSS KiB before %v after %v",
		sent, sentRelay, st.AcksReceived, st.AcksCounted, st.AcksRejected, rssBefore, rssAfter)
	if st.AcksCounted != uint64(2*n) {
		t.Fatalf("%d ACKs counted, want %d", st.AcksCounted, 2*n)
	}
	for _, c := range consumers {
		if !strings.Contains(c.Stderr.String(), "dropped invalid message") {
			t.Errorf("%s did not report the garbage", c.Name)
		}
	}
	if !strings.Contains(relay.Stderr.String(), "dropped inbound message") {
		t.Error("the relay did not report the garbage")
	}
}
