package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/faultproxy"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// chaosDuration is how long TestChaosLedger injects faults: ACKMSG_CHAOS_DURATION (a Go
// duration; make chaos DURATION=10m sets it), 12 s by default so that make test stays short
// while every kind of fault, a RabbitMQ restart included, comes up at least once.
func chaosDuration(t *testing.T) time.Duration {
	if s := os.Getenv("ACKMSG_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ACKMSG_CHAOS_DURATION=%q: %v", s, err)
		}
		return d
	}
	return 12 * time.Second
}

// chaosBus is the system under test: a relay, three acking consumer processes (sub01 and sub03
// publish their ACKs from their own endpoints, sub02 through the relay), an in-process ack
// publisher whose endpoint the consumers reach through a fault proxy, an ackmsg-logger
// process publishing through the relay, the outbox's deliverer, and (with RabbitMQ) an
// ackmsg-bridge recipient in front of a RabbitMQ node.
type chaosBus struct {
	t       *testing.T
	b       *Bus
	proxy   *faultproxy.Proxy
	pub     *ack.Publisher
	ledgers map[string]*os.File // the tails' standard output

	hubLedger string       // written by the hub's file consumer
	bridge    *chaosBridge // nil without RabbitMQ

	mu      sync.Mutex
	procs   map[string]*Proc // consumers and "relay"
	loggers []*Proc
}

// chaosConsumers are the recipients: three ackmsg-tail --ack processes and an ackmsg-hub whose
// file consumer is its ledger.
var chaosConsumers = []string{"sub01", "sub02", "sub03", "hub01"}

