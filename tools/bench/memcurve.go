package main

// The memory curves (issue 32), Ed25519 certificates:
//
//   - live heap per acked message in flight, with 1 to 10,000 in flight (inflightMemory: messages
//     to an absent recipient stay in flight, retransmitted); the floor is the signed frame's size,
//     what the message must hold at least, and issue 32's target is frame + 4 KB;
//   - the resident set of one recipient process (ackmsg-tail --ack) fed acked messages at a
//     paced rate, read from /proc/<pid>/status, next to the same process idle (connected and
//     warmed, before the first rate).

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
)

var (
	inflightCounts      = []int{1, 10, 100, 1000, 10000}
	inflightCountsQuick = []int{10, 1000}
	rssRates            = []int{100, 1000, 5000}
	rssRatesQuick       = []int{100, 1000}
)

// memoryCurves measures both curves and adds their rows and charts.
func (b *bench) memoryCurves() error {
	if err := b.inflightCurve(); err != nil {
		return err
	}
	return b.rssCurve()
}

// inflightCurve is the live heap per in-flight message at each count, on one bus whose
// ack_max_in_flight admits the largest.
func (b *bench) inflightCurve() error {
	counts := inflightCounts
	if b.quick {
		counts = inflightCountsQuick
	}
	top := counts[len(counts)-1]
	b.section("Memory curve: live heap per acked message in flight vs messages in flight (Ed25519, to an absent recipient)")
	bu, err := newBusWith(b.ed, 1, func(c *config.Config) { c.AckMaxInFlight = top })
	if err != nil {
		return err
	}
	defer bu.close()
	frame := float64(len(b.edMsgFrame))
	heap := Series{Name: "live heap per in-flight acked message"}
	floor := Series{Name: "the signed frame (floor)", Floor: true}
	for _, n := range counts {
		// A few messages move the heap by less than its noise: small counts are measured in
		// several rounds and the median kept.
		rounds := clamp(1000/n, 1, 20)
		step("heap per in-flight message, %d in flight, %d round(s)", n, rounds)
		var per []float64
		for range rounds {
			v, err := inflightMemory(bu, n)
			if err != nil {
				return fmt.Errorf("%d in flight: %w", n, err)
			}
			per = append(per, v)
		}
		slices.Sort(per)
		v := per[len(per)/2]
		r := b.add(Row{Name: fmt.Sprintf("live heap per in-flight acked message, %d in flight, Ed25519", n), Unit: "B",
			Value: v, Floor: frame, Of: "the signed frame's size"})
		if rounds > 1 {
			r.Note = fmt.Sprintf("median of %d rounds (%.0f to %.0f B)", rounds, per[0], per[len(per)-1])
		}
		if n == top {
			target(r, "≤ frame + 4 KB", v <= frame+4096)
		}
		heap.Points = append(heap.Points, Point{float64(n), v})
		floor.Points = append(floor.Points, Point{float64(n), frame})
	}
	b.addCurve(Curve{ID: "memory-inflight", Title: "Live heap per acked message in flight vs messages in flight (Ed25519)",
		X: "acked messages in flight", Y: "heap per message (bytes)", LogX: true, Series: []Series{heap, floor},
		Note: fmt.Sprintf("Messages to an absent recipient stay in flight (retransmitted); the heap after a GC with them, "+
			"minus the heap after a GC without, per message. Issue 32's target is the frame + 4 KB (%.0f B).", frame+4096)})
	return nil
}

// rssCurve feeds one ackmsg-tail --ack process acked messages at each rate in turn and reads its
// resident set after each.
func (b *bench) rssCurve() error {
	rates, d := rssRates, 2*time.Second
	if b.quick {
		rates, d = rssRatesQuick, time.Second
	}
	b.section("Memory curve: resident set of a recipient process (ackmsg-tail --ack, Ed25519) vs acked msgs/s it is fed")
	step("recipient RSS at %v msgs/s, %s each", rates, d)
	pts, idle, err := recipientRSS(b.p, b.ed, rates, d)
	if err != nil {
		return err
	}
	rss := Series{Name: "VmRSS after the rate"}
	hwm := Series{Name: "VmHWM (peak so far)"}
	floor := Series{Name: "VmRSS idle, connected and warmed (floor)", Floor: true}
	for _, pt := range pts {
		b.add(Row{Name: fmt.Sprintf("recipient RSS fed %d acked msgs/s", pt.rate), Unit: "KB", Value: pt.rss, Floor: idle,
			Of: "the same process idle", Note: fmt.Sprintf("%.0f msgs/s achieved, peak VmHWM %.0f KB", pt.achieved, pt.hwm)})
		x := math.Round(pt.achieved)
		rss.Points = append(rss.Points, Point{x, pt.rss / 1024})
		hwm.Points = append(hwm.Points, Point{x, pt.hwm / 1024})
		floor.Points = append(floor.Points, Point{x, idle / 1024})
	}
	b.addCurve(Curve{ID: "memory-rss", Title: "Resident set of a recipient process (ackmsg-tail --ack) vs acked msgs/s it is fed",
		X: "acked msgs/s achieved", Y: "resident set (MB)", LogX: true, Series: []Series{rss, floor, hwm},
		Note: "One process, rates in increasing order, each for a few seconds; a Go process returns memory to the " +
			"system lazily, so each point includes what the earlier rates left."})
	return nil
}

