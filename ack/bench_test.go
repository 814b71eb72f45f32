package ack_test

// Benchmarks of guaranteed delivery, each next to its floors measured in the same process just
// before (DESIGN.md, "What is measured, always side by side"):
//
//   - rtt: the raw ZeroMQ round trip of an acked message's bytes and an ACK's bytes over loopback
//     TCP, through the same zsock sockets (BenchmarkRawZMQRoundTrip);
//   - crypto: the publisher signs, each recipient verifies and signs its ACK (in parallel), the
//     publisher verifies the ACKs (BenchmarkCryptoFloor for one recipient).
//
// Metrics: p50-ns and p99-ns are per-publish latencies; x-rtt, x-crypto and x-floors divide the
// p50 by rtt, by crypto and by their sum; retx/op and retx/msg count retransmissions, dup/msg
// the retransmissions the recipient received again, rto-ms the publisher's retransmission
// timeout at the end. The machine is shared and noisy: compare ratios, not absolute numbers
// across runs.
//
//	go test -run '^$' -bench . -benchtime 3s ./ack/

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

const (
	benchModname = "bench"
	benchTopic   = "org.example.test.bench.order" // the full topic of what the benchmarks publish
	benchAck     = "org.example.test.gilmsg.ack"
	// benchWithin is far above any latency measured: a benchmark fails rather than time out.
	benchWithin = 30 * time.Second
)

// benchBody is a small business message: signed, the envelope is 2.3 KB (mostly the
// certificate), as is its ACK.
var benchBody = map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}

// ---- floors ----------------------------------------------------------------------------------

// cryptoKit signs and verifies as the two ends of an acked publish do.
type cryptoKit struct {
	pub, sub          *certs.X509Signer
	subVerify, pubAck certs.Verifier // the consumer's verifier, the publisher's ACK verifier
}

