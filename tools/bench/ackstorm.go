package main

// The ACK-storm curve (issue 32 item 0): acked publish latency and the CPU all consumers spend
// per publish, with 1, 10 and 50 acking consumer processes (ackmsg-tail --ack, every topic, on
// one relay) and messages that name one recipient. With gilmsg's protocol every acking consumer
// ACKs every marked message and every consumer verifies every ACK: work per publish grows with
// the square of the consumers. The floors at each N are a plain publish to the same processes:
// what they spend receiving, verifying and printing the message itself (CPU), and how long the
// named recipient takes to print it (latency): with N tails verifying and printing every message
// on this machine's cores, no ACK protocol can make the acked publish faster than that.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/publisher"
)

// stormConsumers are the points of the curve: acking consumer processes on the bus.
var stormConsumers = []int{1, 10, 50}

// stormPoint is one point: n acking consumers, messages naming sub01 only.
type stormPoint struct {
	n                  int
	lat                []time.Duration // acked publish, one at a time
	plainLat           []time.Duration // plain publish until sub01 printed it, one at a time
	ackedCPU, plainCPU time.Duration   // all consumers' CPU per publish: acked, and plain (the floor)
	acksPerPublish     float64         // ACK frames the publisher's listener heard per publish
}

// lineCounter counts the lines a process writes (one per message printed with --json).
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// stormTail is a running ackmsg-tail --ack.
type stormTail struct {
	pid     int
	printed *lineCounter
	base    int64 // printed when the current point's count started
}

// processCPU is the CPU time a process has used: the sum over its threads of
// /proc/<pid>/task/<tid>/schedstat's first field (nanoseconds on a CPU), finer than the clock
// ticks of /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no schedstat for pid %d (%v)", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that exited
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

func tailsCPU(tails []stormTail) (time.Duration, error) {
	var total time.Duration
	for _, t := range tails {
		d, err := processCPU(t.pid)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// settle waits until every tail printed want messages, then until their CPU stops growing (the
// ACKs that follow the last message are handled): less than 200 µs in 100 ms, at most 5 s.
func settle(tails []stormTail, want int64) (time.Duration, error) {
	deadline := time.Now().Add(30 * time.Second)
	for _, t := range tails {
		for t.printed.n.Load()-t.base < want {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("tail %d printed %d of %d messages in 30 s", t.pid, t.printed.n.Load()-t.base, want)
			}
			time.Sleep(2 * time.Millisecond) // polling a counter fed by a pipe
		}
	}
	last, err := tailsCPU(tails)
	if err != nil {
		return 0, err
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond) // sampling CPU time; nothing to synchronise with
		now, err := tailsCPU(tails)
		if err != nil {
			return 0, err
		}
		if now-last < 200*time.Microsecond {
			return now, nil
		}
		last = now
	}
	return last, nil
}