// rssPoint is one rate: asked, achieved, and the process's VmRSS and VmHWM after it, in KB.
type rssPoint struct {
	rate               int
	achieved, rss, hwm float64
}

// recipientRSS starts one acking ackmsg-tail (sub01, binding its own endpoint) and, for each rate,
// publishes acked messages to it paced at that rate for d, waits for every ACK and reads its
// memory; idle is its VmRSS after the warm-up.
func recipientRSS(p *procs, k *pki, rates []int, d time.Duration) ([]rssPoint, float64, error) {
	defer p.stopAll()
	eps := map[string]string{"pub.host": freeAddr(), subName(0) + ".host": freeAddr()}
	conf, err := p.writeConfig(k, "rss", "", eps)
	if err != nil {
		return nil, 0, err
	}
	cmd, err := p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", subName(0),
		"--name", subName(0)+".host", "--topic", benchTopic)
	if err != nil {
		return nil, 0, err
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, 0, err
	}
	cfg.Name, cfg.Certname, cfg.ZMQLinger = "pub.host", "pub", 0
	pub, err := config.NewAckPublisher(context.Background(), cfg)
	if err != nil {
		return nil, 0, err
	}
	defer pub.Close()
	bu := &bus{pub: pub, names: []string{subName(0)}}
	for range 20 {
		if err := bu.publish(); err != nil {
			return nil, 0, err
		}
	}
	idle, _, err := procMemory(cmd.Process.Pid)
	if err != nil {
		return nil, 0, err
	}
	var pts []rssPoint
	for _, rate := range rates {
		achieved, err := pacedAcked(bu, rate, d)
		if err != nil {
			return nil, 0, fmt.Errorf("%d msgs/s: %w", rate, err)
		}
		rss, hwm, err := procMemory(cmd.Process.Pid)
		if err != nil {
			return nil, 0, err
		}
		step("  %d msgs/s asked, %.0f achieved: VmRSS %.0f KB, VmHWM %.0f KB (idle %.0f KB)", rate, achieved, rss, hwm, idle)
		pts = append(pts, rssPoint{rate, achieved, rss, hwm})
	}
	return pts, idle, nil
}

// pacedAcked publishes acked messages (PublishAsync) at rate msgs/s for d, in batches every
// 10 ms, and returns the msgs/s achieved: every message ACKed, over the time until the last ACK.
func pacedAcked(bu *bus, rate int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+2*benchWithin)
	defer cancel()
	var fs []*ack.Future
	start := time.Now()
	for sent := 0; time.Since(start) < d; {
		// A recipient that does not keep up blocks PublishAsync (ack_max_in_flight): the batch
		// ends with the period, not with what was due.
		for due := int(float64(rate) * time.Since(start).Seconds()); sent < due && time.Since(start) < d; sent++ {
			f, err := bu.pub.PublishAsync(ctx, "order", bu.message(), ack.To(bu.names...),
				ack.Modname(benchModname), ack.Within(benchWithin))
			if err != nil {
				return 0, err
			}
			fs = append(fs, f)
		}
		time.Sleep(10 * time.Millisecond) // the pace itself: a batch per tick
	}
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			return 0, err
		}
	}
	return float64(len(fs)) / time.Since(start).Seconds(), nil
}

// procMemory reads VmRSS and VmHWM (KB) of a process from /proc/<pid>/status.
func procMemory(pid int) (rss, hwm float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: %q", pid, l)
		}
		n, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return rss, hwm, nil
}
