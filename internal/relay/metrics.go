package relay

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
	descForwarded = prometheus.NewDesc("ackmsg_relay_messages_forwarded_total",
		"Messages forwarded from relay_inbound to relay_outbound.", nil, nil)
	descDropped = prometheus.NewDesc("ackmsg_relay_messages_dropped_total",
		"Inbound messages not forwarded, by reason (frames: not two frames; oversize: a frame above max_frame_size; "+
			"unauthorized: routing_policy does not allow the CURVE-authenticated sender this topic).", []string{"reason"}, nil)
	descRefused = prometheus.NewDesc("ackmsg_relay_handshakes_refused_total",
		"CURVE handshakes refused on the relay's sockets, by reason (unknown_key, untrusted, revoked, expired, crl, not_allowed, no_keys; handshake: the client does not speak CURVE).", []string{"reason"}, nil)
	descReady = prometheus.NewDesc("ackmsg_relay_ready",
		"1 when the relay's sockets are bound and it is not stopping.", nil, nil)
)

// dropReasons are the reasons check gives, reported at 0 before the first drop.
var dropReasons = []string{"frames", "oversize", "unauthorized"}

// refusals is what the relay's CURVE keys (certs.CurveKeys) report about refused handshakes.
type refusals interface{ Refused() map[string]uint64 }

// Ready reports whether the relay forwards: its sockets are bound (New succeeded) and Run has
// not stopped.
func (r *Relay) Ready() bool { return !r.stopping.Load() }

// Describe implements prometheus.Collector.
func (r *Relay) Describe(ch chan<- *prometheus.Desc) {
	ch <- descForwarded
	ch <- descDropped
	ch <- descReady
	ch <- descRefused
}

// Collect implements prometheus.Collector: the counters are read at scrape time.
func (r *Relay) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(r.Forwarded()))
	counts := r.drops.Counts()
	for _, reason := range dropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(counts[reason]), reason)
	}
	if k, ok := r.keys.(refusals); ok {
		counts := k.Refused()
		for _, reason := range certs.RefusedReasons {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(counts[reason]), reason)
		}
	}
	ready := 0.0
	if r.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}

// serveHTTP serves /live, /ready and /metrics on addr.
func (r *Relay) serveHTTP(addr string) (*ops.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(r, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: r.log, Ready: func(context.Context) error {
		if !r.Ready() {
			return errors.New("stopping")
		}
		return nil
	}})
	if err != nil {
		return nil, fmt.Errorf("relay.http_address: %w", err)
	}
	r.log.Info("http endpoint ready", "addr", s.Addr().String())
	return s, nil
}
