package main

// The floors' scenarios: raw ZeroMQ (bare pebbe/zmq4, loopback TCP) and crypto, the figures every
// ackmsg row stands next to.

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ackmsg/ackmsg/certs"
)

var quantiles = []struct {
	name string
	q    float64
}{{"min", 0}, {"p50", 0.5}, {"p99", 0.99}}

// keyed is what the figures of one key type rest on: its PKI, the raw round trip of its own
// message and ACK frames, and its crypto floor.
type keyed struct {
	k      *pki
	kit    *cryptoKit
	rtt    []time.Duration
	fan    map[int][]time.Duration // raw fan-out round trips to n echoers (n > 1), where measured
	crypto *cryptoFloor
}

// ed25519 reports whether these figures use the Ed25519 PKI.
func (f keyed) ed25519() bool { return f.k.keyType == certs.KeyEd25519 }

// suffix tells the Ed25519 figures apart; the RSA-2048 ones keep the names they always had.
func (f keyed) suffix() string {
	if f.ed25519() {
		return ", Ed25519"
	}
	return ""
}

// cryptoName is how the floor notes name the crypto floor.
func (f keyed) cryptoName() string {
	if f.ed25519() {
		return "Ed25519 crypto"
	}
	return "crypto"
}

// floor is the latency floor of an acked publish to n recipients at quantile q: the raw round
// trip (to n echoers, when measured) plus the crypto floor, quantile by quantile.
func (f keyed) floor(n int, q float64) time.Duration {
	rtt := f.rtt
	if fan, ok := f.fan[n]; ok {
		rtt = fan
	}
	return quantile(rtt, q) + f.crypto.quantile(n, q)
}

// floorIs says what floor(n, q) is, q named.
func (f keyed) floorIs(n int, q string) string {
	rtt := "raw RTT"
	if _, ok := f.fan[n]; ok {
		rtt = fmt.Sprintf("raw fan-out RTT to %d", n)
	}
	if f.ed25519() {
		return fmt.Sprintf("%s (Ed25519 frames) %s + Ed25519 crypto(%d) %s", rtt, q, n, q)
	}
	return fmt.Sprintf("%s %s + crypto(%d) %s", rtt, q, n, q)
}

// ceiling is the crypto-bound msgs/s of acked publishes to one recipient: publisher and recipient
// share this machine's cores, and each message costs the four signature operations.
func (f keyed) ceiling() float64 {
	return float64(runtime.NumCPU()) / f.crypto.quantile(1, 0.5).Seconds()
}

// floorRoundTrip is the raw round trip of the RSA-2048 frames, then of the Ed25519 ones.
func (b *bench) floorRoundTrip() error {
	step("raw ZeroMQ round trip (bare zmq4), %d samples", b.sz.rtt)
	rtt, err := rawRoundTrip(b.msg, b.reply, b.sz.rtt)
	if err != nil {
		return fmt.Errorf("raw round trip: %w", err)
	}
	b.rtt = rtt
	b.keep("raw zmq4 round trip", rtt)
	b.section("Floors: raw ZeroMQ (bare pebbe/zmq4, loopback TCP) and crypto")
	for _, q := range quantiles {
		b.add(Row{Name: "raw zmq4 round trip " + q.name, Unit: "µs", Value: us(quantile(rtt, q.q))})
	}
	// Ed25519 certificates are smaller, so are the frames: their round trip is its own floor.
	step("raw ZeroMQ round trip with the Ed25519 frames, %d samples", b.sz.rtt)
	if b.edRTT, err = rawRoundTrip(b.edMsg, b.edReply, b.sz.rtt); err != nil {
		return fmt.Errorf("raw round trip, Ed25519 frames: %w", err)
	}
	for _, q := range quantiles {
		r := b.add(Row{Name: "raw zmq4 round trip, Ed25519 frames " + q.name, Unit: "µs", Value: us(quantile(b.edRTT, q.q))})
		if q.name == "min" {
			r.Note = fmt.Sprintf("message %d B, ACK %d B", len(b.edMsg[1]), len(b.edReply[1]))
		}
	}
	return nil
}

// floorFanOut is the raw fan-out to 3 and 10 echoers (RSA-2048 frames) and to 3 (Ed25519): an
// acked publish to n recipients waits for n ACKs, so its transport floor is the fan-out.
func (b *bench) floorFanOut() error {
	b.rsaFan, b.edFan = map[int][]time.Duration{}, map[int][]time.Duration{}
	var err error
	for _, k := range []int{3, 10} {
		if b.rsaFan[k], err = b.fanOut(b.msg, b.reply, k, "", b.rtt); err != nil {
			return err
		}
	}
	b.edFan[3], err = b.fanOut(b.edMsg, b.edReply, 3, ", Ed25519 frames", b.edRTT)
	return err
}

