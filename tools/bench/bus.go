package main

// ackmsg itself: acked publish (in process and with recipients in separate processes),
// PublishAsync, plain publish, memory per in-flight message, and a cold CLI publish.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/freeport"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/publisher"
)

const (
	benchModname = "bench"
	benchTopic   = "org.example.test.bench.order" // the full topic of what is published
	benchAck     = "org.example.test.gilmsg.ack"
	// benchWithin is far above any latency measured: a lost message fails the run, it does not
	// time out quietly.
	benchWithin = 30 * time.Second
)

// benchBody is a small business message: signed, its envelope is about 2.3 KB (mostly the
// certificate), as is its ACK.
var benchBody = map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}

// freeAddr is a tcp://127.0.0.1 address whose port was free a moment ago and that no caller
// was given before (callers pick several before they bind any; see package freeport).
func freeAddr() string {
	port, err := freeport.Pick()
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", port)
}

// pki is a CA and certificates for pub, logger and sub01..subNN, all with keys of one type:
// RSA-2048 (the default size, crypto x509) or Ed25519 (crypto x509-ed25519, ackmsg peers only).
type pki struct {
	dir     string
	keyType string // certs.KeyRSA or certs.KeyEd25519
}

func subName(i int) string { return fmt.Sprintf("sub%02d", i+1) }

func newPKI(dir, keyType string, subs int) (*pki, error) {
	opts := certs.PKIOptions{Days: 2, KeyType: keyType}
	if _, err := certs.InitCA(dir, opts); err != nil {
		return nil, err
	}
	names := []string{"pub", "logger"}
	for i := range subs {
		names = append(names, subName(i))
	}
	for _, n := range names {
		if _, err := certs.Issue(dir, n, opts); err != nil {
			return nil, err
		}
	}
	return &pki{dir: dir, keyType: keyType}, nil
}

// label names the key type in figures and notes: "RSA-2048" or "Ed25519".
func (p *pki) label() string {
	if p.keyType == certs.KeyEd25519 {
		return "Ed25519"
	}
	return "RSA-2048"
}

