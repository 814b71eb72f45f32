package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/ops"
	"github.com/ackmsg/ackmsg/replay"
)

// busStats is what the hub's subscription counted: valid messages, invalid ones by reason, and
// for an acking hub the ACKs.
type busStats struct {
	Dropped                                         map[string]uint64
	Acked, Reacked, Duplicates, AckErrors, AcksSeen uint64
	acking                                          bool
	Replay                                          replay.TrackerStats
}

// metrics exposes a hub's counters to Prometheus. Counters are read from the hub's Stats at
// scrape time; only processing times are observed as they happen.
type metrics struct {
	reg     *prometheus.Registry
	hub     func() consumer.HubStats
	bus     func() busStats
	ready   func() bool
	seconds *prometheus.HistogramVec
}

var (
	descReceived   = desc("messages_received_total", "Valid messages read from the bus (after validation).")
	descInvalid    = desc("messages_invalid_total", "Messages dropped before reaching any consumer, by reason (bad frames, JSON, signature, ...).", "reason")
	descUnmatched  = desc("messages_unmatched_total", "Valid messages that matched no consumer's topics: not processed, not ACKed.")
	descDuplicates = desc("messages_duplicates_total", "Retransmissions and duplicates not processed again (re-ACKed when already processed).")
	descCompleted  = desc("messages_completed_total", "Messages processed by every consumer the ACK waits for.")
	descIncomplete = desc("messages_incomplete_total", "Deliveries not completed (a consumer failed, an inbox dropped it, shutdown): not ACKed.")
	descPoison     = desc("messages_poison_total", "Messages given up after hub.max_attempts failed deliveries.")
	descAcked      = desc("acks_sent_total", "ACKs sent.")
	descReacked    = desc("acks_resent_total", "ACKs re-sent for retransmissions of messages already processed.")
	descAckErrors  = desc("ack_errors_total", "ACKs that could not be sent (the publisher retransmits, and the hub ACKs again).")
	descAcksSeen   = desc("acks_seen_total", "ACK messages received from the bus (this hub's and others'): overlay traffic, never given to consumers.")
	descGaps       = desc("replay_gaps_total", "Gaps seen in publishers' seq_ids (messages missed live), including catch-ups after a restart that found messages.")
	descRecovered  = desc("replay_recovered_total", "Messages fetched from replay endpoints and delivered.")
	descUnrecov    = desc("replay_unrecoverable_total", "Missed messages given up on (beyond retention, endpoint down, invalid): each logged with its gap.")
	descRQueries   = desc("replay_queries_total", "Replay queries sent.")
	descRQErrors   = desc("replay_query_errors_total", "Replay queries that failed (timeout, transport, unexpected error reply).")
	descReady      = desc("ready", "1 when the hub is subscribed, its consumers are running and it is not shutting down.")

	descCReceived  = desc("consumer_received_total", "Messages put in the consumer's inbox.", "consumer")
	descCProcessed = desc("consumer_processed_total", "Messages the consumer processed successfully.", "consumer")
	descCFailed    = desc("consumer_failed_total", "Runs that failed: an error, a non-zero exit, a timeout, a panic.", "consumer")
	descCDropped   = desc("consumer_dropped_total", "Messages dropped because the inbox was full (overflow = \"drop\").", "consumer")
	descCAbandoned = desc("consumer_abandoned_total", "Queued messages not started before the shutdown deadline.", "consumer")
	descCFull      = desc("consumer_inbox_full_total", "Messages that found the inbox full (the hub then waited, or dropped them).", "consumer")
	descCDepth     = desc("consumer_inbox_depth", "Messages waiting in the inbox.", "consumer")
	descCCap       = desc("consumer_inbox_capacity", "Size of the inbox.", "consumer")
	descCWorkers   = desc("consumer_workers", "Workers of the consumer.", "consumer")
	descCBusy      = desc("consumer_workers_busy", "Workers processing a message now.", "consumer")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ackmsg_hub_"+name, help, labels, nil)
}

func newMetrics(hubStats func() consumer.HubStats, bus func() busStats, ready func() bool) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(), hub: hubStats, bus: bus, ready: ready,
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ackmsg_hub_consumer_processing_seconds",
			Help:    "Time a consumer took per message (hooks included), by outcome (ok or failed).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"consumer", "outcome"}),
	}
	m.reg.MustRegister(m, m.seconds, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the hub's consumer.WithObserver callback.
func (m *metrics) observe(name string, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	m.seconds.WithLabelValues(name, outcome).Observe(took.Seconds())
}

var allDescs = []*prometheus.Desc{descReceived, descInvalid, descUnmatched, descDuplicates, descCompleted,
	descIncomplete, descPoison, descAcked, descReacked, descAckErrors, descAcksSeen, descGaps, descRecovered, descUnrecov, descRQueries, descRQErrors, descReady, descCReceived, descCProcessed,
	descCFailed, descCDropped, descCAbandoned, descCFull, descCDepth, descCCap, descCWorkers, descCBusy}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	hs, bs := m.hub(), m.bus()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descReceived, hs.Received)
	for reason, n := range bs.Dropped {
		counter(descInvalid, n, reason)
	}
	counter(descUnmatched, hs.Unmatched)
	counter(descDuplicates, hs.Duplicates+bs.Duplicates)
	counter(descCompleted, hs.Completed)
	counter(descIncomplete, hs.Incomplete)
	counter(descPoison, hs.Poison)
	if bs.acking {
		counter(descAcked, bs.Acked)
		counter(descReacked, bs.Reacked)
		counter(descAckErrors, bs.AckErrors)
	}
	counter(descAcksSeen, bs.AcksSeen)
	counter(descGaps, bs.Replay.Gaps)
	counter(descRecovered, bs.Replay.Recovered)
	counter(descUnrecov, bs.Replay.Unrecoverable)
	counter(descRQueries, bs.Replay.Queries)
	counter(descRQErrors, bs.Replay.QueryErrors)
	ready := 0.0
	if m.ready() {
		ready = 1
	}
	gauge(descReady, ready)
	for _, c := range hs.Consumers {
		counter(descCReceived, c.Received, c.Name)
		counter(descCProcessed, c.Processed, c.Name)
		counter(descCFailed, c.Failed, c.Name)
		counter(descCDropped, c.Dropped, c.Name)
		counter(descCAbandoned, c.Abandoned, c.Name)
		counter(descCFull, c.InboxFull, c.Name)
		gauge(descCDepth, float64(c.InboxDepth), c.Name)
		gauge(descCCap, float64(c.InboxCap), c.Name)
		gauge(descCWorkers, float64(c.Workers), c.Name)
		gauge(descCBusy, float64(c.Busy), c.Name)
	}
}

// startServer serves /live, /ready and /metrics on addr; a busy port fails now, not later.
func startServer(addr string, m *metrics, log *slog.Logger) (*ops.Server, error) {
	s, err := ops.Start(ops.Config{Addr: addr, Gatherer: m.reg, Registerer: m.reg, Live: "live", Logger: log,
		Ready: func(context.Context) error {
			if !m.ready() {
				return errors.New("not ready")
			}
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("hub: http_address %s: %w", addr, err)
	}
	log.Info("http endpoint listening", "addr", s.Addr().String(), "paths", "/live /ready /metrics")
	return s, nil
}
