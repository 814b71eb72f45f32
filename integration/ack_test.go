package integration

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

// startAcker starts ackmsg-tail --ack as name (ACKs through the relay), printing JSON lines to
// out, and waits until it is connected.
func startAcker(t *testing.T, b *Bus, name string, out *os.File, extra ...string) *Proc {
	t.Helper()
	args := append([]string{"--ack", "--json", "--certname", name, "--topic", "org.example.test.work"}, extra...)
	var p *Proc
	if out != nil {
		p = b.StartTo(out, "ackmsg-tail", args...)
	} else {
		p = b.Start("ackmsg-tail", args...)
	}
	p.WaitLog(t, "endpoint connected")
	return p
}

// The issue's acceptance: exit 0 with both consumers up; exit 3 within about the ACK timeout,
// naming sub02, once sub02 is stopped.
func TestLoggerRecipientsExitCodes(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"sub01", "sub02"}})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	startAcker(t, b, "sub01", nil)
	sub02 := startAcker(t, b, "sub02", nil)

	args := []string{"--recipients", "sub01,sub02", "--ack-timeout", "3", "--modname", "work", "--topic", "x", "--log-level", "info"}
	_, stderr, code := b.Run(30*time.Second, "one\ntwo\n", "ackmsg-logger", args...)
	if code != 0 {
		t.Fatalf("both up: exit %d\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "all recipients ACKed"); n != 2 {
		t.Fatalf("%d messages reported ACKed, want 2:\n%s", n, stderr)
	}

	sub02.Stop(t)
	start := time.Now()
	_, stderr, code = b.Run(30*time.Second, "three\n", "ackmsg-logger", args...)
	took := time.Since(start)
	if code != 3 {
		t.Fatalf("sub02 down: exit %d, want 3\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "missing sub02") || !strings.Contains(stderr, "acked: sub01") {
		t.Fatalf("stderr does not name sub02:\n%s", stderr)
	}
	// About 3 s: the timeout plus process start and the relay handshake (slower under -race).
	if took < 3*time.Second || took > 10*time.Second {
		t.Fatalf("took %s for a 3 s ACK timeout", took)
	}
}

// A consumer that starts after the publish began still gets the message, by retransmission.
func TestLateConsumerProcess(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"sub01"}})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	logger := b.StartInput(strings.NewReader(""), "ackmsg-logger", "--recipients", "sub01", "--ack-timeout", "20",
		"--modname", "work", "--topic", "x", "--message", "late", "--log-level", "info")
	logger.WaitLog(t, "publisher ready")
	sub01 := startAcker(t, b, "sub01", nil)
	if code := logger.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("logger exit %d\n%s", code, logger.Stderr.String())
	}
	if !strings.Contains(sub01.Stdout.String(), `"log":"late"`) {
		t.Fatalf("sub01 printed:\n%s", sub01.Stdout.String())
	}
	if strings.Contains(logger.Stderr.String(), "sends=1 ") {
		t.Fatalf("delivered without a retransmission?\n%s", logger.Stderr.String())
	}
}