func newCryptoKit(tb testing.TB) *cryptoKit {
	tb.Helper()
	load := func(name string) *certs.X509Signer {
		s, err := certs.LoadSigner(filepath.Join(testbus.PKIDir(), name+".crt"), filepath.Join(testbus.PKIDir(), name+".key"))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	cfg := configtest.Sign(configtest.Config(nil), "pub01")
	sv, err := cfg.Verifier(true, nil)
	if err != nil {
		tb.Fatal(err)
	}
	av, err := cfg.AckVerifier(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &cryptoKit{pub: load("pub01"), sub: load("sub01"), subVerify: sv, pubAck: av}
}

// chainTimes are the four steps of the crypto floor.
type chainTimes struct{ pubSign, subVerify, subSign, pubVerify time.Duration }

func (c chainTimes) total() time.Duration { return c.pubSign + c.subVerify + c.subSign + c.pubVerify }

// chain does, in one goroutine, the CPU work of one acked publish to one recipient without the
// sockets: build, sign and encode the message; decode and verify it; build, sign and encode the
// ACK; decode and verify the ACK. It returns the time of each step and the two frames.
func (k *cryptoKit) chain(tb testing.TB, i int64) (chainTimes, []byte, []byte) {
	var ct chainTimes
	t0 := time.Now()
	m, err := message.Build(benchTopic, benchBody, i, "bench", t0)
	if err == nil {
		err = m.Set(message.FieldGilmsgVersion, ack.Marker)
	}
	if err == nil {
		err = k.pub.Sign(m)
	}
	frame, err2 := m.Marshal()
	if err != nil || err2 != nil {
		tb.Fatal(err, err2)
	}
	t1 := time.Now()
	rm, err := message.Decode(frame)
	if err == nil {
		_, err = k.subVerify.Verify(rm)
	}
	if err != nil {
		tb.Fatal(err)
	}
	t2 := time.Now()
	a, err := message.Build(benchAck, map[string]any{"ack_msg_id": rm.MsgID()}, i, "bench", t2)
	if err == nil {
		err = k.sub.Sign(a)
	}
	ackFrame, err2 := a.Marshal()
	if err != nil || err2 != nil {
		tb.Fatal(err, err2)
	}
	t3 := time.Now()
	am, err := message.Decode(ackFrame)
	if err == nil {
		_, err = k.pubAck.Verify(am)
	}
	if err != nil {
		tb.Fatal(err)
	}
	t4 := time.Now()
	ct = chainTimes{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)}
	return ct, frame, ackFrame
}

// chainN is the crypto floor of an acked publish to n recipients with the parallelism a bus on
// this machine has: the publisher signs; n goroutines (the recipients) each verify and sign an
// ACK; the publisher verifies the n ACKs one after the other, as its engine does.
func (k *cryptoKit) chainN(tb testing.TB, n int, i int64) time.Duration {
	if n == 1 {
		ct, _, _ := k.chain(tb, i)
		return ct.total()
	}
	t0 := time.Now()
	m, err := message.Build(benchTopic, benchBody, i, "bench", t0)
	if err == nil {
		err = m.Set(message.FieldGilmsgVersion, ack.Marker)
	}
	if err == nil {
		err = k.pub.Sign(m)
	}
	frame, err2 := m.Marshal()
	if err != nil || err2 != nil {
		tb.Fatal(err, err2)
	}
	acks := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			rm, err := message.Decode(frame)
			if err == nil {
				_, err = k.subVerify.Verify(rm)
			}
			var a *message.Message
			if err == nil {
				a, err = message.Build(benchAck, map[string]any{"ack_msg_id": rm.MsgID()}, i, "bench", time.Now())
			}
			if err == nil {
				err = k.sub.Sign(a)
			}
			if err == nil {
				acks[r], err = a.Marshal()
			}
			errs[r] = err
		})
	}
	wg.Wait()
	for r := range n {
		if errs[r] != nil {
			tb.Fatal(errs[r])
		}
		am, err := message.Decode(acks[r])
		if err == nil {
			_, err = k.pubAck.Verify(am)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return time.Since(t0)
}

// rawPair is the transport floor: A sends on its Pub to B's Sub, B answers on its Pub to A's Sub,
// with the zsock sockets ackmsg uses and the same socket options, over loopback TCP.
type rawPair struct {
	zA, zB     *zmq.Context
	pubA, pubB *zsock.Pub
	subA, subB *zsock.Sub
	echoDone   chan struct{}
}

func newRawPair(tb testing.TB, reply [][]byte) *rawPair {
	tb.Helper()
	opts := configtest.Config(nil).Transport()
	addrA, addrB := testbus.Addr(tb), testbus.Addr(tb)
	r := &rawPair{echoDone: make(chan struct{})}
	var err error
	must := func(e error) {
		if e != nil {
			r.close()
			tb.Fatal(e)
		}
	}
	r.zA, err = zsock.NewContext(1)
	must(err)
	r.zB, err = zsock.NewContext(1)
	must(err)
	r.pubA, err = zsock.NewPub(r.zA, zsock.PubConfig{Bind: []string{addrA}, Options: opts})
	must(err)
	r.pubB, err = zsock.NewPub(r.zB, zsock.PubConfig{Bind: []string{addrB}, Options: opts})
	must(err)
	r.subA, err = zsock.NewSub(r.zA, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "b", Addr: addrB}},
		Prefixes: []string{benchAck}, Options: opts})
	must(err)
	r.subB, err = zsock.NewSub(r.zB, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "a", Addr: addrA}},
		Prefixes: []string{benchTopic}, Options: opts})
	must(err)
	go func() {
		defer close(r.echoDone)
		for {
			if _, err := r.subB.Recv(context.Background()); err != nil {
				return // closed
			}
			if err := r.pubB.Send(reply...); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(r.subA.WaitConnected(ctx))
	must(r.subB.WaitConnected(ctx))
	must(r.pubA.WaitSubscribed(ctx, benchTopic))
	must(r.pubB.WaitSubscribed(ctx, benchAck))
	return r
}

func (r *rawPair) roundTrip(tb testing.TB, frames [][]byte) {
	if err := r.pubA.Send(frames...); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.subA.Recv(ctx); err != nil {
		tb.Fatalf("raw round trip: %v", err)
	}
}

func (r *rawPair) close() {
	if r.subB != nil {
		r.subB.Close() // ends the echo goroutine
		<-r.echoDone
	}
	if r.pubB != nil {
		r.pubB.Close()
	}
	if r.subA != nil {
		r.subA.Close()
	}
	if r.pubA != nil {
		r.pubA.Close()
	}
	for _, z := range []*zmq.Context{r.zA, r.zB} {
		if z != nil {
			z.Term()
		}
	}
}

// sampleFrames are an acked message and its ACK, signed, as they go on the wire.
func sampleFrames(tb testing.TB, k *cryptoKit) (msg, ackFrames [][]byte) {
	_, m, a := k.chain(tb, 1)
	return [][]byte{[]byte(benchTopic), m}, [][]byte{[]byte(benchAck), a}
}

// floors are measured next to each acked benchmark, on the same machine at the same time.
type floors struct {
	rttP50, rttP99 time.Duration // raw ZeroMQ round trip (zsock), acked-message sizes
	crypto         time.Duration // median crypto floor (chainN) for the benchmark's recipients
}

func measureFloors(tb testing.TB, recipients int) floors {
	tb.Helper()
	k := newCryptoKit(tb)
	msg, reply := sampleFrames(tb, k)
	r := newRawPair(tb, reply)
	defer r.close()
	rtts := make([]time.Duration, 0, 300)
	for i := range cap(rtts) + 30 {
		t0 := time.Now()
		r.roundTrip(tb, msg)
		if i >= 30 { // warm-up
			rtts = append(rtts, time.Since(t0))
		}
	}
	cs := make([]time.Duration, 0, 25)
	for i := range cap(cs) {
		cs = append(cs, k.chainN(tb, recipients, int64(i)))
	}
	return floors{rttP50: pct(rtts, 0.50), rttP99: pct(rtts, 0.99), crypto: pct(cs, 0.50)}
}

func (f floors) report(b *testing.B) {
	b.ReportMetric(float64(f.rttP50.Nanoseconds()), "rtt-p50-ns")
	b.ReportMetric(float64(f.crypto.Nanoseconds()), "crypto-ns")
}

// pct returns the q-quantile (nearest rank) of ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func reportLatencies(b *testing.B, lat []time.Duration) (p50 time.Duration) {
	p50 = pct(lat, 0.50)
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(pct(lat, 0.99).Nanoseconds()), "p99-ns")
	return p50
}

