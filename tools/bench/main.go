// Command bench measures ackmsg next to its floors, in one run on one machine (DESIGN.md, "What
// is measured, always side by side"): the raw ZeroMQ round trip (to one echoer, and fanned out
// to 3 and 10) and throughput on bare pebbe/zmq4 sockets over loopback, the crypto costs, then
// acked publish latency (1, 3, 10 recipients in process; 1 and 3 in separate ackmsg-tail --ack
// processes), PublishAsync throughput, plain publish throughput, memory per in-flight message
// and a cold CLI publish. These use RSA-2048 certificates (crypto x509, what fedmsg peers
// verify); the crypto floor, acked publish to 1 and 3 recipients in process and in separate
// processes and PublishAsync in-flight 256 are also measured with Ed25519 certificates (crypto
// x509-ed25519, ackmsg-only buses), each next to its own floors.
// Every ackmsg figure is printed next to its floor and the ratio, and checked against the
// targets of issue 7. The outbox's durable enqueue (bbolt, PostgreSQL when a server can be
// started) stands next to this disk's fsync. The peers run in the same run on the same payload:
// NATS JetStream (embedded nats-server) and RabbitMQ (a throwaway rabbitmq-server node), and
// ackmsg's Ed25519 figures are set next to theirs. On that RabbitMQ node the bridge (package
// bridge, in process) is measured as a recipient: acked publish to "bridge", which ACKs once the
// broker confirmed the message into a durable queue, next to RabbitMQ's own publish-and-confirm
// (the added latency), and PublishAsync to it next to RabbitMQ's streaming confirms. A figure
// whose server is not installed is one row marked skipped, with the reason.
//
// It is its own module so that its plotting dependency stays out of ackmsg's go.mod.
//
//	make bench                    # full run (a few minutes), prints the table
//	make bench-doc                # full run, rewrites BENCHMARKS.md and docs/latency.svg
//	go run . -quick               # smoke run, under a minute
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
)

// sizes are the sample counts of one run.
type sizes struct {
	rtt, zsockRTT, thru, chain, bare            int
	acked1, acked3, acked10, proc1, proc3, cold int
	async                                       time.Duration
	inflight                                    int
}

var (
	full  = sizes{5000, 3000, 200000, 300, 300, 2000, 1000, 300, 1000, 500, 40, 8 * time.Second, 256}
	quick = sizes{500, 300, 20000, 40, 40, 150, 60, 20, 100, 50, 5, time.Second, 256}
)

// Row is one figure: ackmsg's (or a floor's) value, its floor, their ratio and the target. A
// figure that could not be measured in this run (a peer or a server not installed) is one row
// with Skipped set to the reason, Value 0, and the Unit its figures would have had (the first
// of them): every row has a unit, and a reader of the JSON tells a skipped figure from a
// measured 0 by Skipped alone.
type Row struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"` // "µs", "ms", "msgs/s", "B"; never empty
	Value  float64 `json:"value"`
	Floor  float64 `json:"floor,omitempty"`
	Of     string  `json:"floor_is,omitempty"` // what the floor is
	Ratio  float64 `json:"ratio,omitempty"`    // value / floor
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Note   string  `json:"note,omitempty"`
	// Skipped is why the figure was not measured in this run; empty when it was.
	Skipped string `json:"skipped,omitempty"`
}

// Results is what -out writes.
type Results struct {
	Started  time.Time            `json:"started"`
	Seconds  float64              `json:"seconds"`
	Quick    bool                 `json:"quick"`
	Machine  map[string]string    `json:"machine"`
	Rows     []Row                `json:"rows"`
	Samples  map[string][]float64 `json:"latency_samples_us"` // sorted, for the chart
	Extra    map[string]float64   `json:"extra,omitempty"`
	Sections map[int]string       `json:"sections"` // row index -> section heading
}

// main parses the flags, measures (or reads -from), prints the table and writes what the flags ask.
func main() {
	quickFlag := flag.Bool("quick", false, "smoke run: few samples, under a minute")
	out := flag.String("out", "", "write the results as JSON to this file")
	md := flag.String("md", "", "write BENCHMARKS.md to this file")
	chart := flag.String("chart", "", "write the latency CDF chart (SVG) to this file")
	notes := flag.String("notes", "", "a Markdown file appended to -md (the analysis)")
	root := flag.String("root", "../..", "the ackmsg repository (its commands are built from it)")
	from := flag.String("from", "", "measure nothing: render the results of an earlier -out file")
	only := flag.String("only", "", `measure one curve alone: "ackstorm" (with -root, the tails of another checkout)`)
	flag.Parse()
	sz := full
	if *quickFlag {
		sz = quick
	}
	var res *Results
	var err error
	if *from != "" {
		res = &Results{}
		data, err := os.ReadFile(*from)
		if err == nil {
			err = json.Unmarshal(data, res)
		}
		check(err)
	} else if *only == "ackstorm" {
		res, err = runAckStorm(*quickFlag, *root)
		check(err)
	} else if *only != "" {
		check(fmt.Errorf("-only %q: the curves measured alone are: ackstorm", *only))
	} else {
		res, err = run(sz, *quickFlag, *root)
		check(err)
	}
	printTable(os.Stdout, res)
	if *out != "" && *from == "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(data, '\n'), 0o644)
		}
		check(err)
	}
	if *chart != "" {
		check(os.MkdirAll(filepath.Dir(*chart), 0o755))
		check(writeChart(*chart, res))
	}
	if *md != "" {
		var extra []byte
		if *notes != "" {
			extra, err = os.ReadFile(*notes)
			check(err)
		}
		chartRef := ""
		if *chart != "" {
			rel, err := filepath.Rel(filepath.Dir(*md), *chart)
			check(err)
			chartRef = filepath.ToSlash(rel)
		}
		check(os.WriteFile(*md, []byte(markdown(res, chartRef, string(extra))), 0o644))
	}
}