// The invariant: while consumers are killed (-9) and restarted, every Publish that returned nil
// is matched by a delivery recorded by each named consumer. Timeouts are allowed (false
// negatives); a nil without deliveries (a false positive) fails the test.
func TestInvariantNoFalsePositivesUnderKills(t *testing.T) {
	names := []string{"sub01", "sub02", "sub03"}
	b := NewBus(t, BusOptions{Certs: append([]string{"pub"}, names...)})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")

	outs := map[string]*os.File{}
	procs := map[string]*Proc{}
	var procMu sync.Mutex
	for _, n := range names {
		f, err := os.OpenFile(filepath.Join(b.Dir, n+".jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		outs[n] = f
		procs[n] = startAcker(t, b, n, f)
	}

	p := b.AckPublisher(config.RelayInboundKey, "pub", nil)

	ctx, cancel := context.WithCancel(context.Background())
	chaosDone := make(chan struct{})
	kills := 0
	const wantKills = 8
	go func() { // kill -9 a random consumer every ~300 ms; restart it after 0.1 to 2.5 s
		defer close(chaosDone)
		defer cancel() // the publishers stop when the chaos is over
		rng := rand.New(rand.NewPCG(1, 2))
		for kills < wantKills {
			time.Sleep(time.Duration(200+rng.IntN(200)) * time.Millisecond) // chaos schedule, not synchronisation
			n := names[rng.IntN(len(names))]
			procMu.Lock()
			procs[n].Kill(t)
			kills++
			procMu.Unlock()
			time.Sleep(time.Duration(100+rng.IntN(2400)) * time.Millisecond)
			procMu.Lock()
			procs[n] = b.StartTo(outs[n], "ackmsg-tail", "--ack", "--json", "--certname", n, "--topic", "org.example.test.work")
			procMu.Unlock()
		}
	}()

	type result struct {
		id  string
		to  []string
		err error
	}
	results := make(chan result, 100000)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; ctx.Err() == nil; i++ {
				to := []string{names[rng.IntN(3)]}
				if rng.IntN(2) == 0 {
					to = names
				}
				m, err := p.Publish(context.Background(), "x", map[string]any{"g": g, "i": i}, ack.Modname("work"),
					ack.To(to...), ack.Within(2*time.Second))
				var id string
				var te *ack.TimeoutError
				switch {
				case m != nil:
					id = m.MsgID()
				case errors.As(err, &te):
					id = te.MsgID
				}
				results <- result{id, to, err}
			}
		}(g)
	}
	<-chaosDone
	wg.Wait()
	close(results)
	procMu.Lock()
	for _, n := range names {
		procs[n].Stop(t)
	}
	procMu.Unlock()

	delivered := map[string]map[string]bool{}
	for _, n := range names {
		data, err := os.ReadFile(outs[n].Name())
		if err != nil {
			t.Fatal(err)
		}
		delivered[n] = map[string]bool{}
		for _, line := range Lines(string(data)) {
			m, err := message.Decode([]byte(line))
			if err != nil {
				continue // a line cut by kill -9
			}
			delivered[n][m.MsgID()] = true
		}
	}
	var ok, timeouts, falseNeg, other int
	for r := range results {
		switch {
		case r.err == nil:
			ok++
			for _, n := range r.to {
				if !delivered[n][r.id] {
					t.Errorf("FALSE POSITIVE: %s returned nil but %s has no record of it", r.id, n)
				}
			}
		case errors.Is(r.err, ack.ErrTimeout):
			timeouts++
			all := true
			for _, n := range r.to {
				all = all && delivered[n][r.id]
			}
			if all {
				falseNeg++
			}
		default:
			other++
			t.Errorf("unexpected error: %v", r.err)
		}
	}
	t.Logf("publishes: %d ok, %d timed out (%d false negatives: delivered but not confirmed), %d other; %d kills",
		ok, timeouts, falseNeg, other, kills)
	if ok == 0 || timeouts == 0 {
		t.Fatal("the run needs both successes and timeouts to prove anything")
	}
}

// ACKs from real consumer processes that must never count: a revoked certificate, a certificate
// named sub01 but issued by another CA, and the right CA but another CN. Each run must time out
// (exit 3) naming the recipient it waited for.
func TestForgedAckProcessesDoNotCount(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"sub02", "revoked01"}})
	if _, err := certs.Revoke(b.PKI, "revoked01", certs.PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(b.Dir, "evil-pki")
	if _, err := certs.InitCA(evil, certs.PKIOptions{Bits: 1024}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Issue(evil, "sub01", certs.PKIOptions{Bits: 1024}); err != nil {
		t.Fatal(err)
	}
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")

	cases := []struct {
		name      string
		recipient string
		args      []string
	}{
		{"revoked certificate", "revoked01", []string{"--certname", "revoked01"}},
		{"look-alike CA", "sub01", []string{"--certname", "sub01", "--ssldir", evil}},
		// The message names sub01 in its signed ack_recipients: an ackmsg consumer signing as
		// sub02 is not asked, and sends no ACK at all (a gilmsg one would, refused as the others:
		// ack's unit tests send that ACK).
		{"other CN", "sub01", []string{"--certname", "sub02"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rogue := b.Start("ackmsg-tail", append([]string{"--ack", "--json", "--topic", "org.example.test.work"}, c.args...)...)
			rogue.WaitLog(t, "endpoint connected")
			_, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", c.recipient,
				"--ack-timeout", "1.5", "--modname", "work", "--topic", "x", "--message", "forge me", "--log-level", "debug")
			if code != 3 {
				t.Fatalf("exit %d, want 3 (timeout)\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "missing "+c.recipient) {
				t.Fatalf("stderr does not name %s:\n%s", c.recipient, stderr)
			}
			// The rogue received the message and did send an ACK: it was refused, not lost.
			if !strings.Contains(rogue.Stdout.String(), "forge me") {
				t.Fatalf("the rogue consumer never got the message:\n%s", rogue.Stderr.String())
			}
			if asked, logged := c.name != "other CN", strings.Contains(stderr, "ACK not counted"); logged != asked {
				t.Fatalf("a refused ACK logged: %v, want %v:\n%s", logged, asked, stderr)
			}
			rogue.Stop(t)
		})
	}
}
