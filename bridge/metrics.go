package bridge

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are what the bridge counts; Stats is their snapshot.
type counters struct {
	busReceived, skippedAck, skippedOwn, skippedTopic               atomic.Uint64
	toPublished, toConfirmed, toReturned, toNacked                  atomic.Uint64
	toReconnects, toConnectErrors                                   atomic.Uint64
	toInFlight                                                      atomic.Int64
	fromReceived, fromPublished, fromFailed, fromRequeued, fromDead atomic.Uint64
	fromLooped, fromSettleErrors, fromReconnects, fromConnectErrors atomic.Uint64
	toFailovers, fromFailovers                                      atomic.Uint64
	toRefusals, fromRefusals                                        atomic.Uint64
	toNode, fromNode                                                atomic.Pointer[string] // host:port in use; nil when not connected
}

// Stats are a Bridge's counters.
type Stats struct {
	// Bus → AMQP.
	BusReceived  uint64 // valid bus messages read
	SkippedAck   uint64 // ACKs (control traffic, never forwarded)
	SkippedOwn   uint64 // messages this bridge signed (they came from the broker)
	SkippedTopic uint64 // topics not in bridge.topics (not ACKed)
	Published    uint64 // publishes to the broker, republications after a reconnect included
	Confirmed    uint64 // confirmed by the broker: ACKed on the bus
	Returned     uint64 // returned as unroutable: not ACKed
	Nacked       uint64 // nacked by the broker: published again
	InFlight     int64  // published, not yet confirmed
	ToReconnects uint64 // connections lost
	ToNode       string // the broker node (host:port) connected to; "" when not connected
	ToFailovers  uint64 // connections made to another node than the one before
	ToRefusals   uint64 // refusals by a node while others remained (then the bridge went on)

	// AMQP → bus.
	FromReceived   uint64 // broker messages received
	FromPublished  uint64 // published on the bus (and ACKed by the recipients): acked to the broker
	FromFailed     uint64 // failed attempts
	FromRequeued   uint64 // nacked with requeue after a failure
	FromDead       uint64 // rejected to the dead-letter exchange
	FromLooped     uint64 // sent by this bridge: acked, not published again
	FromReconnects uint64 // connections lost
	FromNode       string // the broker node (host:port) connected to; "" when not connected
	FromFailovers  uint64 // connections made to another node than the one before
	FromRefusals   uint64 // refusals by a node while others remained (then the bridge went on)
}

func load(p *atomic.Pointer[string]) string {
	if s := p.Load(); s != nil {
		return *s
	}
	return ""
}

// Stats returns a snapshot of the counters.
func (b *Bridge) Stats() Stats {
	c := &b.stats
	return Stats{
		BusReceived: c.busReceived.Load(), SkippedAck: c.skippedAck.Load(), SkippedOwn: c.skippedOwn.Load(),
		SkippedTopic: c.skippedTopic.Load(), Published: c.toPublished.Load(), Confirmed: c.toConfirmed.Load(),
		Returned: c.toReturned.Load(), Nacked: c.toNacked.Load(), InFlight: c.toInFlight.Load(), ToReconnects: c.toReconnects.Load(),
		FromReceived: c.fromReceived.Load(), FromPublished: c.fromPublished.Load(), FromFailed: c.fromFailed.Load(),
		FromRequeued: c.fromRequeued.Load(), FromDead: c.fromDead.Load(), FromLooped: c.fromLooped.Load(),
		FromReconnects: c.fromReconnects.Load(),
		ToNode:         load(&c.toNode), ToFailovers: c.toFailovers.Load(), FromNode: load(&c.fromNode), FromFailovers: c.fromFailovers.Load(),
		ToRefusals: c.toRefusals.Load(), FromRefusals: c.fromRefusals.Load(),
	}
}

// Metrics are a Bridge's Prometheus figures.
type Metrics struct {
	b              *Bridge
	confirmSeconds prometheus.Histogram
	publishSeconds prometheus.Histogram
}

func newMetrics(b *Bridge) *Metrics {
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	return &Metrics{b: b,
		confirmSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ackmsg_bridge_to_amqp_confirm_seconds",
			Help: "Time from reading a bus message until the broker confirmed it (and it was ACKed).", Buckets: buckets}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ackmsg_bridge_from_amqp_publish_seconds",
			Help: "Time from receiving a broker message until it was published on the bus and ACKed by its recipients.", Buckets: buckets}),
	}
}

type metricDesc struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*counters) float64
}

func counter(name, help string, v func(*counters) uint64) metricDesc {
	return metricDesc{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, func(c *counters) float64 { return float64(v(c)) }}
}

