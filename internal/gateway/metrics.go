package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/ops"
)

var (
	descForwarded = prometheus.NewDesc("ackmsg_gateway_messages_forwarded_total",
		"Bus messages re-published on the gateway's outward socket.", nil, nil)
	descDropped = prometheus.NewDesc("ackmsg_gateway_messages_dropped_total",
		"Bus messages not re-published, by reason (frames: not two frames; oversize: a frame above max_frame_size; "+
			"topic: matches no gateway.topics pattern; invalid: not an envelope of its topic and signature: does not validate, "+
			"with gateway.validate_signatures).", []string{"reason"}, nil)
	descRefused = prometheus.NewDesc("ackmsg_gateway_handshakes_refused_total",
		"CURVE handshakes refused on the gateway's outward socket, by reason (unknown_key, untrusted, revoked, expired, crl, not_allowed, no_keys; handshake: the client does not speak CURVE).", []string{"reason"}, nil)
	descReady = prometheus.NewDesc("ackmsg_gateway_ready",
		"1 when the gateway's sockets are bound and it is not stopping.", nil, nil)
)

// dropReasons are the reasons check gives, reported at 0 before the first drop.
var dropReasons = []string{"frames", "oversize", "topic", "invalid", "signature"}

// refusals is what the outward CURVE keys (certs.CurveKeys) report about refused handshakes.
type refusals interface{ Refused() map[string]uint64 }

// Ready reports whether the gateway forwards: its sockets are bound (New succeeded) and Run has
// not stopped.
func (g *Gateway) Ready() bool { return !g.stopping.Load() }

// Describe implements prometheus.Collector.
func (g *Gateway) Describe(ch chan<- *prometheus.Desc) {
	ch <- descForwarded
	ch <- descDropped
	ch <- descReady
	ch <- descRefused
}

// Collect implements prometheus.Collector: the counters are read at scrape time.
func (g *Gateway) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(g.Forwarded()))
	counts := g.drops.Counts()
	for _, reason := range dropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(counts[reason]), reason)
	}
	if k, ok := g.keys.(refusals); ok {
		counts := k.Refused()
		for _, reason := range certs.RefusedReasons {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(counts[reason]), reason)
		}
	}
	ready := 0.0
	if g.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}

// serveHTTP serves /live, /ready and /metrics on addr.
func (g *Gateway) serveHTTP(addr string) (*ops.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(g, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: g.log, Ready: func(context.Context) error {
		if !g.Ready() {
			return errors.New("stopping")
		}
		return nil
	}})
	if err != nil {
		return nil, fmt.Errorf("gateway.http_address: %w", err)
	}
	g.log.Info("http endpoint ready", "addr", s.Addr().String())
	return s, nil
}