// ackStorm measures the curve: it starts a relay, then adds acking tails (sub01..) up to each
// point of ns, and at each point times samples acked publishes naming sub01 and measures the
// tails' CPU per publish, acked and plain.
func ackStorm(p *procs, k *pki, ns []int, samples int) ([]stormPoint, error) {
	defer p.stopAll()
	inbound, outbound := freeAddr(), freeAddr()
	conf, err := p.writeConfig(k, "storm", fmt.Sprintf("relay_inbound = %q", inbound),
		map[string]string{"relay_outbound": outbound})
	if err != nil {
		return nil, err
	}
	if _, err := p.start(conf, "relay ready", "ackmsg-relay"); err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Active, cfg.Certname, cfg.ZMQLinger = config.RelayInboundKey, true, "pub", 0
	pub, err := config.NewAckPublisher(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	defer pub.Close()

	st := &storm{p: p, conf: conf, pub: pub}
	var points []stormPoint
	for _, n := range ns {
		if err := st.grow(n); err != nil {
			return nil, err
		}
		pt, err := st.point(n, samples)
		if err != nil {
			return nil, err
		}
		step("  %d acking tails: acked p50 %s (plain %s), CPU per publish acked %s, plain %s, %.1f ACKs per publish",
			n, quantile(pt.lat, 0.5).Round(time.Microsecond), quantile(pt.plainLat, 0.5).Round(time.Microsecond),
			pt.ackedCPU.Round(time.Microsecond),
			pt.plainCPU.Round(time.Microsecond), pt.acksPerPublish)
		points = append(points, pt)
	}
	return points, nil
}

// storm is the curve's bus: the relay's config, the publisher and the acking tails so far.
type storm struct {
	p     *procs
	conf  string
	pub   *ack.Publisher
	tails []stormTail
}

// grow starts acking tails (sub01..) until there are n.
func (s *storm) grow(n int) error {
	for i := len(s.tails); i < n; i++ {
		out := &lineCounter{}
		cmd, err := s.p.startTo(out, s.conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", subName(i))
		if err != nil {
			return err
		}
		s.tails = append(s.tails, stormTail{pid: cmd.Process.Pid, printed: out})
	}
	return nil
}

// point measures one point with n tails: samples plain publishes, then samples acked ones
// naming sub01, and the tails' CPU per publish for each.
func (s *storm) point(n, samples int) (stormPoint, error) {
	pt := stormPoint{n: n}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.warmUp(ctx, n); err != nil {
		return pt, err
	}
	cpu0, err := tailsCPU(s.tails)
	if err != nil {
		return pt, err
	}
	cpu1, plainLat, err := s.plain(ctx, samples)
	if err != nil {
		return pt, err
	}
	pt.plainLat = plainLat
	pt.plainCPU = (cpu1 - cpu0) / time.Duration(samples)

	heard := s.pub.Stats().AcksReceived
	for range samples {
		t0 := time.Now()
		_, err := s.pub.Publish(ctx, "order", benchBody, ack.To(subName(0)), ack.Modname(benchModname), ack.Within(benchWithin))
		if err != nil {
			return pt, fmt.Errorf("acked publish with %d tails: %w", n, err)
		}
		pt.lat = append(pt.lat, time.Since(t0))
	}
	cpu2, err := settle(s.tails, int64(2*samples)) // the plain messages and the acked ones
	if err != nil {
		return pt, err
	}
	pt.ackedCPU = (cpu2 - cpu1) / time.Duration(samples)
	pt.acksPerPublish = float64(s.pub.Stats().AcksReceived-heard) / float64(samples)
	return pt, nil
}

// warmUp sends acked publishes naming every one of the n tails, then, once the bus is quiet,
// starts each tail's count of the point's messages from what it printed.
func (s *storm) warmUp(ctx context.Context, n int) error {
	// A tail that joined misses what was sent before its subscription reached the relay:
	// warm up with acked publishes naming every tail (retransmitted until each has it).
	var names []string
	for i := range n {
		names = append(names, subName(i))
	}
	for range 3 {
		if _, err := s.pub.Publish(ctx, "order", benchBody, ack.To(names...), ack.Modname(benchModname), ack.Within(benchWithin)); err != nil {
			return fmt.Errorf("warm-up with %d tails: %w", n, err)
		}
	}
	// Every tail printed the warm-ups before ACKing them; once the bus is quiet, what they
	// printed is counted, and the point's messages are counted from there.
	if _, err := settle(s.tails, 0); err != nil {
		return err
	}
	for i := range s.tails {
		s.tails[i].base = s.tails[i].printed.n.Load()
	}
	return nil
}

// plain sends samples plain publishes, the message alone, paced by sub01's printing each (as
// the acked ones are by its ACK); it returns the tails' CPU once they settled, and each publish's
// latency until sub01 printed it (its line read from the pipe, polled every 50 µs).
func (s *storm) plain(ctx context.Context, samples int) (time.Duration, []time.Duration, error) {
	lat := make([]time.Duration, 0, samples)
	for sent := int64(1); sent <= int64(samples); sent++ {
		t0 := time.Now()
		if _, err := s.pub.Publisher().Publish(ctx, "order", benchBody, publisher.Modname(benchModname)); err != nil {
			return 0, nil, err
		}
		for deadline := time.Now().Add(30 * time.Second); s.tails[0].printed.n.Load()-s.tails[0].base < sent; {
			if time.Now().After(deadline) {
				return 0, nil, fmt.Errorf("sub01 did not print a plain message in 30 s")
			}
			time.Sleep(50 * time.Microsecond) // polling a counter fed by a pipe
		}
		lat = append(lat, time.Since(t0))
	}
	cpu, err := settle(s.tails, int64(samples))
	return cpu, lat, err
}

// stormRows are the curve's rows: at each N, acked p50 and p99 against the one-consumer p50,
// the consumers' CPU per publish against the one-consumer case and against the plain publish to
// the same processes, the ACKs per publish, and the acked p50 against a plain publish's latency
// to the named recipient with the same tails running.
func stormRows(points []stormPoint) []Row {
	if len(points) == 0 {
		return nil
	}
	one := points[0]
	p50One := us(quantile(one.lat, 0.5))
	cpuOne := us(one.ackedCPU)
	var rows []Row
	for _, pt := range points {
		p50, p99 := us(quantile(pt.lat, 0.5)), us(quantile(pt.lat, 0.99))
		who := fmt.Sprintf("%d acking tails, 1 named", pt.n)
		r50 := Row{Name: "ACK storm: acked p50, " + who, Unit: "µs", Value: p50, Floor: p50One,
			Of:   fmt.Sprintf("acked p50 with %d acking tail", one.n),
			Note: fmt.Sprintf("a plain publish to sub01 with the same tails: p50 %.0f µs", us(quantile(pt.plainLat, 0.5)))}
		cpu := Row{Name: "ACK storm: consumers' CPU per publish, " + who, Unit: "µs", Value: us(pt.ackedCPU), Floor: cpuOne,
			Of: fmt.Sprintf("the same with %d acking tail", one.n), Note: fmt.Sprintf("%.1f ACKs on the bus per publish", pt.acksPerPublish)}
		if pt.n == 50 {
			ok50, okCPU := p50 <= 1.2*p50One, us(pt.ackedCPU) <= 2*cpuOne
			r50.Target, r50.Met = "≤ 1.2× the 1-consumer p50", &ok50
			cpu.Target, cpu.Met = "≤ 2× the 1-consumer CPU", &okCPU
			// What bounds both: the plain publish to the same tails, no ACK at all.
			r50.Note += fmt.Sprintf(", %.1f× the 1-consumer acked p50", us(quantile(pt.plainLat, 0.5))/p50One)
			cpu.Note += fmt.Sprintf("; a plain publish to the same tails costs them %.0f µs, %.1f× the 1-consumer acked CPU",
				us(pt.plainCPU), us(pt.plainCPU)/cpuOne)
		}
		rows = append(rows, r50,
			Row{Name: "ACK storm: acked p99, " + who, Unit: "µs", Value: p99, Floor: p50One,
				Of: fmt.Sprintf("acked p50 with %d acking tail", one.n)},
			cpu,
			Row{Name: "ACK storm: consumers' CPU per publish vs plain publish, " + who, Unit: "µs", Value: us(pt.ackedCPU),
				Floor: us(pt.plainCPU), Of: "a plain publish to the same tails (each verifies and prints the message)"},
			Row{Name: "ACK storm: acked p50 vs plain publish p50, " + who, Unit: "µs", Value: p50,
				Floor: us(quantile(pt.plainLat, 0.5)), Of: "a plain publish until sub01 printed it, the same tails running " +
					"(each verifies and prints every message): the floor no ACK protocol lowers"})
	}
	for i := range rows {
		if rows[i].Floor > 0 {
			rows[i].Ratio = rows[i].Value / rows[i].Floor
		}
	}
	return rows
}

// runAckStorm is -only ackstorm: the curve alone, with the commands built from root (so that
// the tails of another checkout can be measured with this publisher).
func runAckStorm(isQuick bool, root string) (*Results, error) {
	start := time.Now()
	res := newResults(start, isQuick)
	tmp, err := os.MkdirTemp("", "ackmsg-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	p := &procs{bin: filepath.Join(tmp, "bin"), dir: tmp}
	if err := buildCommands(root, p.bin); err != nil {
		return nil, fmt.Errorf("building the commands: %w", err)
	}
	rows, curves, err := stormCurve(p, tmp, isQuick)
	if err != nil {
		return nil, err
	}
	res.Sections[0] = stormSection
	res.Rows, res.Curves = rows, curves
	res.Seconds = time.Since(start).Seconds()
	res.Machine["load average at end"] = loadavg()
	return res, nil
}

const stormSection = "ACK storm: N acking ackmsg-tail processes (Ed25519, every topic, one relay), messages naming one recipient"

// stormCurve issues the Ed25519 PKI of the curve under dir and measures it: its rows, and its
// charts.
func stormCurve(p *procs, dir string, isQuick bool) ([]Row, []Curve, error) {
	samples := 100
	if isQuick {
		samples = 20
	}
	n := stormConsumers[len(stormConsumers)-1]
	step("ACK storm: Ed25519 PKI with %d consumers; %d acked and %d plain publishes at each of %v acking tails",
		n, samples, samples, stormConsumers)
	k, err := newPKI(filepath.Join(dir, "pki-storm"), certs.KeyEd25519, n)
	if err != nil {
		return nil, nil, err
	}
	points, err := ackStorm(p, k, stormConsumers, samples)
	if err != nil {
		return nil, nil, err
	}
	return stormRows(points), stormCharts(points), nil
}

// stormCharts are the curve's charts: acked latency over the number of acking consumers (the
// floor is the one-consumer p50), and the consumers' CPU per publish next to a plain publish to
// the same processes.
func stormCharts(points []stormPoint) []Curve {
	if len(points) == 0 {
		return nil
	}
	var p50, p99, one, plainLat, cpu, plain Series
	p50.Name, p99.Name = "acked p50", "acked p99"
	plainLat.Name, plainLat.Floor = "plain publish p50 until sub01 printed it, same tails (floor)", true
	one.Name, one.Floor = "acked p50 with 1 acking tail (target: ≤ 1.2×)", true
	cpu.Name = "all consumers' CPU per acked publish"
	plain.Name, plain.Floor = "the same for a plain publish (floor)", true
	for _, pt := range points {
		x := float64(pt.n)
		p50.Points = append(p50.Points, Point{x, us(quantile(pt.lat, 0.5)) / 1e3})
		p99.Points = append(p99.Points, Point{x, us(quantile(pt.lat, 0.99)) / 1e3})
		one.Points = append(one.Points, Point{x, us(quantile(points[0].lat, 0.5)) / 1e3})
		plainLat.Points = append(plainLat.Points, Point{x, us(quantile(pt.plainLat, 0.5)) / 1e3})
		cpu.Points = append(cpu.Points, Point{x, us(pt.ackedCPU) / 1e3})
		plain.Points = append(plain.Points, Point{x, us(pt.plainCPU) / 1e3})
	}
	return []Curve{
		{ID: "ackstorm-latency", Title: "ACK storm: acked publish latency vs acking consumers on the bus (1 named recipient, Ed25519)",
			X: "acking ackmsg-tail processes on the bus", Y: "latency (ms)", LogX: true, Series: []Series{p50, one, plainLat, p99}},
		{ID: "ackstorm-cpu", Title: "ACK storm: CPU all consumers spend per publish vs acking consumers (1 named recipient)",
			X: "acking ackmsg-tail processes on the bus", Y: "CPU per publish (ms)", LogX: true, Series: []Series{cpu, plain}},
	}
}