var metricDescs = []metricDesc{
	counter("ackmsg_bridge_bus_received_total", "Valid bus messages read by the bus → AMQP direction.", func(c *counters) uint64 { return c.busReceived.Load() }),
	counter("ackmsg_bridge_skipped_topic_total", "Bus messages on topics not in bridge.topics (not ACKed).", func(c *counters) uint64 { return c.skippedTopic.Load() }),
	counter("ackmsg_bridge_skipped_own_total", "Bus messages signed by this bridge (from the broker), not sent back.", func(c *counters) uint64 { return c.skippedOwn.Load() }),
	counter("ackmsg_bridge_to_amqp_published_total", "Publishes to the broker, republications after a reconnect included.", func(c *counters) uint64 { return c.toPublished.Load() }),
	counter("ackmsg_bridge_to_amqp_confirmed_total", "Bus messages confirmed by the broker (and ACKed on the bus).", func(c *counters) uint64 { return c.toConfirmed.Load() }),
	counter("ackmsg_bridge_to_amqp_returned_total", "Bus messages the broker returned as unroutable (not ACKed).", func(c *counters) uint64 { return c.toReturned.Load() }),
	counter("ackmsg_bridge_to_amqp_nacked_total", "Bus messages the broker nacked (published again).", func(c *counters) uint64 { return c.toNacked.Load() }),
	counter("ackmsg_bridge_to_amqp_reconnects_total", "Broker connections of the bus → AMQP direction lost.", func(c *counters) uint64 { return c.toReconnects.Load() }),
	counter("ackmsg_bridge_to_amqp_connect_errors_total", "Failed connection attempts of the bus → AMQP direction.", func(c *counters) uint64 { return c.toConnectErrors.Load() }),
	{prometheus.NewDesc("ackmsg_bridge_to_amqp_in_flight", "Bus messages published to the broker and not yet confirmed.", nil, nil), prometheus.GaugeValue,
		func(c *counters) float64 { return float64(c.toInFlight.Load()) }},
	counter("ackmsg_bridge_from_amqp_received_total", "Broker messages received.", func(c *counters) uint64 { return c.fromReceived.Load() }),
	counter("ackmsg_bridge_from_amqp_published_total", "Broker messages published on the bus, ACKed by their recipients, and acked to the broker.", func(c *counters) uint64 { return c.fromPublished.Load() }),
	counter("ackmsg_bridge_from_amqp_failed_total", "Failed attempts to publish a broker message on the bus.", func(c *counters) uint64 { return c.fromFailed.Load() }),
	counter("ackmsg_bridge_from_amqp_requeued_total", "Broker messages nacked with requeue after a failure.", func(c *counters) uint64 { return c.fromRequeued.Load() }),
	counter("ackmsg_bridge_from_amqp_dead_lettered_total", "Broker messages rejected to the dead-letter exchange.", func(c *counters) uint64 { return c.fromDead.Load() }),
	counter("ackmsg_bridge_from_amqp_looped_total", "Broker messages this bridge had sent, acked and not published again.", func(c *counters) uint64 { return c.fromLooped.Load() }),
	counter("ackmsg_bridge_from_amqp_settle_errors_total", "Acks or nacks that could not be sent (the broker requeues).", func(c *counters) uint64 { return c.fromSettleErrors.Load() }),
	counter("ackmsg_bridge_from_amqp_reconnects_total", "Broker connections of the AMQP → bus direction lost.", func(c *counters) uint64 { return c.fromReconnects.Load() }),
	counter("ackmsg_bridge_to_amqp_failovers_total", "Connections of the bus → AMQP direction made to another broker node than the one before.", func(c *counters) uint64 { return c.toFailovers.Load() }),
	counter("ackmsg_bridge_from_amqp_failovers_total", "Connections of the AMQP → bus direction made to another broker node than the one before.", func(c *counters) uint64 { return c.fromFailovers.Load() }),
	counter("ackmsg_bridge_to_amqp_refusals_total", "Refusals of the bridge (TLS, login, permission) by a broker node of the bus → AMQP direction; it went on with the other nodes until every one refused.", func(c *counters) uint64 { return c.toRefusals.Load() }),
	counter("ackmsg_bridge_from_amqp_refusals_total", "Refusals of the bridge (TLS, login, permission) by a broker node of the AMQP → bus direction; it went on with the other nodes until every one refused.", func(c *counters) uint64 { return c.fromRefusals.Load() }),
	counter("ackmsg_bridge_from_amqp_connect_errors_total", "Failed connection attempts of the AMQP → bus direction.", func(c *counters) uint64 { return c.fromConnectErrors.Load() }),
}

var (
	descReady = prometheus.NewDesc("ackmsg_bridge_ready", "1 when every configured direction is connected to the broker.", nil, nil)
	descNode  = prometheus.NewDesc("ackmsg_bridge_broker_node", "1 for the broker node (host:port) each direction is connected to.", []string{"direction", "node"}, nil)
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs {
		ch <- d.desc
	}
	ch <- descReady
	ch <- descNode
	m.confirmSeconds.Describe(ch)
	m.publishSeconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, d := range metricDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.kind, d.value(&m.b.stats))
	}
	ready := 0.0
	if m.b.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	for dir, p := range map[string]*atomic.Pointer[string]{"to_amqp": &m.b.stats.toNode, "from_amqp": &m.b.stats.fromNode} {
		if node := load(p); node != "" {
			ch <- prometheus.MustNewConstMetric(descNode, prometheus.GaugeValue, 1, dir, node)
		}
	}
	m.confirmSeconds.Collect(ch)
	m.publishSeconds.Collect(ch)
}

// Status says, per direction, which broker node (host:port) it is connected to and how often it
// failed over: "bus → AMQP: connected to mq1:5671, 0 failovers; AMQP → bus: not connected, 1
// failover" ("off" for a direction the configuration turns off). ackmsg-bridge serves it as
// the body of /ready, 200 or 503.
func (b *Bridge) Status() string {
	st := b.Stats()
	dir := func(on bool, node string, failovers uint64) string {
		if !on {
			return "off"
		}
		s := "not connected"
		if node != "" {
			s = "connected to " + node
		}
		plural := "s"
		if failovers == 1 {
			plural = ""
		}
		return fmt.Sprintf("%s, %d failover%s", s, failovers, plural)
	}
	return fmt.Sprintf("bus → AMQP: %s; AMQP → bus: %s", dir(b.sub != nil, st.ToNode, st.ToFailovers),
		dir(b.pub != nil, st.FromNode, st.FromFailovers))
}