func (p *pki) signer(name string) (*certs.X509Signer, error) {
	return certs.LoadSigner(filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key"))
}

// config is a signing, validating configuration for the process with certificate cert.
func (p *pki) config(cert string, endpoints map[string][]string) *config.Config {
	c := config.DefaultConfig()
	c.TopicPrefix = "org.example"
	c.Environment = "test"
	c.Endpoints = config.ListMap(endpoints)
	c.ZMQLinger = 0
	c.SignMessages = true
	c.ValidateSignatures = true
	c.SSLDir = p.dir
	c.Certname = cert
	c.CACertLocation = filepath.Join(p.dir, "ca.crt")
	c.CRLLocation = filepath.Join(p.dir, "crl.pem")
	return &c
}

// ---- in process ------------------------------------------------------------------------------

// bus is an acked publisher and n acking consumers in this process, each on its own loopback
// endpoint, consumers subscribed to the benchmark topic only.
type bus struct {
	pub     *ack.Publisher
	cfg     *config.Config // the publisher's
	names   []string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	subs    []*ack.Subscriber
	closers []func() error
	body    any // what is published; nil is benchBody
}

// message is the body the bus publishes: benchBody unless the bus was given another.
func (b *bus) message() any {
	if b.body == nil {
		return benchBody
	}
	return b.body
}

// newBus starts n acking recipients (sub01..) and the publisher, and warms the bus.
func newBus(p *pki, n int) (*bus, error) {
	b := &bus{}
	eps := map[string][]string{"pub.host": {freeAddr()}}
	for i := range n {
		b.names = append(b.names, subName(i))
		eps[subName(i)+".host"] = []string{freeAddr()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	for _, name := range b.names {
		cfg := p.config(name, eps)
		cfg.Name = name + ".host"
		s, err := ack.NewSubscriber(cfg, benchTopic)
		if err != nil {
			b.close()
			return nil, err
		}
		b.subs = append(b.subs, s)
		b.closers = append(b.closers, s.Close)
		b.wg.Go(func() {
			for {
				d, err := s.Next(ctx)
				if err != nil {
					return
				}
				d.Done(nil)
			}
		})
	}
	cfg := p.config("pub", eps)
	cfg.Name = "pub.host"
	pub, err := ack.New(cfg)
	if err != nil {
		b.close()
		return nil, err
	}
	b.pub, b.cfg = pub, cfg
	return b, b.warm()
}

// warm publishes a few messages: connections made, subscriptions in, verification caches and
// the retransmission estimate set.
func (b *bus) warm() error {
	for range 5 {
		if err := b.publish(); err != nil {
			b.close()
			return err
		}
	}
	return nil
}

// publish is one acked publish to every recipient of the bus, returning once all ACKed.
func (b *bus) publish() error {
	_, err := b.pub.Publish(context.Background(), "order", b.message(), ack.To(b.names...),
		ack.Modname(benchModname), ack.Within(benchWithin))
	return err
}

// close closes the publisher, stops the recipients' goroutines and closes the recipients.
func (b *bus) close() {
	if b.pub != nil {
		b.pub.Close()
	}
	b.cancel()
	b.wg.Wait()
	for _, c := range b.closers {
		c()
	}
}

// ackedLatency is n acked publishes one at a time, each timed until every ACK is in. With a kit,
// one crypto chain (the four signature operations) is measured after each publish, so the figure
// and its crypto floor see the same machine: on a shared machine the speed of the CPU drifts
// within a run, and a floor measured minutes earlier would drift with it.
func ackedLatency(b *bus, n int, kit *cryptoKit) ([]time.Duration, *cryptoFloor, uint64, error) {
	before := b.pub.Stats().Retransmits
	lat := make([]time.Duration, 0, n)
	var f *cryptoFloor
	if kit != nil {
		f = &cryptoFloor{}
	}
	for i := range n {
		t0 := time.Now()
		if err := b.publish(); err != nil {
			return nil, nil, 0, err
		}
		lat = append(lat, time.Since(t0))
		if f != nil {
			if err := f.add(kit, int64(i)); err != nil {
				return nil, nil, 0, err
			}
		}
	}
	return lat, f, b.pub.Stats().Retransmits - before, nil
}

// asyncThroughput keeps up to inflight acked messages outstanding for d (waiting for the oldest
// when full) and counts msgs/s until the last ACK is in.
func asyncThroughput(b *bus, inflight int, d time.Duration) (float64, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*benchWithin)
	defer cancel()
	before := b.pub.Stats().Retransmits
	q := make([]*ack.Future, 0, inflight)
	count := 0
	start := time.Now()
	for time.Since(start) < d {
		if len(q) == inflight {
			if err := q[0].Wait(ctx); err != nil {
				return 0, 0, err
			}
			q = q[1:]
		}
		f, err := b.pub.PublishAsync(ctx, "order", b.message(), ack.To(b.names...),
			ack.Modname(benchModname), ack.Within(benchWithin))
		if err != nil {
			return 0, 0, err
		}
		q = append(q, f)
		count++
	}
	for _, f := range q {
		if err := f.Wait(ctx); err != nil {
			return 0, 0, err
		}
	}
	return float64(count) / time.Since(start).Seconds(), b.pub.Stats().Retransmits - before, nil
}

// inflightMemory is the live heap per acked message waiting for its ACK: n messages to a
// recipient that does not exist stay in flight (retransmitted) while the heap is measured after
// a GC, against the heap after a GC with none in flight.
func inflightMemory(b *bus, n int) (float64, error) {
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := make([]*ack.Future, 0, n)
	for range n {
		f, err := b.pub.PublishAsync(ctx, "order", benchBody, ack.To("absent"),
			ack.Modname(benchModname), ack.Within(benchWithin))
		if err != nil {
			return 0, err
		}
		fs = append(fs, f)
	}
	if got := b.pub.Stats().InFlight; got < n {
		return 0, fmt.Errorf("%d in flight, want %d", got, n)
	}
	loaded := heap()
	cancel()
	for _, f := range fs {
		<-f.Done()
	}
	return (float64(loaded) - float64(base)) / float64(n), nil
}

// plainThroughput is unsigned publisher.Publish of body to a non-validating consumer, n
// messages, counted until the last is received.
func plainThroughput(body any, n int) (rate, sendRate float64, err error) {
	c := config.DefaultConfig()
	c.TopicPrefix, c.Environment, c.ZMQLinger = "org.example", "test", 0
	c.HighWaterMark = 0 // unlimited, as the raw floor: nothing is dropped
	c.Endpoints = config.ListMap{"pub.host": {freeAddr()}}
	c.Name = "pub.host"
	pub, err := publisher.New(&c, publisher.WithModname(benchModname))
	if err != nil {
		return 0, 0, err
	}
	defer pub.Close()
	sub, err := consumer.NewSubscriber(&c, benchTopic)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sub.WaitConnected(ctx); err != nil {
		sub.Close()
		return 0, 0, err
	}
	if err := pub.WaitSubscribed(ctx, benchTopic); err != nil {
		sub.Close()
		return 0, 0, err
	}
	var got atomic.Int64
	readerDone := make(chan time.Time, 1)
	go func() {
		for got.Load() < int64(n) {
			if _, err := sub.Next(ctx); err != nil {
				break
			}
			got.Add(1)
		}
		readerDone <- time.Now()
	}()
	start := time.Now()
	for range n {
		if _, err := pub.Publish(ctx, "order", body); err != nil {
			cancel()
			<-readerDone
			sub.Close()
			return 0, 0, err
		}
	}
	sent := time.Since(start)
	end := <-readerDone
	sub.Close()
	if g := got.Load(); g < int64(n) {
		return 0, 0, fmt.Errorf("plain publish: %d of %d received", g, n)
	}
	return float64(n) / end.Sub(start).Seconds(), float64(n) / sent.Seconds(), nil
}

// plainEnvelope is the unsigned envelope plainThroughput sends, for a raw floor of the same size.
func plainEnvelope(body any) ([]byte, error) {
	c := config.DefaultConfig()
	c.TopicPrefix, c.Environment = "org.example", "test"
	c.Endpoints = config.ListMap{"pub.host": {freeAddr()}}
	c.Name = "pub.host"
	pub, err := publisher.New(&c, publisher.WithModname(benchModname))
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	m, err := pub.Build("order", body)
	if err != nil {
		return nil, err
	}
	return m.Marshal()
}

// ---- separate processes ----------------------------------------------------------------------

// procs are the commands built from this repository and the processes started from them.
type procs struct {
	bin, dir string
	mu       sync.Mutex
	running  []*running
}

// running is a started process and a channel closed when it has exited.
type running struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// buildCommands builds ./cmd/... of the repository at root into dir.
func buildCommands(root, dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// writeConfig writes a TOML configuration file for the commands.
func (p *procs) writeConfig(k *pki, name, extra string, endpoints map[string]string) (string, error) {
	var eps []string
	for key, addr := range endpoints {
		eps = append(eps, fmt.Sprintf("%q = [%q]", key, addr))
	}
	conf := fmt.Sprintf(`# written by tools/bench
topic_prefix = "org.example"
environment = "test"
sign_messages = true
validate_signatures = true
ssldir = %q
ca_cert_location = %q
crl_location = %q
zmq_linger = 1000
%s
[endpoints]
%s
[certnames]
"shell.%s" = "logger"
`, k.dir, filepath.Join(k.dir, "ca.crt"), filepath.Join(k.dir, "crl.pem"), extra, strings.Join(eps, "\n"),
		wiring.ShortHostname())
	path := filepath.Join(p.dir, name+".toml")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// logBuffer collects a process's stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a command in the background with ACKMSG_CONFIG=conf and waits until its stderr
// shows ready (a log line it prints once connected); output goes nowhere.
func (p *procs) start(conf, ready, name string, args ...string) (*exec.Cmd, error) {
	return p.startTo(nil, conf, ready, name, args...)
}

// startTo is start with the command's standard output written to stdout (nil: nowhere).
func (p *procs) startTo(stdout io.Writer, conf, ready, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
	cmd.Dir = p.dir
	cmd.Stdout = stdout
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.running = append(p.running, &running{cmd, exited})
	p.mu.Unlock()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), ready) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited before %q:\n%s", name, ready, logs)
		case <-deadline:
			return nil, fmt.Errorf("%s did not log %q within 30s:\n%s", name, ready, logs)
		case <-time.After(5 * time.Millisecond): // polling a pipe's buffer
		}
	}
	return cmd, nil
}

