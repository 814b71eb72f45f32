package main

// ackmsg itself, in process: acked publish, PublishAsync, plain publish and memory per
// in-flight message; procs.go has the recipients in separate processes and the cold CLI publish.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/freeport"
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
	// One certificate per core at a time: an RSA-2048 key costs 0.2-0.5 s on this machine, and
	// the fan-out curve needs 50 of them.
	errs := make([]error, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				_, errs[i] = certs.Issue(dir, names[i], opts)
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
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
func newBus(p *pki, n int) (*bus, error) { return newBusWith(p, n, nil) }

// newBusWith is newBus with every configuration passed through adjust first (when not nil).
func newBusWith(p *pki, n int, adjust func(*config.Config)) (*bus, error) {
	if adjust == nil {
		adjust = func(*config.Config) {}
	}
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
		adjust(cfg)
		s, err := config.NewAckSubscriber(cfg, benchTopic)
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
	adjust(cfg)
	pub, err := config.NewAckPublisher(context.Background(), cfg)
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
		<-f.Finished()
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
	pub, err := config.NewPublisher(context.Background(), &c, publisher.WithModname(benchModname))
	if err != nil {
		return 0, 0, err
	}
	defer pub.Close()
	sub, err := config.NewSubscriber(&c, benchTopic)
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
	pub, err := config.NewPublisher(context.Background(), &c, publisher.WithModname(benchModname))
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
