package main

// The publishers curve (issue 32): 1, 4, 16 and 64 concurrent publishers, each publishing acked
// messages one at a time (closed loop) to the same 3 recipients, ackmsg-tail --ack processes on
// one ackmsg-relay, Ed25519 certificates. Two kinds of publisher, on the same relay and tails:
//
//   - goroutines of this process sharing one ack.Publisher, as a service publishes from its
//     request handlers (one socket, one ACK listener; a Publisher per goroutine would be N of
//     each, which is what the processes below have);
//   - ackmsg-logger --recipients processes, each fed one line at a time on its standard input
//     (the next when the last was ACKed); their latency is the "took" each logs.
//
// Each point gives the aggregate acked msgs/s (every message ACKed by all 3, over the time until
// the last ACK) and the latency quantiles. The floor of the throughput is the same publishers
// publishing the same number of signed messages without ACKs (plain, as fast as they go, counted
// until all 3 tails printed all of them): what the bus and the tails move without the ACK
// protocol. The floor of the latency at N is the larger of the 1-publisher latency floor at p50
// (raw fan-out round trip to 3 + Ed25519 crypto(3), direct: without the relay's hop) and N
// messages' signature work spread over the cores (with N outstanding, by Little's law, the mean
// latency is at least N / the crypto-bound rate). The rows also note the CPU the publishers and
// the relay and tails spend per acked message (/proc/<pid>/task/*/schedstat).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/publisher"
)

var (
	loadPublishers      = []int{1, 4, 16, 64}
	loadPublishersQuick = []int{1, 16}
)

// loadRecipients are the tails every acked message names.
const loadRecipients = 3

// loadFigures are one kind of publisher at one N: acked latencies and rate, plain rate.
type loadFigures struct {
	lat            []time.Duration
	acked, plain   float64       // msgs/s
	pubCPU, busCPU time.Duration // CPU per acked message: the publishers', the relay's and tails'
	plainBusCPU    time.Duration // the relay's and tails' CPU per plain message
}

// loadPoint is one N: both kinds of publisher.
type loadPoint struct {
	n                     int
	goroutines, processes loadFigures
}

// loadBus is the curve's bus: a relay, the acking tails, this process's shared publisher and the
// ackmsg-logger processes started so far (acked and plain).
type loadBus struct {
	p                  *procs
	conf               string
	relay              int // its pid
	pub                *ack.Publisher
	tails              []stormTail
	names              []string
	ackedLog, plainLog []*loggerProc
	printed            int64 // messages each tail has printed so far, as counted when quiet
}

// publishersCurve measures every point and adds the rows and the two curves.
func (b *bench) publishersCurve() error {
	ns, d, plainN := loadPublishers, 1500*time.Millisecond, 2000
	if b.quick {
		ns, d, plainN = loadPublishersQuick, time.Second, 1000
	}
	b.section(fmt.Sprintf("Publishers curve: N concurrent publishers to %d ackmsg-tail --ack processes through a relay (Ed25519)", loadRecipients))
	step("publishers curve: %v publishers, goroutines and ackmsg-logger processes, %s acked and %d plain messages each",
		ns, d, plainN)
	points, err := measureLoad(b.p, b.ed, ns, d, plainN)
	if err != nil {
		return err
	}
	cpu := loadCPU(b.edFig.crypto)
	ceiling := float64(runtime.NumCPU()) / cpu.Seconds()
	// The p50 floor under the p99 too: a p99 floor from a few crypto chains on this shared
	// machine is one stall, not a floor.
	base := b.edFig.floor(loadRecipients, 0.5)
	floorAt := func(n int) time.Duration { return max(base, time.Duration(n)*cpu/time.Duration(runtime.NumCPU())) }
	for _, pt := range points {
		for _, k := range []struct {
			kind string
			f    loadFigures
		}{{"goroutine(s) sharing one ack.Publisher", pt.goroutines}, {"ackmsg-logger process(es)", pt.processes}} {
			who := fmt.Sprintf("%d %s", pt.n, k.kind)
			b.add(Row{Name: "publishers: acked msgs/s, " + who, Unit: "msgs/s", Value: k.f.acked, Floor: k.f.plain,
				Of: "the same publishers' plain signed publishes to the same tails",
				Note: fmt.Sprintf("crypto-bound ceiling %.0f msgs/s; CPU per acked message: publishers %s, relay and tails %s "+
					"(per plain message %s)", ceiling, fmtValue(us(k.f.pubCPU), "µs"), fmtValue(us(k.f.busCPU), "µs"),
					fmtValue(us(k.f.plainBusCPU), "µs"))})
			b.add(Row{Name: "publishers: acked p99, " + who, Unit: "µs", Value: us(quantile(k.f.lat, 0.99)),
				Floor: us(floorAt(pt.n)), Of: fmt.Sprintf("max(raw fan-out RTT to %d + Ed25519 crypto(%d), p50; N × %s crypto CPU per message / %d cores)",
					loadRecipients, loadRecipients, fmtValue(us(cpu), "µs"), runtime.NumCPU()),
				Note: fmt.Sprintf("p50 %s", fmtValue(us(quantile(k.f.lat, 0.5)), "µs"))})
		}
	}
	b.addCurve(loadThroughputCurve(points))
	b.addCurve(loadLatencyCurve(points, floorAt))
	return nil
}

