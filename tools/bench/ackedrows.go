package main

// ackmsg's own scenarios: acked publish latency (recipients in process and in separate
// processes), throughput, memory per in-flight message and plain publish, each next to its floor.

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// interleavedOf says how the acked rows' crypto floor was taken.
const interleavedOf = " (the lower of crypto measured alone and between these publishes)"

// ackedInProcess is acked publish latency to 1, 3 and 10 ack.Subscriber goroutines.
func (b *bench) ackedInProcess() error {
	b.section("Acked publish latency, recipients in this process (ack.Subscriber goroutines)")
	for _, c := range []struct {
		fig        keyed
		n, samples int
	}{{b.rsaFig, 1, b.sz.acked1}, {b.edFig, 1, b.sz.acked1}, {b.rsaFig, 3, b.sz.acked3}, {b.edFig, 3, b.sz.acked3},
		{b.rsaFig, 10, b.sz.acked10}} {
		if err := b.ackedInProcessRows(c.fig, c.n, c.samples); err != nil {
			return err
		}
	}
	return nil
}

// ackedInProcessRows measures and adds the rows of one key type and recipient count.
func (b *bench) ackedInProcessRows(base keyed, n, samples int) error {
	name := fmt.Sprintf("in process, %d recipient(s)%s", n, base.suffix())
	step("acked publish %s, %d samples", name, samples)
	bu, err := newBus(base.k, n)
	if err != nil {
		return err
	}
	// The crypto floor is also measured between the publishes (the CPU's speed drifts).
	lat, interleaved, retx, err := ackedLatency(bu, samples, base.kit)
	bu.close()
	if err != nil {
		return err
	}
	b.keep("acked "+name, lat)
	if n == 1 && !base.ed25519() {
		b.acked1RSA = lat
	}
	if n == 1 && base.ed25519() {
		b.acked1Ed = lat
	}
	b.ackedLatencyRows(base, name, n, lat, interleaved, retx, func(q string, r *Row) {
		switch {
		case n == 1 && q == "p50":
			target(r, "≤ 1.2 × floor, "+base.k.label(), r.Ratio <= 1.2)
		case n == 1 && q == "p99":
			target(r, "≤ 2 × floor, "+base.k.label(), r.Ratio <= 2)
		}
	})
	return nil
}

// ackedLatencyRows adds the p50 and p99 rows of an acked latency sample lat to n recipients,
// each next to its floor with the crypto floor lowered to what was measured between the
// publishes (interleaved); it returns those figures. each, when not nil, sees every row as it is
// added (a target goes on it then: the next add may move the rows).
func (b *bench) ackedLatencyRows(base keyed, name string, n int, lat []time.Duration, interleaved *cryptoFloor,
	retx uint64, each func(q string, r *Row)) keyed {
	fig := base
	fig.crypto = lower(base.crypto, interleaved)
	for _, q := range quantiles {
		r := b.add(Row{Name: fmt.Sprintf("acked %s %s", name, q.name), Unit: "µs", Value: us(quantile(lat, q.q)),
			Floor: us(fig.floor(n, q.q)), Of: fig.floorIs(n, q.name) + interleavedOf})
		if q.name == "p99" && retx > 0 {
			r.Note = fmt.Sprintf("%d retransmissions", retx)
		}
		if each != nil {
			each(q.name, r)
		}
	}
	return fig
}