// BenchmarkRawZMQRoundTrip is the transport floor: an acked message's bytes A->B and an ACK's
// bytes B->A over loopback TCP. zsock is what ackmsg uses (sockets used by the calling goroutines
// under a mutex); zmq4 is the same exchange on bare pebbe/zmq4 sockets, each on a locked OS
// thread, to show what zsock adds.
func BenchmarkRawZMQRoundTrip(b *testing.B) {
	k := newCryptoKit(b)
	msg, reply := sampleFrames(b, k)
	b.Run("zsock", func(b *testing.B) {
		r := newRawPair(b, reply)
		defer r.close()
		for range 30 {
			r.roundTrip(b, msg)
		}
		lat := make([]time.Duration, 0, 1<<14)
		for b.Loop() {
			t0 := time.Now()
			r.roundTrip(b, msg)
			lat = append(lat, time.Since(t0))
		}
		reportLatencies(b, lat)
	})
	b.Run("zmq4", func(b *testing.B) {
		benchZMQ4RoundTrip(b, msg, reply)
	})
}

// benchZMQ4RoundTrip runs the round trip on bare sockets: A's are used by this goroutine only,
// B's by the echo goroutine only. XPUB sockets prove each subscription arrived before the first
// send.
// timeRoundTrips sends msg on pub and reads one reply on sub, 30 times to warm up, then once per
// benchmark iteration, and reports the round trips' latencies.
func timeRoundTrips(b *testing.B, pub, sub *zmq.Socket, msg [][]byte) {
	b.Helper()
	rt := func() {
		if _, err := pub.SendMessage(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := sub.RecvMessageBytes(0); err != nil {
			b.Fatal(err)
		}
	}
	for range 30 {
		rt()
	}
	lat := make([]time.Duration, 0, 1<<14)
	for b.Loop() {
		t0 := time.Now()
		rt()
		lat = append(lat, time.Since(t0))
	}
	reportLatencies(b, lat)
}

func benchZMQ4RoundTrip(b *testing.B, msg, reply [][]byte) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	addrA, addrB := testbus.Addr(b), testbus.Addr(b)
	// One context (and I/O thread) per side, as two processes have.
	zctxA, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctxA.Term()
	zctxB, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctxB.Term()
	open := func(zctx *zmq.Context, kind zmq.Type, bind, connect, sub string) *zmq.Socket {
		s, err := zctx.NewSocket(kind)
		if err == nil {
			err = s.SetLinger(0)
		}
		if err == nil && sub != "" {
			err = s.SetSubscribe(sub)
		}
		if err == nil && bind != "" {
			err = s.Bind(bind)
		}
		if err == nil && connect != "" {
			err = s.Connect(connect)
		}
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	ready, echoErr := make(chan struct{}), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pub := open(zctxB, zmq.XPUB, addrB, "", "")
		defer pub.Close()
		sub := open(zctxB, zmq.SUB, "", addrA, benchTopic)
		defer sub.Close()
		if _, err := pub.RecvBytes(0); err != nil { // A's subscription to the ACK topic
			echoErr <- err
			return
		}
		close(ready)
		for {
			frames, err := sub.RecvMessageBytes(0)
			if err != nil {
				echoErr <- err
				return
			}
			if len(frames) == 1 { // stop
				echoErr <- nil
				return
			}
			if _, err := pub.SendMessage(reply); err != nil {
				echoErr <- err
				return
			}
		}
	}()
	pub := open(zctxA, zmq.XPUB, addrA, "", "")
	defer pub.Close()
	sub := open(zctxA, zmq.SUB, "", addrB, benchAck)
	defer sub.Close()
	if _, err := pub.RecvBytes(0); err != nil { // B's subscription to the message topic
		b.Fatal(err)
	}
	<-ready
	timeRoundTrips(b, pub, sub, msg)
	if _, err := pub.SendMessage(msg[:1]); err != nil {
		b.Fatal(err)
	}
	if err := <-echoErr; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCryptoFloor is the CPU work of one acked publish to one recipient, sockets aside, in
// one goroutine: pub-sign (build, sign, encode), sub-verify (decode, verify), sub-sign (the ACK),
// pub-verify (decode, verify the ACK). Each step is reported; ns/op is their sum.
func BenchmarkCryptoFloor(b *testing.B) {
	k := newCryptoKit(b)
	k.chain(b, 0) // warm the verification caches, as a running bus has them
	var sum chainTimes
	n := 0
	for b.Loop() {
		ct, _, _ := k.chain(b, int64(n))
		sum.pubSign += ct.pubSign
		sum.subVerify += ct.subVerify
		sum.subSign += ct.subSign
		sum.pubVerify += ct.pubVerify
		n++
	}
	for _, m := range []struct {
		d    time.Duration
		unit string
	}{{sum.pubSign, "pub-sign-ns"}, {sum.subVerify, "sub-verify-ns"}, {sum.subSign, "sub-sign-ns"}, {sum.pubVerify, "pub-verify-ns"}} {
		b.ReportMetric(float64(m.d.Nanoseconds())/float64(n), m.unit)
	}
}

// ---- the bus ---------------------------------------------------------------------------------

// benchBus is a publisher and n acking consumers (sub01, sub02, and sub03 issued at run time by
// the vector CA), each on its own loopback endpoint, consumers subscribed to the benchmark topic
// only (so they do not also verify each other's ACKs).
type benchBus struct {
	pub   *ack.Publisher
	subs  []*ack.Subscriber
	names []string
}

func newBenchBus(b *testing.B, n int) *benchBus {
	b.Helper()
	names := []string{"sub01", "sub02", "sub03"}[:n]
	eps := map[string][]string{"pub.host": {testbus.Addr(b)}}
	for _, name := range names {
		eps[name+".host"] = []string{testbus.Addr(b)}
	}
	var subs []*ack.Subscriber
	for _, name := range names {
		cfg := configtest.Sign(configtest.Config(eps), name)
		cfg.Name = name + ".host"
		if name == "sub03" {
			cfg.SSLDir = issueSub03(b)
		}
		subs = append(subs, startBenchConsumer(b, cfg))
	}
	cfg := configtest.Sign(configtest.Config(eps), "pub01")
	cfg.Name = "pub.host"
	p, err := config.NewAckPublisher(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	bus := &benchBus{pub: p, subs: subs, names: names}
	// Warm up: connections made, subscriptions in, verification caches and the RTO estimate set.
	for range 5 {
		bus.publish(b)
	}
	return bus
}

func (bus *benchBus) publish(b *testing.B) {
	if _, err := bus.pub.Publish(context.Background(), "order", benchBody, ack.To(bus.names...),
		ack.Modname(benchModname), ack.Within(benchWithin)); err != nil {
		b.Fatal(err)
	}
}

// issueSub03 issues a third consumer certificate from the vector CA into a temporary ssldir.
func issueSub03(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	for _, f := range []string{certs.CAFileName, certs.CAKeyFileName} {
		data, err := os.ReadFile(filepath.Join(testbus.PKIDir(), f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), data, 0o600)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := certs.Issue(dir, "sub03", certs.PKIOptions{Days: 1}); err != nil {
		b.Fatal(err)
	}
	return dir
}

// startBenchConsumer runs an acking consumer (after-processing mode, the default) that accepts
// everything, until the benchmark ends.
func startBenchConsumer(b *testing.B, cfg *config.Config) *ack.Subscriber {
	b.Helper()
	return runAcker(b, cfg, benchTopic)
}

// runAcker runs an acking consumer on topic that processes everything successfully, until the
// test or benchmark ends.
func runAcker(tb testing.TB, cfg *config.Config, topic string, opts ...ack.SubscriberOption) *ack.Subscriber {
	tb.Helper()
	return runProcessingAcker(tb, cfg, topic, 0, opts...)
}

// runProcessingAcker is runAcker whose processing of each message is proc of busy CPU before
// Done(nil).
func runProcessingAcker(tb testing.TB, cfg *config.Config, topic string, proc time.Duration,
	opts ...ack.SubscriberOption) *ack.Subscriber {
	tb.Helper()
	s, err := config.NewAckSubscriber(cfg, topic, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d, err := s.Next(ctx)
			if err != nil {
				return
			}
			if proc > 0 {
				for t0 := time.Now(); time.Since(t0) < proc; {
				}
			}
			d.Done(nil)
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return s
}

// BenchmarkAckedPublish is the latency of Publish, one at a time, until every recipient's ACK is
// in. x-rtt and x-crypto compare its median with the raw round trip and the one-recipient crypto
// floor measured just before, in the same process.
func BenchmarkAckedPublish(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			bus := newBenchBus(b, n)
			fl := measureFloors(b, n)
			before := bus.pub.Stats()
			lat := make([]time.Duration, 0, 1<<12)
			for b.Loop() {
				t0 := time.Now()
				bus.publish(b)
				lat = append(lat, time.Since(t0))
			}
			p50 := reportLatencies(b, lat)
			fl.report(b)
			b.ReportMetric(float64(p50)/float64(fl.rttP50), "x-rtt")
			b.ReportMetric(float64(p50)/float64(fl.crypto), "x-crypto")
			b.ReportMetric(float64(p50)/float64(fl.crypto+fl.rttP50), "x-floors")
			st := bus.pub.Stats()
			b.ReportMetric(float64(st.Retransmits-before.Retransmits)/float64(len(lat)), "retx/op")
		})
	}
}

// BenchmarkPublishAsync is pipelined throughput to one recipient: one goroutine keeps up to
// inflight acked messages outstanding (waiting for the oldest when full). msgs/s counts until the
// last ACK is in. floor=signed-pubsub is the same traffic without ACKs: signed Publish to a
// validating consumer.Subscriber, counted when received.
func BenchmarkPublishAsync(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			bus := newBenchBus(b, 1)
			fl := measureFloors(b, 1)
			subBefore := bus.subs[0].Stats()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			before := bus.pub.Stats()
			q := make([]*ack.Future, 0, n)
			count := 0
			start := time.Now()
			for b.Loop() {
				if len(q) == n {
					if err := q[0].Wait(ctx); err != nil {
						b.Fatal(err)
					}
					q = q[1:]
				}
				f, err := bus.pub.PublishAsync(ctx, "order", benchBody, ack.To(bus.names...),
					ack.Modname(benchModname), ack.Within(benchWithin))
				if err != nil {
					b.Fatal(err)
				}
				q = append(q, f)
				count++
			}
			for _, f := range q {
				if err := f.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(count)/elapsed.Seconds(), "msgs/s")
			fl.report(b)
			st, sst := bus.pub.Stats(), bus.subs[0].Stats()
			b.ReportMetric(float64(st.Retransmits-before.Retransmits)/float64(count), "retx/msg")
			// Each duplicate cost the recipient a signature check before it was recognised.
			b.ReportMetric(float64(sst.Duplicates-subBefore.Duplicates)/float64(count), "dup/msg")
			b.ReportMetric(float64(st.RTO)/float64(time.Millisecond), "rto-ms")
		})
	}
	b.Run("floor=signed-pubsub", benchSignedPubSub)
}

