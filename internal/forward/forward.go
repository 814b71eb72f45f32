// Package forward is what the relay and the gateway share: a loop that reads messages from a SUB
// socket and re-publishes them, byte for byte, on a PUB socket, dropping and counting (by reason,
// with a rate-limited warning) what a check refuses, and the /live, /ready and /metrics endpoint
// that reports it. The relay and the gateway differ only in their sockets and their checks.
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/ops"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/ratelog"
)

// Spec is what differs between two forwarders.
type Spec struct {
	// Name is the command's word: its metrics are ackmsg_<Name>_..., its log lines "<Name> ...".
	Name string
	// Side names the reading side in logs and errors ("inbound", "bus").
	Side string
	// Help are the metrics' help texts: forwarded, dropped (naming every reason) and refused
	// handshakes.
	ForwardedHelp, DroppedHelp, RefusedHelp string
	// Reasons are the reasons Check gives, reported at 0 before the first drop.
	Reasons []string
	// Check says why a message must not be forwarded (a reason of Reasons and a detail), or "".
	Check func(zsock.Inbound) (reason, detail string)
	// Keys are the CURVE keys whose refused handshakes the metrics report (certs.CurveKeys), or
	// nil without CURVE.
	Keys any
}

// Forwarder is a running forwarder: it owns the context and both sockets from New on.
type Forwarder struct {
	spec Spec
	log  *slog.Logger
	zctx *zmq.Context
	in   *zsock.Sub
	out  *zsock.Pub

	forwarded atomic.Uint64
	drops     *ratelog.Limiter
	stopping  atomic.Bool
	http      *ops.Server // nil until Serve

	descForwarded, descDropped, descRefused, descReady *prometheus.Desc
}

// New is a forwarder from in to out; Run forwards, and Close (or the end of Run) closes the
// sockets and terminates zctx.
func New(spec Spec, log *slog.Logger, zctx *zmq.Context, in *zsock.Sub, out *zsock.Pub) *Forwarder {
	metric := func(name string) string { return "ackmsg_" + spec.Name + "_" + name }
	return &Forwarder{spec: spec, log: log, zctx: zctx, in: in, out: out, drops: ratelog.New(log, time.Second),
		descForwarded: prometheus.NewDesc(metric("messages_forwarded_total"), spec.ForwardedHelp, nil, nil),
		descDropped:   prometheus.NewDesc(metric("messages_dropped_total"), spec.DroppedHelp, []string{"reason"}, nil),
		descRefused:   prometheus.NewDesc(metric("handshakes_refused_total"), spec.RefusedHelp, []string{"reason"}, nil),
		descReady: prometheus.NewDesc(metric("ready"),
			"1 when the "+spec.Name+"'s sockets are bound and it is not stopping.", nil, nil),
	}
}

// CheckFrames is the check every forwarder makes first: exactly two frames (topic and body), none
// above maxFrame bytes (0: no limit).
func CheckFrames(frames [][]byte, maxFrame int) (reason, detail string) {
	if len(frames) != 2 {
		return "frames", fmt.Sprintf("%d frames, want 2", len(frames))
	}
	for _, f := range frames {
		if maxFrame > 0 && len(f) > maxFrame {
			return "oversize", fmt.Sprintf("frame of %d bytes exceeds max_frame_size %d", len(f), maxFrame)
		}
	}
	return "", ""
}

// Run forwards until ctx is done, then closes the sockets. A PUB never blocks: at a
// subscriber's high-water mark libzmq drops for that subscriber.
func (f *Forwarder) Run(ctx context.Context) error {
	defer f.Close()
	for {
		msg, err := f.in.Recv(ctx)
		if err != nil {
			f.stopping.Store(true)
			if ctx.Err() != nil {
				f.log.Info(f.spec.Name+" stopping", "forwarded", f.forwarded.Load(), "dropped", f.Dropped())
				return nil
			}
			return fmt.Errorf("%s: %s: %w", f.spec.Name, f.spec.Side, err)
		}
		if reason, detail := f.spec.Check(msg); reason != "" {
			attrs := []any{"detail", detail, "endpoint", msg.Endpoint.Name}
			if msg.UserID != "" {
				attrs = append(attrs, "sender", msg.UserID)
			}
			f.drops.Warn(reason, "dropped "+f.spec.Side+" message", attrs...)
			continue
		}
		if err := f.out.Send(msg.Frames...); err != nil {
			return fmt.Errorf("%s: forward: %w", f.spec.Name, err)
		}
		f.forwarded.Add(1)
	}
}

// Forwarded counts messages re-published.
func (f *Forwarder) Forwarded() uint64 { return f.forwarded.Load() }

// Dropped counts messages read and not forwarded.
func (f *Forwarder) Dropped() uint64 {
	var n uint64
	for _, c := range f.drops.Counts() {
		n += c
	}
	return n
}

// DropCounts counts the messages not forwarded, by reason.
func (f *Forwarder) DropCounts() map[string]uint64 { return f.drops.Counts() }

// Refused counts the CURVE handshakes Spec.Keys refused, by reason; nil without CURVE keys.
func (f *Forwarder) Refused() map[string]uint64 {
	if k, ok := f.spec.Keys.(refusals); ok {
		return k.Refused()
	}
	return nil
}

// Ready reports whether it forwards: its sockets are bound (New succeeded) and Run has not
// stopped.
func (f *Forwarder) Ready() bool { return !f.stopping.Load() }

// Close stops the HTTP endpoint, closes both sockets and terminates the context. Run calls it
// when it ends; call it yourself only when Run was never started.
func (f *Forwarder) Close() {
	f.stopping.Store(true)
	if f.http != nil {
		if err := f.http.Close(); err != nil {
			f.log.Warn("http endpoint shutdown", "error", err)
		}
	}
	f.in.Close()
	f.out.Close()
	f.zctx.Term()
}

// refusals is what CURVE keys (certs.CurveKeys) report about refused handshakes.
type refusals interface{ Refused() map[string]uint64 }

// Describe implements prometheus.Collector.
func (f *Forwarder) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.descForwarded
	ch <- f.descDropped
	ch <- f.descReady
	ch <- f.descRefused
}

// Collect implements prometheus.Collector: the counters are read at scrape time.
func (f *Forwarder) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(f.descForwarded, prometheus.CounterValue, float64(f.Forwarded()))
	counts := f.drops.Counts()
	for _, reason := range f.spec.Reasons {
		ch <- prometheus.MustNewConstMetric(f.descDropped, prometheus.CounterValue, float64(counts[reason]), reason)
	}
	if _, ok := f.spec.Keys.(refusals); ok {
		counts := f.Refused()
		for _, reason := range certs.RefusedReasons {
			ch <- prometheus.MustNewConstMetric(f.descRefused, prometheus.CounterValue, float64(counts[reason]), reason)
		}
	}
	ready := 0.0
	if f.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(f.descReady, prometheus.GaugeValue, ready)
}

// Serve serves /live, /ready and /metrics on addr (key names the setting in errors); the
// endpoint stops with Close.
func (f *Forwarder) Serve(addr, key string) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(f, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: f.log, Ready: func(context.Context) error {
		if !f.Ready() {
			return errors.New("stopping")
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	f.http = s
	f.log.Info("http endpoint ready", "addr", s.Addr().String())
	return nil
}