func newChaosBus(t *testing.T) *chaosBus {
	pubAddr := testbus.Addr(t)
	proxy, err := faultproxy.New("127.0.0.1:0", strings.TrimPrefix(pubAddr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	dir := t.TempDir()
	cb := newChaosBridge(t)
	b := NewBus(t, BusOptions{
		Certs: append([]string{"pub", "bridge"}, chaosConsumers...),
		Endpoints: map[string]string{
			"pub.host":   "tcp://" + proxy.Addr(),
			"sub01.host": testbus.Addr(t),
			"sub03.host": testbus.Addr(t),
			"hub01.host": testbus.Addr(t),
		},
		Extra: fmt.Sprintf(`
[hub]
shutdown_timeout = 5

[[hub.consumers]]
name = "ledger"
kind = "file"
topics = ["org.example.test.work.#"]
path = %q
fsync = "always"
%s%s`, filepath.Join(dir, "hub01.jsonl"), chaosOutboxConfig(filepath.Join(dir, "outbox.db")), cb.config()),
	})
	c := &chaosBus{t: t, b: b, proxy: proxy, ledgers: map[string]*os.File{}, procs: map[string]*Proc{},
		hubLedger: filepath.Join(dir, "hub01.jsonl"), bridge: cb}
	c.startRelay(true)
	for _, n := range chaosConsumers {
		if n != "hub01" {
			f, err := os.OpenFile(filepath.Join(b.Dir, n+".jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			c.ledgers[n] = f
		}
		c.startConsumer(n, true)
	}
	c.startOutbox(true)
	if cb != nil {
		c.startBridge(true)
	}

	c.pub = b.AckPublisher("pub.host", "pub", func(cfg *config.Config) {
		eps := config.ListMap{}
		for k, v := range cfg.Endpoints {
			eps[k] = v
		}
		eps["pub.host"] = []string{pubAddr} // the publisher binds the real address behind the proxy
		cfg.Endpoints = eps
	})
	return c
}

func (c *chaosBus) startRelay(wait bool) {
	p := c.b.Start("ackmsg-relay")
	if wait {
		p.WaitLog(c.t, "relay ready")
	}
	c.mu.Lock()
	c.procs["relay"] = p
	c.mu.Unlock()
}

func (c *chaosBus) startConsumer(name string, wait bool) {
	var p *Proc
	if name == "hub01" {
		p = c.b.Start("ackmsg-hub", "--certname", name, "--name", name+".host")
		if wait {
			p.WaitLog(c.t, "hub ready")
		}
	} else {
		args := []string{"--ack", "--json", "--certname", name, "--topic", "org.example.test.work"}
		if name != "sub02" {
			args = append(args, "--name", name+".host")
		}
		p = c.b.StartTo(c.ledgers[name], "ackmsg-tail", args...)
	}
	if wait {
		p.WaitLog(c.t, "endpoint connected")
	}
	c.mu.Lock()
	c.procs[name] = p
	c.mu.Unlock()
}

func (c *chaosBus) proc(name string) *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[name]
}

// runLoggers keeps an ackmsg-logger process publishing a line every 50 ms to sub01 and sub03
// until ctx ends; a logger that exits (ACK timeout, or killed) is replaced.
func (c *chaosBus) runLoggers(ctx context.Context) {
	runLoggers(ctx, c.t, func(stdin *os.File) *Proc {
		p := c.b.StartInput(stdin, "ackmsg-logger", "--recipients", "sub01,sub03", "--ack-timeout", "2",
			"--modname", "work", "--topic", "log", "--log-level", "info")
		c.mu.Lock()
		c.loggers = append(c.loggers, p)
		c.mu.Unlock()
		return p
	})
}

// runLoggers keeps a logger process made by start publishing a line every 50 ms until ctx
// ends; a logger that exits (ACK timeout, or killed) is replaced.
func runLoggers(ctx context.Context, t *testing.T, start func(stdin *os.File) *Proc) {
	seq := 0
	for ctx.Err() == nil {
		// A real pipe, not io.Pipe: the logger reads it directly, and a write after the logger
		// died fails (EPIPE) instead of blocking on a copying goroutine that stopped reading.
		r, w, err := os.Pipe()
		if err != nil {
			t.Error(err)
			return
		}
		p := start(r)
		r.Close() // the logger holds its own copy
		for ctx.Err() == nil && !p.Exited() {
			seq++
			if _, err := fmt.Fprintf(w, "line %d\n", seq); err != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-p.done:
			case <-time.After(50 * time.Millisecond): // the publishing rate
			}
		}
		w.Close()
		p.Wait(t, 30*time.Second)
	}
}

var (
	loggerOK   = regexp.MustCompile(`^time=(\S+) .*msg="all recipients ACKed".* msg_id=(\S+)`)
	loggerFail = regexp.MustCompile(`recipients did not ACK msg (\S+) within`)
)

// loggerOutcomes parses what the logger processes said about their publishes.
func (c *chaosBus) loggerOutcomes() []outcome {
	return loggerOutcomes(c.loggers, []string{"sub01", "sub03"})
}

// loggerOutcomes parses what logger processes publishing to recipients to said about their
// publishes.
func loggerOutcomes(loggers []*Proc, to []string) []outcome {
	var out []outcome
	for _, p := range loggers {
		for _, line := range Lines(p.Stderr.String()) {
			if m := loggerOK.FindStringSubmatch(line); m != nil {
				at, _ := time.Parse(time.RFC3339Nano, m[1])
				out = append(out, outcome{ID: m[2], To: to, OK: true, At: at, From: "logger"})
			} else if m := loggerFail.FindStringSubmatch(line); m != nil {
				out = append(out, outcome{ID: m[1], To: to, From: "logger"})
			}
		}
	}
	return out
}

// publishLoad runs in-process acked publishes until ctx ends: two goroutines publishing
// synchronously and one keeping up to 8 PublishAsync calls in flight, over several recipient
// sets.
func (c *chaosBus) publishLoad(ctx context.Context, record func(outcome)) {
	sets := [][]string{{"sub01"}, {"sub02"}, {"sub03"}, {"hub01"}, {"sub01", "sub03"}, {"sub02", "hub01"}, chaosConsumers}
	var wg sync.WaitGroup
	one := func(to []string, err error, id string) {
		var te *ack.TimeoutError
		if errors.As(err, &te) {
			id = te.MsgID
		}
		if id == "" {
			return // never sent (closed at the end of the run)
		}
		record(outcome{ID: id, To: to, OK: err == nil, At: time.Now(), From: "pub"})
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 99))
			for i := 0; ctx.Err() == nil; i++ {
				to := sets[rng.IntN(len(sets))]
				m, err := c.pub.Publish(context.Background(), "sync", map[string]any{"g": g, "i": i},
					ack.Modname("work"), ack.To(to...), ack.Within(2*time.Second))
				id := ""
				if m != nil {
					id = m.MsgID()
				}
				one(to, err, id)
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		slots := make(chan struct{}, 8)
		var inflight sync.WaitGroup
		for i := 0; ctx.Err() == nil; i++ {
			slots <- struct{}{}
			to := sets[rng.IntN(len(sets))]
			f, err := c.pub.PublishAsync(context.Background(), "async", i, ack.Modname("work"), ack.To(to...), ack.Within(2*time.Second))
			if err != nil {
				<-slots
				continue
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				<-f.Finished()
				one(to, f.Err(), f.Message().MsgID())
				<-slots
			}()
		}
		inflight.Wait()
	}()
	wg.Wait()
}

// injectFaults runs the fault schedule until ctx ends and returns what it did. Every fault is
// healed before it returns.
func (c *chaosBus) injectFaults(ctx context.Context) []faultRecord {
	rng := rand.New(rand.NewPCG(42, 42))
	kinds := []string{"kill -9 consumer", "kill -9 deliverer", "SIGSTOP consumer", "restart relay",
		"kill -9 publisher process", "cut connections", "stall connections"}
	if c.bridge != nil {
		// The RabbitMQ restarts (several seconds each) run on their own schedule, alongside these.
		kinds = []string{"kill -9 consumer", "kill -9 deliverer", "SIGSTOP consumer", "kill -9 bridge", "restart relay",
			"kill -9 publisher process", "cut connections", "stall connections"}
	}
	var faults []faultRecord
	pause := func(d time.Duration) { // the fault schedule, not synchronisation
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	for i := 0; ctx.Err() == nil; i++ {
		pause(time.Duration(500+rng.IntN(700)) * time.Millisecond)
		if ctx.Err() != nil {
			break
		}
		down := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		target := chaosConsumers[rng.IntN(len(chaosConsumers))]
		kind := kinds[i%len(kinds)]
		rec := faultRecord{Kind: kind, Target: target}
		switch kind {
		case "kill -9 consumer":
			c.proc(target).Kill(c.t)
			pause(down)
			c.startConsumer(target, false)
		case "SIGSTOP consumer":
			p := c.proc(target)
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGSTOP)
			time.Sleep(down) // always resume, even when the run is ending
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGCONT)
		case "kill -9 deliverer":
			rec.Target = "outbox"
			c.proc("outbox").Kill(c.t)
			pause(down)
			c.startOutbox(false)
			rec.after = c.proc("outbox")
		case "kill -9 bridge":
			rec.Target = "bridge"
			c.proc("bridge").Kill(c.t)
			pause(down)
			c.startBridge(false)
		case "restart relay":
			rec.Target = "sub02" // the consumer whose ACKs cross the relay
			c.proc("relay").Kill(c.t)
			pause(down)
			c.startRelay(false)
		case "kill -9 publisher process":
			rec.Target = "logger"
			c.mu.Lock()
			p := c.loggers[len(c.loggers)-1]
			c.mu.Unlock()
			p.cmd.Process.Kill() // runLoggers starts the next one
		case "cut connections":
			rec.Target = "pub"
			c.proxy.Cut()
		case "stall connections":
			rec.Target = "pub"
			c.proxy.Stall(true)
			time.Sleep(down)
			c.proxy.Stall(false)
		}
		rec.Healed = time.Now()
		faults = append(faults, rec)
	}
	return faults
}

