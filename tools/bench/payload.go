package main

// The payload curve (issue 32): how acked latency and plain throughput grow with the message's
// body, 200 B to 1 MB, each next to bare ZeroMQ moving the same bytes. Ed25519 certificates, so
// that the size's own costs (encoding, hashing, copying) are not hidden under RSA's 1 ms
// signature.
//
//   - acked p50 to one ack.Subscriber in this process; floor: the raw zmq4 round trip of that
//     size's signed message frame and its ACK frame, plus the crypto chain (the four signature
//     operations with their envelope work, crypto.go) on a message of that size, p50 each;
//   - plain unsigned publisher.Publish throughput (plainThroughput, as the plain publish row);
//     floor: raw zmq4 one-way throughput of the same envelope's bytes.

import (
	"fmt"
	"strings"
	"time"
)

// payloadSizes are the curve's points, in bytes of JSON body; -quick measures two of them.
var (
	payloadSizes      = []int{200, 2 << 10, 64 << 10, 1 << 20}
	payloadSizesQuick = []int{2 << 10, 1 << 20}
)

// payloadPoint is what was measured at one body size.
type payloadPoint struct {
	size            int // the JSON body's bytes
	frame, envelope int // the signed message frame's bytes, the plain envelope's bytes
	acked, rtt      []time.Duration
	chain           []time.Duration // the crypto chain at this size
	plain, raw      float64         // msgs/s: plain publish, raw one-way with the same bytes
	sendRate        float64         // the Publish loop alone
	retx            uint64          // retransmissions during the timed acked publishes
}

// payloadBody is a body whose JSON encoding ({"pad":"xx…"}) has size bytes.
func payloadBody(size int) map[string]any {
	return map[string]any{"pad": strings.Repeat("x", max(0, size-len(`{"pad":""}`)))}
}

// payloadCounts are the samples at one size: acked publishes (and crypto chains), raw round
// trips and messages for the throughputs, fewer as the size grows so that each size costs about
// the same bytes.
func payloadCounts(size int, isQuick bool) (acked, rtt, thru int) {
	if isQuick {
		return clamp(8<<20/size, 10, 50), clamp(16<<20/size, 20, 200), clamp(32<<20/size, 50, 5000)
	}
	return clamp(32<<20/size, 30, 300), clamp(128<<20/size, 100, 1000), clamp(128<<20/size, 100, 20000)
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }

// payloadCurve measures every size and adds the rows and the two curves.
func (b *bench) payloadCurve() error {
	sizes := payloadSizes
	if b.quick {
		sizes = payloadSizesQuick
	}
	b.section("Payload curve: acked p50 (Ed25519, 1 recipient in process) and plain throughput vs body size, next to raw ZeroMQ with the same bytes")
	var points []payloadPoint
	for _, size := range sizes {
		pt, err := b.payloadPoint(size)
		if err != nil {
			return fmt.Errorf("payload %d B: %w", size, err)
		}
		points = append(points, pt)
		b.payloadRows(pt)
	}
	b.addCurve(payloadLatencyCurve(points))
	b.addCurve(payloadThroughputCurve(points))
	return nil
}

// payloadPoint measures one size: the raw round trip and the crypto chain, the acked latency,
// then the raw and plain throughputs.
func (b *bench) payloadPoint(size int) (payloadPoint, error) {
	pt := payloadPoint{size: size}
	body := payloadBody(size)
	nAcked, nRTT, nThru := payloadCounts(size, b.quick)
	step("payload %d B: %d raw round trips, %d crypto chains and acked publishes, %d messages one way",
		size, nRTT, nAcked, nThru)
	for i := range nAcked + 1 { // the first is a warm-up
		ct, frame, _, err := b.edKit.chainOf(body, int64(i))
		if err != nil {
			return pt, err
		}
		pt.frame = len(frame)
		if i > 0 {
			pt.chain = append(pt.chain, ct.total())
		}
	}
	_, frame, _, err := b.edKit.chainOf(body, 0)
	if err != nil {
		return pt, err
	}
	if pt.rtt, err = rawRoundTrip([][]byte{[]byte(benchTopic), frame}, b.edReply, nRTT); err != nil {
		return pt, fmt.Errorf("raw round trip: %w", err)
	}
	if pt.acked, err = b.payloadAcked(&pt, body, nAcked); err != nil {
		return pt, err
	}
	env, err := plainEnvelope(body)
	if err != nil {
		return pt, err
	}
	pt.envelope = len(env)
	if pt.raw, err = rawThroughput([][]byte{[]byte(benchTopic), env}, nThru); err != nil {
		return pt, fmt.Errorf("raw throughput: %w", err)
	}
	if pt.plain, pt.sendRate, err = plainThroughput(body, nThru); err != nil {
		return pt, err
	}
	return pt, nil
}