// loadCPU is the signature work of one acked message to loadRecipients recipients, p50: the
// publisher's sign, and per recipient its verify and ACK sign and the publisher's verify of it.
func loadCPU(f *cryptoFloor) time.Duration {
	return quantile(f.steps[0], 0.5) + loadRecipients*(quantile(f.steps[1], 0.5)+quantile(f.steps[2], 0.5)+
		quantile(f.steps[3], 0.5))
}

// measureLoad starts the relay and the tails, then measures each N with goroutines, then each N
// with processes (so that no logger process is on the bus while the goroutines are measured),
// starting the logger processes each N needs on top of those already running.
func measureLoad(p *procs, k *pki, ns []int, d time.Duration, plainN int) ([]loadPoint, error) {
	defer p.stopAll()
	lb, err := newLoadBus(p, k)
	if err != nil {
		return nil, err
	}
	defer lb.pub.Close()
	points := make([]loadPoint, len(ns))
	for i, n := range ns {
		points[i].n = n
		if points[i].goroutines, err = lb.goroutines(n, d, plainN); err != nil {
			return nil, fmt.Errorf("%d goroutines: %w", n, err)
		}
		step("  %d goroutines: %s", n, points[i].goroutines)
	}
	for i, n := range ns {
		if err := lb.grow(n); err != nil {
			return nil, err
		}
		if points[i].processes, err = lb.processes(n, d, plainN); err != nil {
			return nil, fmt.Errorf("%d processes: %w", n, err)
		}
		step("  %d processes: %s", n, points[i].processes)
	}
	return points, nil
}

// String is the figures as the progress lines show them.
func (f loadFigures) String() string {
	return fmt.Sprintf("%.0f acked msgs/s (plain %.0f), p50 %s, p99 %s; CPU per acked message: publishers %s, relay and tails %s (plain %s)",
		f.acked, f.plain, quantile(f.lat, 0.5).Round(time.Microsecond), quantile(f.lat, 0.99).Round(time.Microsecond),
		f.pubCPU.Round(time.Microsecond), f.busCPU.Round(time.Microsecond), f.plainBusCPU.Round(time.Microsecond))
}