// TestChaosLedger is the reliability proof: faults on a schedule while acked publishes run, then
// the ledger check — every nil return must be matched by a recorded delivery at each named
// recipient. It reports false negatives, duplicates delivered to the application and the time
// to recover after each kind of fault. make chaos DURATION=10m runs it long.
func TestChaosLedger(t *testing.T) {
	dur := chaosDuration(t)
	c := newChaosBus(t)

	var mu sync.Mutex
	var outcomes []outcome
	record := func(o outcome) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }

	before := measure()
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	var faults []faultRecord
	load := &outboxLoad{}
	var bridgeOutcomes []outcome
	var brokerFaults []faultRecord
	if c.bridge != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.publishBridgeLoad(ctx, func(o outcome) { mu.Lock(); bridgeOutcomes = append(bridgeOutcomes, o); mu.Unlock() })
		}()
		go func() { defer wg.Done(); brokerFaults = c.restartBrokers(ctx, dur) }()
	}
	wg.Add(4)
	go func() { defer wg.Done(); c.runOutbox(ctx, load) }()
	go func() { defer wg.Done(); c.publishLoad(ctx, record) }()
	go func() { defer wg.Done(); c.runLoggers(ctx) }()
	go func() { defer wg.Done(); faults = c.injectFaults(ctx) }()
	wg.Wait()
	faults = append(faults, brokerFaults...)
	after := measure()
	inflight := c.pub.Stats().InFlight

	// Every fault is healed: the outbox must now deliver what it holds, while the consumers run.
	final, err := c.drainOutbox(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.proc("outbox").Stop(t)
	var br bridgeReport
	restarts, bridgeKills := 0, 0
	if c.bridge != nil {
		c.proc("bridge").Stop(t)
		queue, err := c.bridge.drain(t)
		if err != nil {
			t.Fatal(err)
		}
		br = checkBridge(bridgeOutcomes, queue)
		for _, f := range faults {
			switch f.Kind {
			case "restart RabbitMQ", "kill -9 RabbitMQ node":
				restarts++
			case "kill -9 bridge":
				bridgeKills++
			}
		}
	}
	for _, n := range chaosConsumers {
		c.proc(n).Stop(t)
	}
	c.proc("relay").Stop(t)
	ledgers := map[string]map[string]int{}
	for _, n := range chaosConsumers {
		path := c.hubLedger
		if f := c.ledgers[n]; f != nil {
			path = f.Name()
		}
		l, err := readLedger(path)
		if err != nil {
			t.Fatal(err)
		}
		ledgers[n] = l
	}
	outcomes = append(outcomes, c.loggerOutcomes()...)
	r := checkLedger(outcomes, ledgers)
	faults = recoveries(faults, append(slices.Clone(outcomes), bridgeOutcomes...))
	deliverKills := 0
	for i, f := range faults {
		if f.Kind == "kill -9 deliverer" {
			deliverKills++
			faults[i].Recovery = firstDelivery(f.after, f.Healed)
		}
	}
	or := checkOutbox(load, final, ledgers)

	report := fmt.Sprintf("chaos run: %s, %d faults\n\n"+
		"| acked publishes | nil (delivered) | failed | false positives | false negatives | deliveries | duplicates delivered |\n"+
		"|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %d |\n\n%s",
		dur, len(faults), r.Publishes, r.OK, r.Failed, len(r.FalsePositives), r.FalseNegatives, r.Deliveries, r.Duplicates,
		faultTable(faults))
	report += fmt.Sprintf("\n| test process (publisher) | goroutines | open files | heap after GC | waiting for ACKs |\n|---|---|---|---|---|\n"+
		"| at start | %d | %d | %.1f MiB | 0 |\n| at end | %d | %d | %.1f MiB | %d |\n",
		before.goroutines, before.fds, before.heapMiB, after.goroutines, after.fds, after.heapMiB, inflight)
	report += or.table(deliverKills)
	if c.bridge != nil {
		report += br.table(restarts, bridgeKills)
	}
	t.Log("\n" + report)
	if path := os.Getenv("ACKMSG_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, fp := range r.FalsePositives {
		t.Errorf("FALSE POSITIVE: %s", fp)
	}
	for _, fp := range br.FalsePositives {
		t.Errorf("FALSE POSITIVE (bridge): %s", fp)
	}
	if c.bridge != nil && (br.OK == 0 || restarts == 0) {
		t.Errorf("the bridge part proves nothing: %d publishes to bridge returned nil, %d RabbitMQ restarts", br.OK, restarts)
	}
	for _, fp := range or.FalseDelivered {
		t.Errorf("FALSE DELIVERED (outbox): %s", fp)
	}
	for _, s := range or.Inconsistent {
		t.Errorf("outbox record inconsistent: %s", s)
	}
	if or.Pending > 0 {
		t.Errorf("outbox: %d stored messages still pending 60 s after every fault was healed", or.Pending)
	}
	if or.Stored == 0 || or.Delivered == 0 {
		t.Errorf("the outbox part proves nothing: %d stored, %d delivered; enqueue failures: %v", or.Stored, or.Delivered, load.failures)
	}
	// Nothing accumulates in the long-lived publisher: what the run started is gone.
	if after.goroutines > before.goroutines+20 || after.fds > before.fds+20 || inflight != 0 {
		t.Errorf("resources grew: %+v -> %+v, %d still waiting", before, after, inflight)
	}
	if r.OK == 0 || len(faults) == 0 {
		t.Fatalf("the run proves nothing: %d successful publishes, %d faults", r.OK, len(faults))
	}
}