// fanOut measures and adds the fan-out rows to k echoers, next to the one-echoer round trip rtt.
func (b *bench) fanOut(msg, reply [][]byte, k int, label string, rtt []time.Duration) ([]time.Duration, error) {
	samples := b.sz.rtt * 2 / (k + 1)
	step("raw ZeroMQ fan-out round trip to %d echoers%s, %d samples", k, label, samples)
	lat, err := rawFanOut(msg, reply, k, samples)
	if err != nil {
		return nil, fmt.Errorf("raw fan-out to %d%s: %w", k, label, err)
	}
	for _, q := range quantiles {
		r := b.add(Row{Name: fmt.Sprintf("raw zmq4 fan-out round trip to %d echoers%s %s", k, label, q.name), Unit: "µs",
			Value: us(quantile(lat, q.q)), Floor: us(quantile(rtt, q.q)), Of: "raw zmq4 round trip" + label + " " + q.name})
		if q.name == "min" {
			r.Note = fmt.Sprintf("one send, %d echoers (a context and a thread each, as %d processes), %d replies", k, k, k)
		}
	}
	return lat, nil
}

// floorZsock is the round trip through ackmsg's socket layer, next to the raw one.
func (b *bench) floorZsock() error {
	step("zsock round trip, %d samples", b.sz.zsockRTT)
	zrtt, err := zsockRoundTrip(b.k.config("pub", nil), b.msg, b.reply, b.sz.zsockRTT)
	if err != nil {
		return fmt.Errorf("zsock round trip: %w", err)
	}
	b.add(Row{Name: "zsock round trip p50 (ackmsg's socket layer)", Unit: "µs", Value: us(quantile(zrtt, 0.5)),
		Floor: us(quantile(b.rtt, 0.5)), Of: "raw zmq4 RTT p50",
		Note: fmt.Sprintf("zsock adds %.0f µs", us(quantile(zrtt, 0.5)-quantile(b.rtt, 0.5)))})
	return nil
}

// floorThroughput is raw one-way throughput of the signed frames.
func (b *bench) floorThroughput() error {
	step("raw ZeroMQ one-way throughput, %d messages", b.sz.thru)
	rawThru, err := rawThroughput(b.msg, b.sz.thru)
	if err != nil {
		return fmt.Errorf("raw throughput: %w", err)
	}
	b.add(Row{Name: fmt.Sprintf("raw zmq4 one-way throughput (%d B signed frames)", len(b.msgFrame)), Unit: "msgs/s", Value: rawThru})
	return nil
}

// floorCrypto is the crypto floor of both key types, the RSA-2048 rows under the names they
// always had; it completes the figures (rsaFig, edFig) the acked rows stand next to.
func (b *bench) floorCrypto() error {
	rsaCrypto, err := b.cryptoRows(b.kit, rawRSA, "crypto/rsa", "crypto")
	if err != nil {
		return err
	}
	for _, n := range []int{3, 10} {
		b.add(Row{Name: fmt.Sprintf("crypto floor, %d recipients, p50", n), Unit: "µs", Value: us(rsaCrypto.quantile(n, 0.5)),
			Note: fmt.Sprintf("sign + %d×(verify+sign+verify ACK)/%d cores, from the steps", n, runtime.NumCPU())})
	}
	edCrypto, err := b.cryptoRows(b.edKit, rawEd25519, "crypto/ed25519", "Ed25519 crypto")
	if err != nil {
		return err
	}
	b.rsaFig = keyed{k: b.k, kit: b.kit, rtt: b.rtt, fan: b.rsaFan, crypto: rsaCrypto}
	b.edFig = keyed{k: b.ed, kit: b.edKit, rtt: b.edRTT, fan: b.edFan, crypto: edCrypto}
	return nil
}

// cryptoRows measures and adds one key type's crypto rows: the bare library's sign and verify,
// the four signature operations of an acked publish, and their sum.
func (b *bench) cryptoRows(kit *cryptoKit, bare func(int) ([]time.Duration, []time.Duration, error), bareName,
	prefix string) (*cryptoFloor, error) {
	step("crypto: %s and the four signature operations, %d samples", kit.label, b.sz.chain)
	signs, verifies, err := bare(b.sz.bare)
	if err != nil {
		return nil, err
	}
	b.add(Row{Name: kit.label + " sign p50 (bare " + bareName + ")", Unit: "µs", Value: us(quantile(signs, 0.5))})
	b.add(Row{Name: kit.label + " verify p50 (bare " + bareName + ")", Unit: "µs", Value: us(quantile(verifies, 0.5))})
	f, err := measureCrypto(kit, b.sz.chain)
	if err != nil {
		return nil, err
	}
	for j, name := range []string{"publisher sign (build, sign, encode)", "recipient verify (decode, verify)",
		"recipient sign ACK", "publisher verify ACK"} {
		b.add(Row{Name: prefix + ": " + name + " p50", Unit: "µs", Value: us(quantile(f.steps[j], 0.5))})
	}
	b.add(Row{Name: prefix + " floor, 1 recipient, p50", Unit: "µs", Value: us(f.quantile(1, 0.5)),
		Note: "the four operations in sequence, measured"})
	return f, nil
}