// payloadAcked times n acked publishes of body to one recipient in process, one at a time, with
// a crypto chain at that size after each (the CPU's speed drifts on a shared machine: the
// floor's chain sees the same moments as the publishes); pt.chain keeps the lower of the chains
// measured alone and these, quantile by quantile, as the acked rows do.
func (b *bench) payloadAcked(pt *payloadPoint, body any, n int) ([]time.Duration, error) {
	bu, err := newBus(b.ed, 1)
	if err != nil {
		return nil, err
	}
	defer bu.close()
	bu.body = body
	before := bu.pub.Stats().Retransmits
	lat, between := make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := bu.publish(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		ct, _, _, err := b.edKit.chainOf(body, int64(i))
		if err != nil {
			return nil, err
		}
		between = append(between, ct.total())
	}
	pt.retx = bu.pub.Stats().Retransmits - before
	var chain []time.Duration
	for _, q := range []float64{0, 0.5, 0.99} { // what quantile picks for min, p50, p99
		chain = append(chain, min(quantile(pt.chain, q), quantile(between, q)))
	}
	pt.chain = chain
	return lat, nil
}

// floor is the acked latency floor at this size and quantile: raw round trip + crypto chain.
func (pt payloadPoint) floor(q float64) time.Duration {
	return quantile(pt.rtt, q) + quantile(pt.chain, q)
}

// payloadRows adds one size's rows: acked p50 and p99 next to their floors, plain throughput next
// to raw.
func (b *bench) payloadRows(pt payloadPoint) {
	label := sizeLabel(pt.size)
	for _, q := range quantiles[1:] {
		r := b.add(Row{Name: fmt.Sprintf("payload %s: acked %s, 1 recipient in process, Ed25519", label, q.name), Unit: "µs",
			Value: us(quantile(pt.acked, q.q)), Floor: us(pt.floor(q.q)),
			Of: fmt.Sprintf("raw zmq4 RTT (%d B message, %d B ACK) %s + Ed25519 crypto chain at this size %s"+interleavedOf, pt.frame,
				len(b.edReply[1]), q.name, q.name)})
		if q.name == "p50" {
			r.Note = fmt.Sprintf("raw RTT %s, crypto chain %s", fmtValue(us(quantile(pt.rtt, 0.5)), "µs"),
				fmtValue(us(quantile(pt.chain, 0.5)), "µs"))
		}
		if q.name == "p99" && pt.retx > 0 {
			r.Note = fmt.Sprintf("%d retransmissions in %d publishes", pt.retx, len(pt.acked))
		}
	}
	b.add(Row{Name: fmt.Sprintf("payload %s: plain publisher.Publish (%d B envelope)", label, pt.envelope), Unit: "msgs/s",
		Value: pt.plain, Floor: pt.raw, Of: "raw zmq4 one-way, same bytes",
		Note: fmt.Sprintf("(the Publish loop alone: %.0f msgs/s; raw %.0f MB/s)", pt.sendRate, pt.raw*float64(pt.envelope)/1e6)})
}

// sizeLabel is a byte count as the rows name it: 200 B, 2 KB, 64 KB, 1 MB.
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// payloadLatencyCurve is acked p50 over the body size, its floor dashed.
func payloadLatencyCurve(points []payloadPoint) Curve {
	acked := Series{Name: "acked p50 (Ed25519, 1 recipient in process)"}
	floor := Series{Name: "raw zmq4 round trip + crypto chain at that size, p50 (floor)", Floor: true}
	for _, pt := range points {
		x := float64(pt.size)
		acked.Points = append(acked.Points, Point{x, us(quantile(pt.acked, 0.5)) / 1e3})
		floor.Points = append(floor.Points, Point{x, us(pt.floor(0.5)) / 1e3})
	}
	return Curve{ID: "payload-latency", Title: "Acked publish p50 vs payload (Ed25519, 1 recipient in process)",
		X: "JSON body (bytes)", Y: "p50 (ms)", LogX: true, LogY: true, Series: []Series{acked, floor},
		Note: "The floor is bare ZeroMQ's round trip of the same signed message and ACK frames plus the four " +
			"signature operations (with their envelope encoding and decoding) on a message of that size; " +
			"the rows give the two parts."}
}

// payloadThroughputCurve is plain publish throughput over the body size, raw one-way dashed.
func payloadThroughputCurve(points []payloadPoint) Curve {
	plain := Series{Name: "plain publisher.Publish, unsigned"}
	raw := Series{Name: "raw zmq4 one-way, same bytes (floor)", Floor: true}
	for _, pt := range points {
		x := float64(pt.size)
		plain.Points = append(plain.Points, Point{x, pt.plain})
		raw.Points = append(raw.Points, Point{x, pt.raw})
	}
	return Curve{ID: "payload-throughput", Title: "Plain publish throughput vs payload, next to raw ZeroMQ",
		X: "JSON body (bytes)", Y: "msgs/s", LogX: true, LogY: true, Series: []Series{plain, raw}}
}