// ackedProcesses is acked publish latency to 1 and 3 ackmsg-tail --ack processes, each key type,
// and the 3-process p50 next to the 1-process one.
func (b *bench) ackedProcesses() error {
	b.section("Acked publish latency, recipients in separate processes (ackmsg-tail --ack, direct)")
	for _, base := range []keyed{b.rsaFig, b.edFig} {
		lat1, fig1, err := b.ackedProcessRows(base, 1, b.sz.proc1)
		if err != nil {
			return err
		}
		lat3, fig, err := b.ackedProcessRows(base, 3, b.sz.proc3)
		if err != nil {
			return err
		}
		r := b.add(Row{Name: "acked 3 processes p50 vs 1 process p50" + fig.suffix(), Unit: "µs",
			Value: us(quantile(lat3, 0.5)), Floor: us(quantile(lat1, 0.5)), Of: "acked 1 process p50" + fig.suffix(),
			Note: fmt.Sprintf("the floors' own ratio, %s / %s: %.2f× (signatures spread evenly over the cores), "+
				"%.2f× (each signature whole on one core: %d recipients' on %d cores take %d turns)",
				fig.floorIs(3, "p50"), fig1.floorIs(1, "p50"), float64(fig.floor(3, 0.5))/float64(fig1.floor(1, 0.5)),
				float64(quantile(fig.fan[3], 0.5)+fig.crypto.quantileWhole(3, 0.5))/float64(fig1.floor(1, 0.5)),
				3, runtime.NumCPU(), (3+runtime.NumCPU()-1)/runtime.NumCPU())})
		if !fig.ed25519() {
			target(r, "≤ 1.5 × 1-recipient p50", r.Ratio <= 1.5)
		}
	}
	return nil
}

// ackedProcessRows measures and adds the rows of n recipient processes; it returns the latencies
// and the figures with the crypto floor the rows stand on.
func (b *bench) ackedProcessRows(base keyed, n, samples int) ([]time.Duration, keyed, error) {
	name := fmt.Sprintf("%d process(es)%s", n, base.suffix())
	step("acked publish to %s, %d samples", name, samples)
	lat, interleaved, retx, err := procAcked(b.p, base, n, samples)
	if err != nil {
		return nil, keyed{}, err
	}
	b.keep("acked "+name, lat)
	var each func(string, *Row)
	if base.ed25519() && n == 1 { // issue 32 item 2
		each = func(q string, r *Row) {
			if q == "p50" {
				target(r, "≤ 1.5 × floor, Ed25519, 1 process", r.Ratio <= 1.5)
			}
		}
	}
	fig := b.ackedLatencyRows(base, name, n, lat, interleaved, retx, each)
	return lat, fig, nil
}

// publishAsync is PublishAsync throughput to one recipient in process, next to the crypto-bound
// ceiling.
func (b *bench) publishAsync() error {
	b.section("Throughput and memory (1 recipient in process)")
	for _, c := range []struct {
		fig      keyed
		inflight int
	}{{b.rsaFig, 1}, {b.rsaFig, 16}, {b.rsaFig, 256}, {b.edFig, 256}} {
		step("PublishAsync, in-flight %d%s, %s", c.inflight, c.fig.suffix(), b.sz.async)
		bu, err := newBus(c.fig.k, 1)
		if err != nil {
			return err
		}
		rate, retx, err := asyncThroughput(bu, c.inflight, b.sz.async)
		bu.close()
		if err != nil {
			return err
		}
		if c.fig.ed25519() {
			b.asyncEd = rate
		}
		r := b.add(Row{Name: fmt.Sprintf("PublishAsync in-flight %d%s", c.inflight, c.fig.suffix()), Unit: "msgs/s",
			Value: rate, Floor: c.fig.ceiling(), Of: fmt.Sprintf("crypto-bound ceiling: %d cores / %s(1) p50",
				runtime.NumCPU(), c.fig.cryptoName())})
		if retx > 0 {
			r.Note = fmt.Sprintf("%d retransmissions", retx)
		}
		if !c.fig.ed25519() && c.inflight == 256 { // issue 7's target; the Ed25519 row is a figure only
			target(r, "≥ 0.85 × ceiling", r.Ratio >= 0.85)
		}
	}
	return nil
}

// memoryPerMessage is the live heap per acked message in flight to an absent recipient.
func (b *bench) memoryPerMessage() error {
	step("memory per in-flight message (%d to an absent recipient)", b.sz.inflight)
	bu, err := newBus(b.k, 1)
	if err != nil {
		return err
	}
	perMsg, err := inflightMemory(bu, b.sz.inflight)
	bu.close()
	if err != nil {
		return err
	}
	b.add(Row{Name: fmt.Sprintf("live heap per in-flight acked message (%d in flight)", b.sz.inflight), Unit: "B", Value: perMsg,
		Floor: float64(len(b.msgFrame)), Of: "the signed frame's size"})
	return nil
}