func benchSignedPubSub(b *testing.B) {
	cfg := configtest.Sign(configtest.Config(map[string][]string{"pub.host": {testbus.Addr(b)}}), "pub01")
	cfg.Name = "pub.host"
	pub, err := config.NewPublisher(b.Context(), cfg, publisher.WithModname(benchModname))
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := config.NewSubscriber(cfg, benchTopic)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := sub.WaitConnected(ctx); err != nil {
		b.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, benchTopic); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	received, want := 0, -1
	all := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
			mu.Lock()
			received++
			if received == want {
				close(all)
			}
			mu.Unlock()
		}
	}()
	defer func() {
		sub.Close()
		<-readerDone
	}()
	count := 0
	start := time.Now()
	for b.Loop() {
		if _, err := pub.Publish(ctx, "order", benchBody); err != nil {
			b.Fatal(err)
		}
		count++
	}
	mu.Lock()
	want = count
	if received == want {
		close(all)
	}
	mu.Unlock()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		b.Fatalf("only %d of %d messages received (dropped?)", received, count)
	}
	b.ReportMetric(float64(count)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkAckedPublishEd25519 is BenchmarkAckedPublish with Ed25519 certificates on both sides
// (the rows of make bench marked Ed25519), recipients in this process, for profiling that path.
func BenchmarkAckedPublishEd25519(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			timePublishes(b, newEd25519BenchBus(b, n), "cpu-ns/op") // both ends: one process
		})
	}
}

