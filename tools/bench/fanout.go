package main

// The fan-out curve (issue 32): acked publish latency to 1, 3, 10, 25 and 50 recipient processes
// (ackmsg-tail --ack, direct: each binds its own endpoint), RSA-2048 and Ed25519, every point next
// to its floor at the same N, defined as the acked rows' floors are (floors.go, crypto.go): the
// raw fan-out round trip to N echoers (bare zmq4, a context and a locked thread per echoer) + the
// crypto floor at N (one sign, N × (verify + ACK sign + ACK verify) over min(N, cores)), the crypto
// floor also measured between the publishes (the lower of the two). The recipients of one key type
// are started once and grown from point to point; the publisher is made again at each point with
// the endpoints of the first N.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/config"
)

// fanMax is the largest point of the curve: both PKIs of the run have this many recipients.
const fanMax = 50

var (
	fanPointsFull  = []int{1, 3, 10, 25, fanMax}
	fanPointsQuick = []int{1, 10}
)

// fanFigures are the curve's points by key type, kept for the peers' curve (fanpeers.go).
type fanFigures struct {
	ns       []int
	rsa, ed  []fanPoint
	peersErr error
}

// fanPoint is one point: acked publishes to n recipient processes, and the figures (floors) they
// stand on.
type fanPoint struct {
	n    int
	lat  []time.Duration
	fig  keyed // with the crypto floor lowered to the one measured between the publishes
	retx uint64
}

// fanSamples is the acked publishes timed at n recipients.
func (b *bench) fanSamples(n int) int {
	switch {
	case b.quick:
		return 20
	case n <= 3:
		return 200
	case n <= 10:
		return 100
	default:
		return 60
	}
}

const fanSection = "Fan-out curve: acked publish to N recipient processes (ackmsg-tail --ack, direct), " +
	"next to the raw fan-out round trip to N + the crypto floor at N"

// fanCurve measures the raw fan-out floors the run has not measured yet, then the acked publishes
// at each point, both key types, and adds their rows and curves.
func (b *bench) fanCurve() error {
	ns := fanPointsFull
	if b.quick {
		ns = fanPointsQuick
	}
	b.section(fanSection)
	for _, f := range []struct {
		fan        map[int][]time.Duration
		msg, reply [][]byte
		label      string
		rtt        []time.Duration
	}{{b.rsaFan, b.msg, b.reply, "", b.rtt}, {b.edFan, b.edMsg, b.edReply, ", Ed25519 frames", b.edRTT}} {
		for _, n := range ns {
			if _, ok := f.fan[n]; ok || n == 1 { // one recipient's floor is the raw round trip
				continue
			}
			lat, err := b.fanOut(f.msg, f.reply, n, f.label, f.rtt)
			if err != nil {
				return err
			}
			f.fan[n] = lat // also in rsaFig/edFig: the same map
		}
	}
	b.fan = &fanFigures{ns: ns}
	for _, base := range []keyed{b.rsaFig, b.edFig} {
		pts, err := b.fanProcesses(base, ns)
		if err != nil {
			return err
		}
		if base.ed25519() {
			b.fan.ed = pts
		} else {
			b.fan.rsa = pts
		}
	}
	b.addCurve(fanChart("fanout-p50", "p50", 0.5, b.fan))
	b.addCurve(fanChart("fanout-p99", "p99", 0.99, b.fan))
	return nil
}

// fanProcesses starts the recipients of one key type, point by point, and measures and adds the
// rows of each point.
func (b *bench) fanProcesses(base keyed, ns []int) ([]fanPoint, error) {
	defer b.p.stopAll()
	fl := &fanFleet{p: b.p, k: base.k, pubAddr: freeAddr(), eps: map[string]string{}}
	var pts []fanPoint
	for _, n := range ns {
		if err := fl.grow(n); err != nil {
			return nil, err
		}
		samples := b.fanSamples(n)
		name := fmt.Sprintf("to %d recipient process(es)%s", n, base.suffix())
		step("fan-out curve: acked publish %s, %d samples", name, samples)
		r, err := fl.measure(base, n, samples)
		if err != nil {
			return nil, fmt.Errorf("fan-out curve, %s: %w", name, err)
		}
		b.keep("acked "+name, r.lat)
		fig := b.ackedLatencyRows(base, name, n, r.lat, r.interleaved, r.retx, func(q string, row *Row) {
			if n == fanMax && q == "p50" {
				target(row, fmt.Sprintf("≤ 1.3 × (raw fan-out + crypto) at %d, %s", fanMax, base.k.label()), row.Ratio <= 1.3)
			}
		})
		b.fanCPURow(fig, name, n, r.cpu)
		pts = append(pts, fanPoint{n: n, lat: r.lat, fig: fig, retx: r.retx})
	}
	return pts, nil
}

// fanCPURow adds the CPU the n recipient processes spent per acked publish, next to the part of
// the crypto floor they do (n × (verify + ACK sign) p50): what their runtime, sockets and
// printing cost beyond the signatures, and, over this machine's cores, the wall time it needs.
func (b *bench) fanCPURow(fig keyed, name string, n int, cpu time.Duration) {
	st := fig.crypto.steps
	floor := time.Duration(n) * (quantile(st[1], 0.5) + quantile(st[2], 0.5))
	b.add(Row{Name: "recipients' CPU per acked publish " + name, Unit: "µs", Value: us(cpu), Floor: us(floor),
		Of: fmt.Sprintf("%d × (%s: recipient verify + sign ACK) p50", n, fig.cryptoName()),
		Note: fmt.Sprintf("all %d processes' CPU (schedstat) / publishes; over %d cores: %.2f ms of wall time at least",
			n, runtime.NumCPU(), us(cpu)/1e3/float64(runtime.NumCPU()))})
}