// plainPublish is unsigned publisher.Publish throughput next to raw zmq4 with the same bytes, a
// body padded to a signed frame's size. The two are measured in alternated rounds (raw, plain,
// plain, raw, ...), each rate over all its rounds, so that a shared machine's changes of speed
// within the run fall on both alike.
func (b *bench) plainPublish() error {
	plainBody := map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}
	env, err := plainEnvelope(plainBody)
	if err != nil {
		return err
	}
	if pad := len(b.msgFrame) - len(env) - len(`,"pad":""`); pad > 0 { // the same size as a signed frame
		plainBody["pad"] = strings.Repeat("x", pad)
		if env, err = plainEnvelope(plainBody); err != nil {
			return err
		}
	}
	step("plain publish and raw throughput at %d B, %d messages each in %d alternated rounds", len(env), b.sz.thru, plainRounds)
	per := b.sz.thru / plainRounds
	var rawTime, plainTime, sendTime time.Duration
	for r := range plainRounds {
		for k := range 2 {
			if (r+k)%2 == 0 {
				rate, err := rawThroughput([][]byte{[]byte(benchTopic), env}, per)
				if err != nil {
					return err
				}
				rawTime += perRate(per, rate)
				continue
			}
			plain, sendRate, err := plainThroughput(plainBody, per)
			if err != nil {
				return err
			}
			plainTime += perRate(per, plain)
			sendTime += perRate(per, sendRate)
		}
	}
	total := float64(per * plainRounds)
	r := b.add(Row{Name: fmt.Sprintf("plain unsigned publisher.Publish (%d B)", len(env)), Unit: "msgs/s",
		Value: total / plainTime.Seconds(), Floor: total / rawTime.Seconds(), Of: "raw zmq4 one-way, same bytes",
		Note: fmt.Sprintf("(the Publish loop alone: %.0f msgs/s; %d alternated rounds)", total/sendTime.Seconds(), plainRounds)})
	target(r, "≥ 0.8 × raw", r.Ratio >= 0.8)
	return nil
}

// plainRounds is how many rounds of each plainPublish alternates.
const plainRounds = 4

// perRate is the time n messages took at rate msgs/s.
func perRate(n int, rate float64) time.Duration {
	return time.Duration(float64(n) / rate * float64(time.Second))
}

// stormInRun is the ACK-storm curve (ackstorm.go), in the full run.
func (b *bench) stormInRun() error {
	rows, curves, err := stormCurve(b.p, b.tmp, b.quick)
	if err != nil {
		return err
	}
	b.section(stormSection)
	for _, r := range rows {
		b.add(r)
	}
	for _, c := range curves {
		b.addCurve(c)
	}
	return nil
}

// coldPublish is a cold CLI publish, process start to exit, next to the process start alone.
func (b *bench) coldPublish() error {
	b.section("Cold CLI publish (process start to exit, relay and recipient running)")
	step("cold ackmsg-logger --recipients sub01, %d runs", b.sz.cold)
	cold, err := coldCLI(b.p, b.k, b.sz.cold)
	if err != nil {
		return err
	}
	b.keep("cold ackmsg-logger", cold)
	startOnly, err := coldStart(b.p, b.sz.cold)
	if err != nil {
		return err
	}
	for _, q := range quantiles {
		r := b.add(Row{Name: "cold ackmsg-logger --recipients sub01 --message m " + q.name, Unit: "ms",
			Value: us(quantile(cold, q.q)) / 1e3, Floor: us(quantile(startOnly, q.q)) / 1e3,
			Of: "ackmsg-logger --help " + q.name + " (process start, no bus)"})
		if q.name == "p50" {
			target(r, "≤ 50 ms", r.Value <= 50)
		}
	}
	return nil
}