// The ledger check must be able to fail: with a planted bug that counts an ACK from the wrong
// signer, publishes to a recipient that is down return nil, and the check reports them.
func TestChaosLedgerCatchesPlantedBug(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"pub", "sub01", "sub02"}, Endpoints: map[string]string{
		"pub.host": testbus.Addr(t), "sub01.host": testbus.Addr(t), "sub02.host": testbus.Addr(t)}})
	ledger, err := os.Create(filepath.Join(b.Dir, "sub01.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()
	sub01 := b.StartTo(ledger, "ackmsg-tail", "--ack", "--json", "--certname", "sub01", "--name", "sub01.host", "--topic", "org.example.test.work")
	sub01.WaitLog(t, "endpoint connected")
	cfg, err := config.Load(config.LoadOptions{File: b.Config})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := cfg.AckVerifier(nil)
	if err != nil {
		t.Fatal(err)
	}
	planted := &misattributing{Verifier: verifier, as: "sub02", seen: map[string]bool{}}
	p := b.AckPublisher("pub.host", "pub", nil, ack.WithVerifier(planted))

	run := func() ledgerReport {
		var outcomes []outcome
		for i := 0; i < 3; i++ {
			m, err := p.Publish(context.Background(), "x", i, ack.Modname("work"), ack.To("sub01", "sub02"), ack.Within(1500*time.Millisecond))
			o := outcome{To: []string{"sub01", "sub02"}, OK: err == nil, From: "pub"}
			var te *ack.TimeoutError
			switch {
			case m != nil:
				o.ID = m.MsgID()
			case errors.As(err, &te):
				o.ID = te.MsgID
			default:
				t.Fatal(err)
			}
			outcomes = append(outcomes, o)
		}
		l, err := readLedger(ledger.Name())
		if err != nil {
			t.Fatal(err)
		}
		return checkLedger(outcomes, map[string]map[string]int{"sub01": l, "sub02": {}})
	}

	// Control: sub02 never runs, so every publish must fail and the check finds nothing.
	if r := run(); r.OK != 0 || len(r.FalsePositives) != 0 {
		t.Fatalf("without the bug: %+v", r)
	}
	planted.on.Store(true)
	r := run()
	if len(r.FalsePositives) == 0 {
		t.Fatalf("the planted bug went unnoticed: %+v", r)
	}
	t.Logf("planted bug caught: %d false positives, e.g. %s", len(r.FalsePositives), r.FalsePositives[0])
}

// misattributing is the planted bug, injected where a test may put one (ack.WithVerifier)
// rather than switched on inside the publisher's ACK counting: once on, it verifies each ACK like
// the real verifier, then attributes every ACK after a signer's first for a message to as. A
// re-ACK (the answer to a retransmission) from a recipient already counted is thus counted for
// one that never answered: a false positive the ledger must report.
type misattributing struct {
	certs.Verifier
	as string
	on atomic.Bool

	mu   sync.Mutex
	seen map[string]bool // ack_msg_id + signer
}

func (v *misattributing) Verify(m *message.Message) (*certs.Identity, error) {
	who, err := v.Verifier.Verify(m)
	if err != nil || !v.on.Load() {
		return who, err
	}
	body, _ := m.Body().(map[string]any)
	key := fmt.Sprint(body["ack_msg_id"], "\x00", who.CN)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen[key] {
		return &certs.Identity{CN: v.as}, nil
	}
	v.seen[key] = true
	return who, nil
}

// resources is what the test process holds: goroutines, open file descriptors, live heap.
type resources struct {
	goroutines, fds int
	heapMiB         float64
}

func measure() resources {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds), heapMiB: float64(ms.HeapAlloc) / (1 << 20)}
}