// timePublishes publishes 20 messages to warm up, then one per benchmark iteration, one at a
// time, and reports their latencies and this process's CPU per publish as cpuUnit.
func timePublishes(b *testing.B, bus *benchBus, cpuUnit string) {
	b.Helper()
	for range 20 {
		bus.publish(b)
	}
	lat := make([]time.Duration, 0, 1<<12)
	cpu0 := cpuTime(b)
	for b.Loop() {
		t0 := time.Now()
		bus.publish(b)
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(len(lat)), cpuUnit)
	reportLatencies(b, lat)
}

// newEd25519BenchBus is an acked publisher and n acking recipients in this process, all with
// Ed25519 certificates.
func newEd25519BenchBus(b *testing.B, n int) *benchBus {
	b.Helper()
	names := []string{"edpub"}
	eps := map[string][]string{"pub.host": {testbus.Addr(b)}}
	for i := range n {
		name := fmt.Sprintf("edsub%d", i)
		names = append(names, name)
		eps[name+".host"] = []string{testbus.Addr(b)}
	}
	dir := ed25519SSLDir(b, names...)
	cfg := func(name, cert string) *config.Config {
		c := configtest.Sign(configtest.Config(eps), cert)
		c.Name = name
		c.SSLDir = dir
		c.CACertLocation = filepath.Join(dir, certs.CAFileName)
		c.CRLLocation = filepath.Join(dir, certs.CRLFileName)
		return c
	}
	for _, name := range names[1:] {
		runAcker(b, cfg(name+".host", name), benchTopic)
	}
	p, err := config.NewAckPublisher(b.Context(), cfg("pub.host", "edpub"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return &benchBus{pub: p, names: names[1:]}
}
