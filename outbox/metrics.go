package outbox

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are an outbox's Prometheus figures: what the store holds (read at scrape time) and
// what this process enqueued and delivered. Register it on a prometheus.Registerer.
type Metrics struct {
	store Store

	enqueueSeconds  prometheus.Histogram
	enqueueFailed   prometheus.Counter
	enqueuedTotal   prometheus.Counter
	deliverySeconds prometheus.Histogram
	deliveredTotal  prometheus.Counter
	expired         prometheus.Counter
	attempts        prometheus.Counter
	retransmits     prometheus.Counter
}

var (
	descPending  = prometheus.NewDesc("ackmsg_outbox_pending", "Messages stored and not yet ACKed by every recipient.", nil, nil)
	descInFlight = prometheus.NewDesc("ackmsg_outbox_in_flight", "Pending messages claimed by a deliverer now.", nil, nil)
	descDead     = prometheus.NewDesc("ackmsg_outbox_dead", "Messages in the dead letters (expired or given up), kept until retried or dropped.", nil, nil)
	descStoreDel = prometheus.NewDesc("ackmsg_outbox_store_delivered_total", "Messages every recipient ACKed, since the store was created.", nil, nil)
	descOldest   = prometheus.NewDesc("ackmsg_outbox_oldest_pending_age_seconds", "Age of the oldest pending message (0 when none).", nil, nil)
	descMissing  = prometheus.NewDesc("ackmsg_outbox_missing", "Pending messages still waiting for this recipient's ACK.", []string{"recipient"}, nil)
	descUp       = prometheus.NewDesc("ackmsg_outbox_store_up", "1 when the store answered the last scrape.", nil, nil)
)

// NewMetrics makes the figures for store.
func NewMetrics(store Store) *Metrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}
	return &Metrics{
		store: store,
		enqueueSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ackmsg_outbox_enqueue_seconds",
			Help: "Time to store a message (or a batch) durably.", Buckets: buckets}),
		enqueueFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_enqueue_failed_total",
			Help: "Messages that could not be stored (Publish returned an error)."}),
		enqueuedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_enqueued_total",
			Help: "Messages stored by this process."}),
		deliverySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ackmsg_outbox_delivery_seconds",
			Help: "Time from enqueue until every recipient ACKed, for messages this process delivered.", Buckets: buckets}),
		deliveredTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_delivered_total",
			Help: "Messages this process delivered (every recipient ACKed)."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_expired_total",
			Help: "Messages this process moved to the dead letters because they expired."}),
		attempts: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_attempts_total",
			Help: "Delivery attempts made by this process."}),
		retransmits: prometheus.NewCounter(prometheus.CounterOpts{Name: "ackmsg_outbox_retransmits_total",
			Help: "Retransmissions of stored frames within attempts."}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descInFlight, descDead, descStoreDel, descOldest, descMissing, descUp} {
		ch <- d
	}
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := m.store.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(st.Dead))
	ch <- prometheus.MustNewConstMetric(descStoreDel, prometheus.CounterValue, float64(st.Delivered))
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = time.Since(st.OldestPending).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	for r, n := range st.MissingByRecipient {
		ch <- prometheus.MustNewConstMetric(descMissing, prometheus.GaugeValue, float64(n), r)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.enqueueSeconds, m.enqueueFailed, m.enqueuedTotal, m.deliverySeconds,
		m.deliveredTotal, m.expired, m.attempts, m.retransmits}
}

func (m *Metrics) enqueued(n int, took time.Duration, err error) {
	if err != nil {
		m.enqueueFailed.Add(float64(n))
		return
	}
	m.enqueueSeconds.Observe(took.Seconds())
	m.enqueuedTotal.Add(float64(n))
}

func (m *Metrics) attempt(retransmits int) {
	m.attempts.Inc()
	m.retransmits.Add(float64(max(retransmits, 0)))
}

func (m *Metrics) delivered(after time.Duration) {
	m.deliveredTotal.Inc()
	m.deliverySeconds.Observe(after.Seconds())
}