// fanFleet is the curve's recipients of one key type: ackmsg-tail --ack processes sub01.., each
// binding its own endpoint and connecting to the publisher's alone (its configuration names
// those two), so that the only traffic is the publisher's messages and the recipients' ACKs.
type fanFleet struct {
	p       *procs
	k       *pki
	pubAddr string
	eps     map[string]string // "subNN.host" -> its endpoint, for the tails started
	n       int               // tails started
	pids    []int             // theirs, in order
}

// grow starts tails until n run, a few at a time (each start waits for its "endpoint connected").
func (f *fanFleet) grow(n int) error {
	const parallel = 4
	sem := make(chan struct{}, parallel)
	errs := make([]error, n)
	pids := make([]int, n)
	copy(pids, f.pids)
	var wg sync.WaitGroup
	for i := f.n; i < n; i++ {
		name := subName(i)
		addr := freeAddr()
		f.eps[name+".host"] = addr
		conf, err := f.p.writeConfig(f.k, "fan-"+f.k.label()+"-"+name, "",
			map[string]string{"pub.host": f.pubAddr, name + ".host": addr})
		if err != nil {
			return err
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd, err := f.p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", name,
				"--name", name+".host", "--topic", benchTopic)
			if errs[i] = err; err == nil {
				pids[i] = cmd.Process.Pid
			}
		})
	}
	wg.Wait()
	f.n, f.pids = n, pids
	return errors.Join(errs...)
}

// measure makes a publisher whose configuration names the first n tails, warms it up (each
// publish is retransmitted until every one of them ACKed: their subscriptions are in) and times
// samples acked publishes to all n, with a crypto chain after each.
func (f *fanFleet) measure(fig keyed, n, samples int) (*fanRun, error) {
	eps := map[string]string{"pub.host": f.pubAddr}
	var names []string
	for i := range n {
		names = append(names, subName(i))
		eps[subName(i)+".host"] = f.eps[subName(i)+".host"]
	}
	conf, err := f.p.writeConfig(f.k, fmt.Sprintf("fanpub-%s-%d", f.k.label(), n), "", eps)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Certname, cfg.ZMQLinger = "pub.host", "pub", 0
	bu := &bus{names: names}
	// The previous point's publisher bound the same address; its socket is closed, but the
	// kernel may take a moment to let the port go.
	for deadline := time.Now().Add(10 * time.Second); ; {
		bu.pub, err = config.NewAckPublisher(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "in use") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for the port, bounded by the deadline
	}
	if err != nil {
		return nil, err
	}
	defer bu.pub.Close()
	for range 5 {
		if err := bu.publish(); err != nil {
			return nil, err
		}
	}
	cpu0, err := tailsCPU(f.tails(n))
	if err != nil {
		return nil, err
	}
	r := &fanRun{}
	if r.lat, r.interleaved, r.retx, err = ackedLatency(bu, samples, fig.kit); err != nil {
		return nil, err
	}
	cpu1, err := tailsCPU(f.tails(n))
	r.cpu = (cpu1 - cpu0) / time.Duration(samples)
	return r, err
}

// fanRun is what measure measured: the latencies, the crypto floor measured between them, the
// retransmissions and the CPU the n tails spent per publish (read as the last ACK came in: a
// tail's work after its ACK is not counted).
type fanRun struct {
	lat         []time.Duration
	interleaved *cryptoFloor
	retx        uint64
	cpu         time.Duration
}

// tails are the first n tails, for tailsCPU.
func (f *fanFleet) tails(n int) []stormTail {
	t := make([]stormTail, n)
	for i := range t {
		t[i].pid = f.pids[i]
	}
	return t
}

// fanChart is the curve at quantile q (named qn): acked latency of both key types over the
// recipients, each next to its floor (raw fan-out + crypto) at the same points.
func fanChart(id, qn string, q float64, f *fanFigures) Curve {
	var series []Series
	for _, s := range []struct {
		label string
		pts   []fanPoint
	}{{"RSA-2048", f.rsa}, {"Ed25519", f.ed}} {
		acked := Series{Name: "acked " + qn + ", " + s.label}
		floor := Series{Name: "raw fan-out + crypto " + qn + ", " + s.label + " (floor)", Floor: true}
		for _, pt := range s.pts {
			x := float64(pt.n)
			acked.Points = append(acked.Points, Point{x, us(quantile(pt.lat, q)) / 1e3})
			floor.Points = append(floor.Points, Point{x, us(pt.fig.floor(pt.n, q)) / 1e3})
		}
		series = append(series, acked, floor)
	}
	note := "Each point: one acked publish at a time naming all N recipients, timed until every ACK is in and " +
		"verified. Floor: the raw zmq4 fan-out round trip to N echoers + the crypto floor at N (publisher sign + " +
		"N × (verify + ACK sign + ACK verify) / min(N, cores)), quantile by quantile; both on this machine's cores, " +
		"shared by N processes."
	if q > 0.5 {
		note += " At p99 the floor adds N / cores times each step's p99: a sum of tails that rarely coincide, " +
			"so for large N on a loaded machine it can stand above the measured p99."
	}
	return Curve{ID: id, Title: "Acked publish " + qn + " vs recipient processes (ackmsg-tail --ack), next to its floor",
		X: "recipient processes", Y: qn + " latency (ms)", LogX: true, LogY: true, Series: series, Note: note}
}