// cpuOf is the CPU time the processes pids have used so far.
func cpuOf(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		d, err := processCPU(pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// busPids are the relay's and the tails'.
func (lb *loadBus) busPids() []int {
	pids := []int{lb.relay}
	for _, t := range lb.tails {
		pids = append(pids, t.pid)
	}
	return pids
}

// cpuPerMessage runs acked (which returns how many messages it sent) and divides the CPU the
// publishers (pubs) and the relay and tails used meanwhile by that count.
func (lb *loadBus) cpuPerMessage(f *loadFigures, pubs []int, acked func() (int, error)) error {
	pub0, err := cpuOf(pubs)
	if err != nil {
		return err
	}
	bus0, err := cpuOf(lb.busPids())
	if err != nil {
		return err
	}
	n, err := acked()
	if err != nil {
		return err
	}
	pub1, err := cpuOf(pubs)
	if err != nil {
		return err
	}
	bus1, err := cpuOf(lb.busPids())
	if err != nil {
		return err
	}
	if n > 0 {
		f.pubCPU, f.busCPU = (pub1-pub0)/time.Duration(n), (bus1-bus0)/time.Duration(n)
	}
	return nil
}

// newLoadBus starts the relay, the acking tails (sub01..) and this process's publisher, and
// warms them with acked publishes naming every tail.
func newLoadBus(p *procs, k *pki) (*loadBus, error) {
	inbound, outbound := freeAddr(), freeAddr()
	conf, err := p.writeConfig(k, "load", fmt.Sprintf("relay_inbound = %q", inbound),
		map[string]string{"relay_outbound": outbound})
	if err != nil {
		return nil, err
	}
	relay, err := p.start(conf, "relay ready", "ackmsg-relay")
	if err != nil {
		return nil, err
	}
	lb := &loadBus{p: p, conf: conf, relay: relay.Process.Pid}
	for i := range loadRecipients {
		out := &lineCounter{}
		// Every topic of the test environment: the bench's messages and the loggers'.
		cmd, err := p.startTo(out, conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", subName(i),
			"--topic", "org.example.test.")
		if err != nil {
			return nil, err
		}
		lb.tails = append(lb.tails, stormTail{pid: cmd.Process.Pid, printed: out})
		lb.names = append(lb.names, subName(i))
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Active, cfg.Certname, cfg.ZMQLinger = config.RelayInboundKey, true, "pub", 0
	if lb.pub, err = config.NewAckPublisher(context.Background(), cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 5 {
		if _, err := lb.pub.Publish(ctx, "order", benchBody, ack.To(lb.names...), ack.Modname(benchModname),
			ack.Within(benchWithin)); err != nil {
			lb.pub.Close()
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	return lb, lb.quiet()
}

// quiet waits until every tail has printed the same count, that count no longer grows and the
// tails' CPU settled, and keeps the count: what a plain run counts from.
func (lb *loadBus) quiet() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := lb.tails[0].printed.n.Load()
		same := true
		for _, t := range lb.tails[1:] {
			same = same && t.printed.n.Load() == c
		}
		if same {
			if _, err := settle(lb.tails, 0); err != nil {
				return err
			}
			if lb.tails[0].printed.n.Load() == c {
				lb.printed = c
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the tails did not settle on one count of printed messages within 30 s")
		}
		time.Sleep(10 * time.Millisecond) // polling counters fed by pipes
	}
}

// goroutines measures N goroutines sharing the publisher: closed-loop acked publishes for d,
// then plainN plain ones split between them.
func (lb *loadBus) goroutines(n int, d time.Duration, plainN int) (loadFigures, error) {
	var f loadFigures
	ctx, cancel := context.WithTimeout(context.Background(), d+2*benchWithin)
	defer cancel()
	lats := make([][]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	err := lb.cpuPerMessage(&f, []int{os.Getpid()}, func() (int, error) {
		start := time.Now()
		for g := range n {
			wg.Go(func() {
				for time.Since(start) < d {
					t0 := time.Now()
					if _, err := lb.pub.Publish(ctx, "order", benchBody, ack.To(lb.names...), ack.Modname(benchModname),
						ack.Within(benchWithin)); err != nil {
						errs[g] = err
						return
					}
					lats[g] = append(lats[g], time.Since(t0))
				}
			})
		}
		wg.Wait()
		f.lat, f.acked = joinLatencies(lats, time.Since(start))
		return len(f.lat), errors.Join(errs...)
	})
	if err != nil {
		return f, err
	}
	if err := lb.quiet(); err != nil {
		return f, err
	}
	f.plain, f.plainBusCPU, err = lb.plainRun(plainN, func() error {
		for g := range n {
			wg.Go(func() {
				for range share(plainN, n, g) {
					if _, err := lb.pub.Publisher().Publish(ctx, "order", benchBody, publisher.Modname(benchModname)); err != nil {
						errs[g] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	return f, err
}

// joinLatencies is every publisher's latencies in one sample, and how many per second that is
// over elapsed.
func joinLatencies(lats [][]time.Duration, elapsed time.Duration) ([]time.Duration, float64) {
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, float64(len(all)) / elapsed.Seconds()
}

// share is publisher g's part of total messages split between n publishers.
func share(total, n, g int) int {
	s := total / n
	if g < total%n {
		s++
	}
	return s
}

// plainRun runs send (which publishes total plain messages) and returns msgs/s from its start
// until every tail printed all of them, and the CPU the relay and the tails used per message.
func (lb *loadBus) plainRun(total int, send func() error) (float64, time.Duration, error) {
	cpu0, err := cpuOf(lb.busPids())
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := send(); err != nil {
		return 0, 0, err
	}
	want := lb.printed + int64(total)
	deadline := time.Now().Add(time.Minute)
	for _, t := range lb.tails {
		for t.printed.n.Load() < want {
			if time.Now().After(deadline) {
				return 0, 0, fmt.Errorf("plain: tail %d printed %d of %d messages in a minute (dropped?)", t.pid,
					t.printed.n.Load()-lb.printed, total)
			}
			time.Sleep(time.Millisecond) // polling a counter fed by a pipe
		}
	}
	rate := float64(total) / time.Since(start).Seconds()
	cpu1, err := cpuOf(lb.busPids())
	if err != nil {
		return 0, 0, err
	}
	return rate, (cpu1 - cpu0) / time.Duration(total), lb.quiet()
}

// loadThroughputCurve is aggregate acked msgs/s over N, each kind next to its plain floor.
func loadThroughputCurve(points []loadPoint) Curve {
	ag := Series{Name: "acked, goroutines sharing one ack.Publisher"}
	pg := Series{Name: "plain, the same goroutines (floor)", Floor: true}
	ap := Series{Name: "acked, ackmsg-logger processes"}
	pp := Series{Name: "plain, the same processes (floor)", Floor: true}
	for _, pt := range points {
		x := float64(pt.n)
		ag.Points = append(ag.Points, Point{x, pt.goroutines.acked})
		pg.Points = append(pg.Points, Point{x, pt.goroutines.plain})
		ap.Points = append(ap.Points, Point{x, pt.processes.acked})
		pp.Points = append(pp.Points, Point{x, pt.processes.plain})
	}
	return Curve{ID: "publishers-throughput", Title: fmt.Sprintf("Aggregate acked msgs/s vs concurrent publishers (%d tails, one relay, Ed25519)", loadRecipients),
		X: "concurrent publishers", Y: "msgs/s", LogX: true, LogY: true, Series: []Series{ag, pg, ap, pp},
		Note: "Each publisher has one acked message outstanding at a time; every message names the 3 tails. " +
			"The floors are the same publishers sending signed messages without ACKs, counted until every tail printed them."}
}

// loadLatencyCurve is acked p50 and p99 over N, both kinds, with the latency floor at N.
func loadLatencyCurve(points []loadPoint, floorAt func(int) time.Duration) Curve {
	g50 := Series{Name: "goroutines p50"}
	g99 := Series{Name: "goroutines p99"}
	p50 := Series{Name: "processes p50"}
	p99 := Series{Name: "processes p99"}
	fl := Series{Name: "floor: max(1-publisher floor, N × crypto CPU / cores)", Floor: true}
	for _, pt := range points {
		x := float64(pt.n)
		g50.Points = append(g50.Points, Point{x, us(quantile(pt.goroutines.lat, 0.5)) / 1e3})
		g99.Points = append(g99.Points, Point{x, us(quantile(pt.goroutines.lat, 0.99)) / 1e3})
		p50.Points = append(p50.Points, Point{x, us(quantile(pt.processes.lat, 0.5)) / 1e3})
		p99.Points = append(p99.Points, Point{x, us(quantile(pt.processes.lat, 0.99)) / 1e3})
		fl.Points = append(fl.Points, Point{x, us(floorAt(pt.n)) / 1e3})
	}
	return Curve{ID: "publishers-latency", Title: fmt.Sprintf("Acked latency vs concurrent publishers (%d tails, one relay, Ed25519)", loadRecipients),
		X: "concurrent publishers", Y: "latency (ms)", LogX: true, LogY: true, Series: []Series{g50, g99, p50, p99, fl}}
}