// check exits with the error, if any.
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// step logs what is measured next, with the time, on standard error.
func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// quantile returns the q-quantile (nearest rank) of ds; q 0 is the minimum.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// us is d in microseconds.
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

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

// run measures every figure, section by section, with the sample counts of sz; root is the
// repository whose commands are built.
func run(sz sizes, isQuick bool, root string) (*Results, error) {
	start := time.Now()
	res := &Results{Started: start.UTC(), Quick: isQuick, Machine: machine(), Samples: map[string][]float64{},
		Extra: map[string]float64{}, Sections: map[int]string{}}
	section := func(s string) { res.Sections[len(res.Rows)] = s }
	add := func(r Row) *Row {
		if r.Unit == "" {
			panic(fmt.Sprintf("bench: row %q has no unit", r.Name))
		}
		if r.Floor > 0 {
			r.Ratio = r.Value / r.Floor
		}
		res.Rows = append(res.Rows, r)
		return &res.Rows[len(res.Rows)-1]
	}
	// skip records a figure not measured in this run, unit the unit it would have had.
	skip := func(name, unit string, why error) {
		step("%s skipped: %v", name, why)
		add(Row{Name: name, Unit: unit, Skipped: why.Error()})
	}
	target := func(r *Row, text string, ok bool) {
		r.Target, r.Met = text, &ok
	}
	keep := func(name string, ds []time.Duration) {
		s := make([]float64, len(ds))
		for i, d := range ds {
			s[i] = us(d)
		}
		slices.Sort(s)
		res.Samples[name] = s
	}

	tmp, err := os.MkdirTemp("", "ackmsg-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	step("PKI (RSA-2048, 10 recipients; Ed25519, 3 recipients) and commands")
	k, err := newPKI(filepath.Join(tmp, "pki"), certs.KeyRSA, 10)
	if err != nil {
		return nil, err
	}
	ed, err := newPKI(filepath.Join(tmp, "pki-ed25519"), certs.KeyEd25519, 3)
	if err != nil {
		return nil, err
	}
	p := &procs{bin: filepath.Join(tmp, "bin"), dir: tmp}
	if err := buildCommands(root, p.bin); err != nil {
		return nil, fmt.Errorf("building the commands: %w", err)
	}

	// ---- floors ----
	kit, err := newCryptoKit(k)
	if err != nil {
		return nil, err
	}
	_, msgFrame, ackFrame, err := kit.chain(0)
	if err != nil {
		return nil, err
	}
	msg, reply := [][]byte{[]byte(benchTopic), msgFrame}, [][]byte{[]byte(benchAck), ackFrame}
	res.Extra["message_bytes"], res.Extra["ack_bytes"] = float64(len(msgFrame)), float64(len(ackFrame))
	edKit, err := newCryptoKit(ed)
	if err != nil {
		return nil, err
	}
	_, edMsgFrame, edAckFrame, err := edKit.chain(0)
	if err != nil {
		return nil, err
	}
	res.Extra["ed25519_message_bytes"], res.Extra["ed25519_ack_bytes"] = float64(len(edMsgFrame)), float64(len(edAckFrame))

	step("raw ZeroMQ round trip (bare zmq4), %d samples", sz.rtt)
	rtt, err := rawRoundTrip(msg, reply, sz.rtt)
	if err != nil {
		return nil, fmt.Errorf("raw round trip: %w", err)
	}
	keep("raw zmq4 round trip", rtt)
	section("Floors: raw ZeroMQ (bare pebbe/zmq4, loopback TCP) and crypto")
	for _, q := range quantiles {
		add(Row{Name: "raw zmq4 round trip " + q.name, Unit: "µs", Value: us(quantile(rtt, q.q))})
	}
	// Ed25519 certificates are smaller, so are the frames: their round trip is its own floor.
	step("raw ZeroMQ round trip with the Ed25519 frames, %d samples", sz.rtt)
	edRTT, err := rawRoundTrip([][]byte{[]byte(benchTopic), edMsgFrame}, [][]byte{[]byte(benchAck), edAckFrame}, sz.rtt)
	if err != nil {
		return nil, fmt.Errorf("raw round trip, Ed25519 frames: %w", err)
	}
	for _, q := range quantiles {
		r := add(Row{Name: "raw zmq4 round trip, Ed25519 frames " + q.name, Unit: "µs", Value: us(quantile(edRTT, q.q))})
		if q.name == "min" {
			r.Note = fmt.Sprintf("message %d B, ACK %d B", len(edMsgFrame), len(edAckFrame))
		}
	}
	// An acked publish to n recipients waits for n ACKs: its transport floor is the fan-out.
	fanOut := func(msg, reply [][]byte, k int, label string, rtt []time.Duration) ([]time.Duration, error) {
		samples := sz.rtt * 2 / (k + 1)
		step("raw ZeroMQ fan-out round trip to %d echoers%s, %d samples", k, label, samples)
		lat, err := rawFanOut(msg, reply, k, samples)
		if err != nil {
			return nil, fmt.Errorf("raw fan-out to %d%s: %w", k, label, err)
		}
		for _, q := range quantiles {
			r := add(Row{Name: fmt.Sprintf("raw zmq4 fan-out round trip to %d echoers%s %s", k, label, q.name), Unit: "µs",
				Value: us(quantile(lat, q.q)), Floor: us(quantile(rtt, q.q)), Of: "raw zmq4 round trip" + label + " " + q.name})
			if q.name == "min" {
				r.Note = fmt.Sprintf("one send, %d echoers (a context and a thread each, as %d processes), %d replies", k, k, k)
			}
		}
		return lat, nil
	}
	rsaFan, edFan := map[int][]time.Duration{}, map[int][]time.Duration{}
	for _, k := range []int{3, 10} {
		if rsaFan[k], err = fanOut(msg, reply, k, "", rtt); err != nil {
			return nil, err
		}
	}
	if edFan[3], err = fanOut([][]byte{[]byte(benchTopic), edMsgFrame}, [][]byte{[]byte(benchAck), edAckFrame}, 3,
		", Ed25519 frames", edRTT); err != nil {
		return nil, err
	}

	step("zsock round trip, %d samples", sz.zsockRTT)
	zrtt, err := zsockRoundTrip(k.config("pub", nil), msg, reply, sz.zsockRTT)
	if err != nil {
		return nil, fmt.Errorf("zsock round trip: %w", err)
	}
	add(Row{Name: "zsock round trip p50 (ackmsg's socket layer)", Unit: "µs", Value: us(quantile(zrtt, 0.5)),
		Floor: us(quantile(rtt, 0.5)), Of: "raw zmq4 RTT p50",
		Note: fmt.Sprintf("zsock adds %.0f µs", us(quantile(zrtt, 0.5)-quantile(rtt, 0.5)))})

	step("raw ZeroMQ one-way throughput, %d messages", sz.thru)
	rawThru, err := rawThroughput(msg, sz.thru)
	if err != nil {
		return nil, fmt.Errorf("raw throughput: %w", err)
	}
	add(Row{Name: fmt.Sprintf("raw zmq4 one-way throughput (%d B signed frames)", len(msgFrame)), Unit: "msgs/s", Value: rawThru})

	// The same rows for both key types, the RSA-2048 ones under the names they always had.
	cryptoRows := func(kit *cryptoKit, bare func(int) ([]time.Duration, []time.Duration, error), bareName,
		prefix string) (*cryptoFloor, error) {
		step("crypto: %s and the four signature operations, %d samples", kit.label, sz.chain)
		signs, verifies, err := bare(sz.bare)
		if err != nil {
			return nil, err
		}
		add(Row{Name: kit.label + " sign p50 (bare " + bareName + ")", Unit: "µs", Value: us(quantile(signs, 0.5))})
		add(Row{Name: kit.label + " verify p50 (bare " + bareName + ")", Unit: "µs", Value: us(quantile(verifies, 0.5))})
		f, err := measureCrypto(kit, sz.chain)
		if err != nil {
			return nil, err
		}
		for j, name := range []string{"publisher sign (build, sign, encode)", "recipient verify (decode, verify)",
			"recipient sign ACK", "publisher verify ACK"} {
			add(Row{Name: prefix + ": " + name + " p50", Unit: "µs", Value: us(quantile(f.steps[j], 0.5))})
		}
		add(Row{Name: prefix + " floor, 1 recipient, p50", Unit: "µs", Value: us(f.quantile(1, 0.5)),
			Note: "the four operations in sequence, measured"})
		return f, nil
	}
	rsaCrypto, err := cryptoRows(kit, rawRSA, "crypto/rsa", "crypto")
	if err != nil {
		return nil, err
	}
	for _, n := range []int{3, 10} {
		add(Row{Name: fmt.Sprintf("crypto floor, %d recipients, p50", n), Unit: "µs", Value: us(rsaCrypto.quantile(n, 0.5)),
			Note: fmt.Sprintf("sign + %d×(verify+sign+verify ACK)/%d cores, from the steps", n, runtime.NumCPU())})
	}
	edCrypto, err := cryptoRows(edKit, rawEd25519, "crypto/ed25519", "Ed25519 crypto")
	if err != nil {
		return nil, err
	}
	rsaFig := keyed{k: k, kit: kit, rtt: rtt, fan: rsaFan, crypto: rsaCrypto}
	edFig := keyed{k: ed, kit: edKit, rtt: edRTT, fan: edFan, crypto: edCrypto}

	// ---- acked publish, in process ----
	var acked1RSA []time.Duration // the floor of the outbox's end-to-end figure
	var acked1Ed []time.Duration  // compared with JetStream's end to end
	var asyncEd float64           // compared with JetStream's async publish
	section("Acked publish latency, recipients in this process (ack.Subscriber goroutines)")
	for _, c := range []struct {
		fig        keyed
		n, samples int
	}{{rsaFig, 1, sz.acked1}, {edFig, 1, sz.acked1}, {rsaFig, 3, sz.acked3}, {edFig, 3, sz.acked3}, {rsaFig, 10, sz.acked10}} {
		name := fmt.Sprintf("in process, %d recipient(s)%s", c.n, c.fig.suffix())
		step("acked publish %s, %d samples", name, c.samples)
		b, err := newBus(c.fig.k, c.n)
		if err != nil {
			return nil, err
		}
		// The crypto floor is also measured between the publishes (the CPU's speed drifts).
		lat, interleaved, retx, err := ackedLatency(b, c.samples, c.fig.kit)
		b.close()
		if err != nil {
			return nil, err
		}
		keep("acked "+name, lat)
		if c.n == 1 && !c.fig.ed25519() {
			acked1RSA = lat
		}
		if c.n == 1 && c.fig.ed25519() {
			acked1Ed = lat
		}
		fig := c.fig
		fig.crypto = lower(c.fig.crypto, interleaved)
		of := " (the lower of crypto measured alone and between these publishes)"
		for _, q := range quantiles {
			r := add(Row{Name: fmt.Sprintf("acked %s %s", name, q.name), Unit: "µs", Value: us(quantile(lat, q.q)),
				Floor: us(fig.floor(c.n, q.q)), Of: fig.floorIs(c.n, q.name) + of})
			if q.name == "p99" && retx > 0 {
				r.Note = fmt.Sprintf("%d retransmissions", retx)
			}
			if c.n == 1 && q.name == "p50" {
				target(r, "≤ 1.2 × floor, "+c.fig.k.label(), r.Ratio <= 1.2)
			}
			if c.n == 1 && q.name == "p99" {
				target(r, "≤ 2 × floor, "+c.fig.k.label(), r.Ratio <= 2)
			}
		}
	}

	// ---- acked publish, separate processes ----
	section("Acked publish latency, recipients in separate processes (ackmsg-tail --ack, direct)")
	for _, base := range []keyed{rsaFig, edFig} {
		var proc1p50 float64
		var fig1 keyed // the one-process figure's, with its crypto floor
		for _, c := range []struct{ n, samples int }{{1, sz.proc1}, {3, sz.proc3}} {
			name := fmt.Sprintf("%d process(es)%s", c.n, base.suffix())
			step("acked publish to %s, %d samples", name, c.samples)
			lat, interleaved, retx, err := procAcked(p, base, c.n, c.samples)
			if err != nil {
				return nil, err
			}
			keep("acked "+name, lat)
			fig := base
			fig.crypto = lower(base.crypto, interleaved)
			for _, q := range quantiles {
				r := add(Row{Name: fmt.Sprintf("acked %s %s", name, q.name), Unit: "µs", Value: us(quantile(lat, q.q)),
					Floor: us(fig.floor(c.n, q.q)),
					Of:    fig.floorIs(c.n, q.name) + " (the lower of crypto measured alone and between these publishes)"})
				if q.name == "p99" && retx > 0 {
					r.Note = fmt.Sprintf("%d retransmissions", retx)
				}
			}
			if c.n == 1 {
				proc1p50, fig1 = us(quantile(lat, 0.5)), fig
				continue
			}
			r := add(Row{Name: "acked 3 processes p50 vs 1 process p50" + fig.suffix(), Unit: "µs",
				Value: us(quantile(lat, 0.5)), Floor: proc1p50, Of: "acked 1 process p50" + fig.suffix(),
				Note: fmt.Sprintf("the floors' own ratio, %s / %s: %.2f× (signatures spread evenly over the cores), "+
					"%.2f× (each signature whole on one core: %d recipients' on %d cores take %d turns)",
					fig.floorIs(3, "p50"), fig1.floorIs(1, "p50"), float64(fig.floor(3, 0.5))/float64(fig1.floor(1, 0.5)),
					float64(quantile(fig.fan[3], 0.5)+fig.crypto.quantileWhole(3, 0.5))/float64(fig1.floor(1, 0.5)),
					3, runtime.NumCPU(), (3+runtime.NumCPU()-1)/runtime.NumCPU())})
			if !fig.ed25519() {
				target(r, "≤ 1.5 × 1-recipient p50", r.Ratio <= 1.5)
			}
		}
	}

	// ---- throughput ----
	section("Throughput and memory (1 recipient in process)")
	for _, c := range []struct {
		fig      keyed
		inflight int
	}{{rsaFig, 1}, {rsaFig, 16}, {rsaFig, 256}, {edFig, 256}} {
		step("PublishAsync, in-flight %d%s, %s", c.inflight, c.fig.suffix(), sz.async)
		b, err := newBus(c.fig.k, 1)
		if err != nil {
			return nil, err
		}
		rate, retx, err := asyncThroughput(b, c.inflight, sz.async)
		b.close()
		if err != nil {
			return nil, err
		}
		if c.fig.ed25519() {
			asyncEd = rate
		}
		r := add(Row{Name: fmt.Sprintf("PublishAsync in-flight %d%s", c.inflight, c.fig.suffix()), Unit: "msgs/s",
			Value: rate, Floor: c.fig.ceiling(), Of: fmt.Sprintf("crypto-bound ceiling: %d cores / %s(1) p50",
				runtime.NumCPU(), c.fig.cryptoName())})
		if retx > 0 {
			r.Note = fmt.Sprintf("%d retransmissions", retx)
		}
		if !c.fig.ed25519() && c.inflight == 256 { // issue 7's target; the Ed25519 row is a figure only
			target(r, "≥ 0.85 × ceiling", r.Ratio >= 0.85)
		}
	}
	step("memory per in-flight message (%d to an absent recipient)", sz.inflight)
	b, err := newBus(k, 1)
	if err != nil {
		return nil, err
	}
	perMsg, err := inflightMemory(b, sz.inflight)
	b.close()
	if err != nil {
		return nil, err
	}
	add(Row{Name: fmt.Sprintf("live heap per in-flight acked message (%d in flight)", sz.inflight), Unit: "B", Value: perMsg,
		Floor: float64(len(msgFrame)), Of: "the signed frame's size"})

	plainBody := map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}
	env, err := plainEnvelope(plainBody)
	if err != nil {
		return nil, err
	}
	if pad := len(msgFrame) - len(env) - len(`,"pad":""`); pad > 0 { // the same size as a signed frame
		plainBody["pad"] = strings.Repeat("x", pad)
		if env, err = plainEnvelope(plainBody); err != nil {
			return nil, err
		}
	}
	step("plain publish and raw throughput at %d B, %d messages", len(env), sz.thru)
	rawPlain, err := rawThroughput([][]byte{[]byte(benchTopic), env}, sz.thru)
	if err != nil {
		return nil, err
	}
	plain, sendRate, err := plainThroughput(plainBody, sz.thru)
	if err != nil {
		return nil, err
	}
	r := add(Row{Name: fmt.Sprintf("plain unsigned publisher.Publish (%d B)", len(env)), Unit: "msgs/s", Value: plain,
		Floor: rawPlain, Of: "raw zmq4 one-way, same bytes",
		Note: fmt.Sprintf("(the Publish loop alone: %.0f msgs/s)", sendRate)})
	target(r, "≥ 0.8 × raw", r.Ratio >= 0.8)

	// ---- outbox ----
	section("Outbox: durable enqueue (bbolt file, PostgreSQL) next to this disk's fsync, and end to end")
	odir, err := os.MkdirTemp("", "ackmsg-bench-outbox")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(odir)
	nEnq := max(sz.acked1/4, 50)
	step("fsync floor and outbox enqueue, %d records of %d B", nEnq, len(msgFrame))
	floorLat, err := fsyncFloor(odir, len(msgFrame), nEnq)
	if err != nil {
		return nil, err
	}
	enqLat, enqThru, err := boltEnqueue(odir, msgFrame, nEnq, 16)
	if err != nil {
		return nil, err
	}
	for _, q := range quantiles {
		add(Row{Name: "outbox enqueue (boltstore, one writer) " + q.name, Unit: "µs", Value: us(quantile(enqLat, q.q)),
			Floor: us(quantile(floorLat, q.q)), Of: "write + fsync of the same bytes " + q.name})
	}
	floorRate := 1 / quantile(floorLat, 0.5).Seconds()
	add(Row{Name: "outbox enqueue throughput, 16 concurrent writers (group commit)", Unit: "msgs/s", Value: enqThru,
		Floor: floorRate, Of: "fsyncs/s at the fsync p50 (one message per fsync)"})

	step("outbox enqueue into PostgreSQL (pgstore), %d records", nEnq)
	if pgLat, pgThru, pgFloor, err := pgEnqueue(msgFrame, nEnq, 16); err != nil {
		skip("outbox enqueue (pgstore)", "µs", err)
	} else {
		for _, q := range quantiles {
			add(Row{Name: "outbox enqueue (pgstore, one writer) " + q.name, Unit: "µs", Value: us(quantile(pgLat, q.q)),
				Floor: us(quantile(pgFloor, q.q)), Of: "one-row INSERT + COMMIT on the same server " + q.name})
		}
		add(Row{Name: "outbox enqueue throughput (pgstore), 16 concurrent writers", Unit: "msgs/s", Value: pgThru,
			Floor: 1 / quantile(pgFloor, 0.5).Seconds(), Of: "commits/s at the one-row INSERT + COMMIT p50"})
	}

	nE2E := max(sz.acked1/2, 50)
	step("outbox end to end (enqueue, deliver, every ACK persisted), %d messages", nE2E)
	ob, err := newBus(k, 1)
	if err != nil {
		return nil, err
	}
	e2e, err := outboxEndToEnd(ob, odir, nE2E)
	ob.close()
	if err != nil {
		return nil, err
	}
	keep("outbox end to end", e2e)
	for _, q := range quantiles {
		add(Row{Name: "outbox Publish → delivered (boltstore, 1 recipient) " + q.name, Unit: "µs", Value: us(quantile(e2e, q.q)),
			Floor: us(quantile(acked1RSA, q.q)), Of: "ack.Publish to one recipient in process (above) " + q.name,
			Note: "enqueue fsync + deliverer wake-up + acked send + ACK fsync"})
	}

	// ---- peers ----
	section("Peers: NATS JetStream (embedded nats-server, file storage), same machine, same run, same payload")
	js := map[bool]*jsFigures{}
	for _, always := range []bool{false, true} {
		mode := map[bool]string{false: "default sync", true: "sync_interval always"}[always]
		step("NATS JetStream, %s: sync publish %d, async %s, end to end %d", mode, sz.acked1, sz.async, sz.acked1/2)
		f, err := natsJetStream(msgFrame, always, sz.acked1, sz.async, sz.inflight)
		if err != nil {
			return nil, fmt.Errorf("NATS JetStream (%s): %w", mode, err)
		}
		js[always] = f
		keep("JetStream end to end, "+mode, f.e2e)
		for _, q := range quantiles {
			add(Row{Name: fmt.Sprintf("JetStream publish, wait for the stored ack (%s) %s", mode, q.name), Unit: "µs",
				Value: us(quantile(f.sync, q.q)), Note: "promise: the server stored it; nothing about a consumer"})
		}
		add(Row{Name: fmt.Sprintf("JetStream async publish (%s)", mode), Unit: "msgs/s", Value: f.async,
			Note: fmt.Sprintf("up to %d acks outstanding", sz.inflight)})
		for _, q := range quantiles {
			add(Row{Name: fmt.Sprintf("JetStream end to end through a durable consumer (%s) %s", mode, q.name), Unit: "µs",
				Value: us(quantile(f.e2e, q.q)), Note: "publish, consumer receives, double-acks, replies to the publisher"})
		}
	}
	section("Peers: RabbitMQ (Debian rabbitmq-server, a throwaway node), same machine, same run, same payload")
	var rmq *rmqFigures
	rmqErr := error(nil)
	if url, err := rmqtest.Start(); err != nil {
		rmqErr = err
		skip("RabbitMQ (and the bridge to it)", "µs", err)
	} else {
		step("RabbitMQ: confirm %d, streaming confirms %s, end to end %d", sz.acked1, sz.async, sz.acked1/2)
		rmq, err = rabbitMQ(url, msgFrame, sz.acked1, sz.async, sz.inflight)
		if err != nil {
			rmqtest.Stop()
			return nil, fmt.Errorf("RabbitMQ: %w", err)
		}
		step("bridge to RabbitMQ (Ed25519): acked publish %d, PublishAsync in-flight %d, %s", sz.acked1, sz.inflight, sz.async)
		br, err := bridgeBench(ed, url, len(msgFrame), sz.acked1, sz.async, sz.inflight)
		rmqtest.Stop()
		if err != nil {
			return nil, fmt.Errorf("bridge to RabbitMQ: %w", err)
		}
		keep("RabbitMQ end to end", rmq.e2e)
		for _, q := range quantiles {
			add(Row{Name: "RabbitMQ publish, wait for the confirm (persistent, durable queue) " + q.name, Unit: "µs",
				Value: us(quantile(rmq.confirm, q.q)), Note: "promise: the broker has it on disk; nothing about a consumer"})
		}
		add(Row{Name: "RabbitMQ streaming confirms", Unit: "msgs/s", Value: rmq.stream,
			Note: fmt.Sprintf("up to %d confirms outstanding", sz.inflight)})
		for _, q := range quantiles {
			add(Row{Name: "RabbitMQ end to end through a consumer (manual ack, reply) " + q.name, Unit: "µs",
				Value: us(quantile(rmq.e2e, q.q)), Note: "publish, confirm, consumer receives, acks, replies to the publisher"})
		}

		section(fmt.Sprintf("Bridge to RabbitMQ (bridge.Bridge in process, %s → durable queue), ratio = bridge / RabbitMQ",
			bridgeExchange))
		keep("acked to the bridge, Ed25519", br.lat)
		confirm50, bridge50 := quantile(rmq.confirm, 0.5), quantile(br.lat, 0.5)
		for _, q := range quantiles {
			r := add(Row{Name: "acked publish to the bridge, ACK once RabbitMQ confirmed, Ed25519 " + q.name, Unit: "µs",
				Value: us(quantile(br.lat, q.q)), Floor: us(quantile(rmq.confirm, q.q)),
				Of: "RabbitMQ publish-and-confirm " + q.name})
			switch q.name {
			case "min":
				r.Note = fmt.Sprintf("promise: the message is in the durable queue (persistent, mandatory, confirmed: "+
					"routed and on disk), told by an ACK signed by %q; a plain confirm tells the broker's client the same, "+
					"unsigned; neither says anything of a consumer; envelope %d B, %d B on the broker", bridgeName,
					br.envelope, br.amqpBody)
			case "p50":
				r.Note = fmt.Sprintf("the bridge adds %.0f µs to RabbitMQ's confirm p50", us(bridge50-confirm50))
			case "p99":
				r.Note = fmt.Sprintf("%d retransmissions; %d ACKed, %d in the queue", br.latRetx, br.latAcked, br.latQueued)
			}
		}
		add(Row{Name: "bridge added latency p50 (bridge p50 − RabbitMQ confirm p50)", Unit: "µs", Value: us(bridge50 - confirm50),
			Floor: us(quantile(acked1Ed, 0.5)), Of: fmt.Sprintf("ackmsg acked publish Ed25519 p50 in process, %d B frames (above): "+
				"the bus hop the bridge puts before the broker", len(edMsgFrame))})
		add(Row{Name: fmt.Sprintf("PublishAsync in-flight %d to the bridge, Ed25519", sz.inflight), Unit: "msgs/s", Value: br.async,
			Floor: rmq.stream, Of: fmt.Sprintf("RabbitMQ streaming confirms (%d outstanding)", sz.inflight),
			Note: fmt.Sprintf("bridge max_in_flight %d; %d retransmissions; %d ACKed, %d in the queue",
				config.DefaultBridgeMaxInFlight, br.asyncRetx, br.asyncAcked, br.asyncQueued)})
	}

	section("ackmsg next to the peers (ratio = ackmsg / peer)")
	always := js[true]
	r = add(Row{Name: "ackmsg acked publish Ed25519 p50 vs JetStream end to end p50", Unit: "µs", Value: us(quantile(acked1Ed, 0.5)),
		Floor: us(quantile(always.e2e, 0.5)), Of: "JetStream end to end (sync_interval always) p50"})
	target(r, "≤ 1 × JetStream end to end (sync always)", r.Ratio <= 1)
	// The like-for-like comparison: an acked publish stores nothing, and JetStream's default
	// sync fsyncs nothing on the way either. Both are targets, so neither hides the other.
	r = add(Row{Name: "ackmsg acked publish Ed25519 p50 vs JetStream end to end p50, default sync", Unit: "µs", Value: us(quantile(acked1Ed, 0.5)),
		Floor: us(quantile(js[false].e2e, 0.5)), Of: "JetStream end to end (default sync: nothing fsync'd on the way) p50",
		Note: "ackmsg fsyncs nothing either, but signs and verifies twice: its Ed25519 crypto floor alone is about JetStream's whole round trip"})
	target(r, "≤ 1 × JetStream end to end (default sync)", r.Ratio <= 1)
	r = add(Row{Name: "ackmsg PublishAsync Ed25519 vs JetStream async publish", Unit: "msgs/s", Value: asyncEd,
		Floor: always.async, Of: "JetStream async publish (sync_interval always)"})
	target(r, "≥ 1 × JetStream async (sync always)", r.Ratio >= 1)
	add(Row{Name: "ackmsg outbox enqueue (boltstore) p50 vs JetStream stored ack p50", Unit: "µs", Value: us(quantile(enqLat, 0.5)),
		Floor: us(quantile(always.sync, 0.5)), Of: "JetStream publish (sync_interval always) p50: both fsync'd, neither says anything of a consumer"})
	if rmq == nil {
		skip("ackmsg next to RabbitMQ", "µs", rmqErr)
	} else {
		add(Row{Name: "ackmsg acked publish Ed25519 p50 vs RabbitMQ end to end p50", Unit: "µs", Value: us(quantile(acked1Ed, 0.5)),
			Floor: us(quantile(rmq.e2e, 0.5)), Of: "RabbitMQ end to end p50"})
		add(Row{Name: "ackmsg PublishAsync Ed25519 vs RabbitMQ streaming confirms", Unit: "msgs/s", Value: asyncEd,
			Floor: rmq.stream, Of: "RabbitMQ streaming confirms"})
		add(Row{Name: "ackmsg outbox enqueue (boltstore) p50 vs RabbitMQ confirm p50", Unit: "µs", Value: us(quantile(enqLat, 0.5)),
			Floor: us(quantile(rmq.confirm, 0.5)), Of: "RabbitMQ publish-and-confirm p50: both on disk, neither says anything of a consumer"})
	}

	// ---- ACK storm ----
	stormRowsNow, err := stormCurve(p, tmp, isQuick)
	if err != nil {
		return nil, err
	}
	section(stormSection)
	for _, r := range stormRowsNow {
		add(r)
	}

	// ---- cold CLI ----
	section("Cold CLI publish (process start to exit, relay and recipient running)")
	step("cold ackmsg-logger --recipients sub01, %d runs", sz.cold)
	cold, err := coldCLI(p, k, sz.cold)
	if err != nil {
		return nil, err
	}
	keep("cold ackmsg-logger", cold)
	startOnly, err := coldStart(p, sz.cold)
	if err != nil {
		return nil, err
	}
	for _, q := range quantiles {
		r := add(Row{Name: "cold ackmsg-logger --recipients sub01 --message m " + q.name, Unit: "ms",
			Value: us(quantile(cold, q.q)) / 1e3, Floor: us(quantile(startOnly, q.q)) / 1e3,
			Of: "ackmsg-logger --help " + q.name + " (process start, no bus)"})
		if q.name == "p50" {
			target(r, "≤ 50 ms", r.Value <= 50)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Machine["load average at end"] = loadavg()
	return res, nil
}

// coldStart times `ackmsg-logger --help`: starting the binary and exiting, nothing else.
func coldStart(p *procs, runs int) ([]time.Duration, error) {
	var lat []time.Duration
	for range runs {
		t0 := time.Now()
		cmd := exec.Command(filepath.Join(p.bin, "ackmsg-logger"), "--help")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// machine describes this machine for the results: CPU, cores, Go, libzmq, kernel, load.
func machine() map[string]string {
	m := map[string]string{
		"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(), "os/arch": runtime.GOOS + "/" + runtime.GOARCH,
		"load average at start": loadavg(),
	}
	major, minor, patch := zmq.Version()
	m["libzmq"] = fmt.Sprintf("%d.%d.%d", major, minor, patch)
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(data))
	}
	return m
}

// fmtValue formats a value in its unit (µs from 1000 up as ms); 0 is an empty cell.
func fmtValue(v float64, unit string) string {
	switch {
	case v == 0:
		return ""
	case unit == "msgs/s" || unit == "B":
		return fmt.Sprintf("%.0f %s", v, unit)
	case unit == "µs" && v >= 1000:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case unit == "ms":
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

// cell is a row's value as the table and BENCHMARKS.md show it: "skipped" when it was not
// measured (the reason goes in the note column).
func cell(r Row) string {
	if r.Skipped != "" {
		return "skipped"
	}
	return fmtValue(r.Value, r.Unit)
}

// verdict is a row's target column: met or MISSED with the target, or empty without one.
func verdict(r Row) string {
	if r.Met == nil {
		return ""
	}
	if *r.Met {
		return "met (" + r.Target + ")"
	}
	return "MISSED (" + r.Target + ")"
}

// printTable writes every row, under its section heading, as an aligned text table.
func printTable(w io.Writer, res *Results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tfloor\tratio\ttarget\tfloor is")
	for i, r := range res.Rows {
		if s, ok := res.Sections[i]; ok {
			fmt.Fprintf(tw, "-- %s\t\t\t\t\t\n", s)
		}
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, cell(r), fmtValue(r.Floor, r.Unit), ratio,
			verdict(r), strings.TrimSpace(r.Of+"  "+r.Note+"  "+r.Skipped))
	}
	tw.Flush()
	fmt.Fprintf(w, "total %.0f s\n", res.Seconds)
}

// markdown is BENCHMARKS.md: the machine, the targets, every row by section, the chart and the
// notes.
func markdown(res *Results, chartRef, notes string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `make bench-doc` (tools/bench) on %s in %.0f s%s. Every ackmsg figure stands next to its\n",
		res.Started.Format("2006-01-02 15:04 MST"), res.Seconds, map[bool]string{true: " (**-quick run**)", false: ""}[res.Quick])
	fmt.Fprintf(&b, "floor measured in the same run on the same machine; the ratio is value / floor. The machine is shared\n")
	fmt.Fprintf(&b, "and noisy: compare ratios, not absolute numbers across runs. `make bench` prints the same table.\n\n")
	keys := make([]string, 0, len(res.Machine))
	for k := range res.Machine {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Fprintf(&b, "Machine:")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %s;", k, res.Machine[k])
	}
	fmt.Fprintf(&b, " signed message %.0f B, ACK %.0f B (RSA-2048 certificates)",
		res.Extra["message_bytes"], res.Extra["ack_bytes"])
	if res.Extra["ed25519_message_bytes"] > 0 {
		fmt.Fprintf(&b, ", %.0f B and %.0f B (Ed25519 certificates)",
			res.Extra["ed25519_message_bytes"], res.Extra["ed25519_ack_bytes"])
	}
	fmt.Fprintf(&b, ".\n\n")
	fmt.Fprintf(&b, "## Targets\n\n| target | figure | value | floor | ratio | verdict |\n|---|---|---:|---:|---:|---|\n")
	for _, r := range res.Rows {
		if r.Met == nil {
			continue
		}
		v := "met"
		if !*r.Met {
			v = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f× | %s |\n", r.Target, r.Name, fmtValue(r.Value, r.Unit),
			fmtValue(r.Floor, r.Unit), r.Ratio, v)
	}
	fmt.Fprintf(&b, "\n## All figures\n\n")
	for i, r := range res.Rows {
		if s, ok := res.Sections[i]; ok {
			fmt.Fprintf(&b, "\n### %s\n\n| figure | value | floor | ratio | floor is / note |\n|---|---:|---:|---:|---|\n", s)
		}
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Name, cell(r), fmtValue(r.Floor, r.Unit),
			ratio, strings.TrimSpace(r.Of+" "+r.Note+" "+r.Skipped))
	}
	if chartRef != "" {
		fmt.Fprintf(&b, "\n## Latency distribution\n\n![latency CDF](%s)\n\nCumulative distribution of each latency sample (log time axis).\n", chartRef)
	}
	if notes != "" {
		fmt.Fprintf(&b, "\n%s", notes)
	}
	return b.String()
}

// loadavg is the 1, 5 and 15 minute load averages: other work on a shared machine.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}