// stopAll kills every process started (by its own pid) and waits for it.
func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.running {
		r.cmd.Process.Kill()
	}
	for _, r := range p.running {
		<-r.exited
	}
	p.running = nil
}

// procAcked is acked publish latency from this process to n ackmsg-tail --ack processes, each
// binding its own endpoint (direct, no relay), samples publishes one at a time, with fig's
// crypto chain measured between them.
func procAcked(p *procs, fig keyed, n, samples int) ([]time.Duration, *cryptoFloor, uint64, error) {
	k := fig.k
	defer p.stopAll()
	eps := map[string]string{"pub.host": freeAddr()}
	var names []string
	for i := range n {
		names = append(names, subName(i))
		eps[subName(i)+".host"] = freeAddr()
	}
	conf, err := p.writeConfig(k, fmt.Sprintf("direct%d", n), "", eps)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, name := range names {
		if _, err := p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", name,
			"--name", name+".host", "--topic", benchTopic); err != nil {
			return nil, nil, 0, err
		}
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, nil, 0, err
	}
	cfg.Name, cfg.Certname, cfg.ZMQLinger = "pub.host", "pub", 0
	pub, err := ack.New(cfg)
	if err != nil {
		return nil, nil, 0, err
	}
	defer pub.Close()
	b := &bus{pub: pub, names: names}
	for range 5 {
		if err := b.publish(); err != nil {
			return nil, nil, 0, err
		}
	}
	return ackedLatency(b, samples, fig.kit)
}

// coldCLI times `ackmsg-logger --recipients sub01 --message m` from process start to exit, runs
// times, with a relay and an acking ackmsg-tail already running.
func coldCLI(p *procs, k *pki, runs int) ([]time.Duration, error) {
	defer p.stopAll()
	inbound, outbound := freeAddr(), freeAddr()
	conf, err := p.writeConfig(k, "relay", fmt.Sprintf("relay_inbound = %q", inbound),
		map[string]string{"relay_outbound": outbound})
	if err != nil {
		return nil, err
	}
	if _, err := p.start(conf, "relay ready", "ackmsg-relay"); err != nil {
		return nil, err
	}
	if _, err := p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", "sub01",
		"--topic", "org.example.test.logger"); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, runs)
	for i := range runs + 1 {
		cmd := exec.Command(filepath.Join(p.bin, "ackmsg-logger"), "--recipients", "sub01", "--message", "m",
			"--ack-timeout", "20")
		cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
		cmd.Dir = p.dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("ackmsg-logger: %v\n%s", err, stderr.String())
		}
		if i > 0 { // the first run warms the page cache and the relay's connection
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
