package main

// The scenarios with a store or a broker: the outbox's durable enqueue next to this disk's fsync,
// the peers (NATS JetStream, RabbitMQ), the bridge to RabbitMQ, and ackmsg set next to the peers.

import (
	"fmt"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
)

// outbox is the durable enqueue (bbolt file, PostgreSQL when a server can be started) next to
// this disk's fsync, and the outbox's end to end next to an acked publish.
func (b *bench) outbox() error {
	b.section("Outbox: durable enqueue (bbolt file, PostgreSQL) next to this disk's fsync, and end to end")
	odir, err := os.MkdirTemp("", "ackmsg-bench-outbox")
	if err != nil {
		return err
	}
	defer os.RemoveAll(odir)
	nEnq := max(b.sz.acked1/4, 50)
	step("fsync floor and outbox enqueue, %d records of %d B", nEnq, len(b.msgFrame))
	floorLat, err := fsyncFloor(odir, len(b.msgFrame), nEnq)
	if err != nil {
		return err
	}
	enqLat, enqThru, err := boltEnqueue(odir, b.msgFrame, nEnq, 16)
	if err != nil {
		return err
	}
	b.enqLat = enqLat
	for _, q := range quantiles {
		b.add(Row{Name: "outbox enqueue (boltstore, one writer) " + q.name, Unit: "µs", Value: us(quantile(enqLat, q.q)),
			Floor: us(quantile(floorLat, q.q)), Of: "write + fsync of the same bytes " + q.name})
	}
	floorRate := 1 / quantile(floorLat, 0.5).Seconds()
	b.add(Row{Name: "outbox enqueue throughput, 16 concurrent writers (group commit)", Unit: "msgs/s", Value: enqThru,
		Floor: floorRate, Of: "fsyncs/s at the fsync p50 (one message per fsync)"})
	b.outboxPostgres(nEnq)
	return b.outboxDelivered(odir)
}

// outboxPostgres is the enqueue into PostgreSQL, next to a one-row INSERT + COMMIT; skipped when
// no server can be started.
func (b *bench) outboxPostgres(nEnq int) {
	step("outbox enqueue into PostgreSQL (pgstore), %d records", nEnq)
	pgLat, pgThru, pgFloor, err := pgEnqueue(b.msgFrame, nEnq, 16)
	if err != nil {
		b.skip("outbox enqueue (pgstore)", "µs", err)
		return
	}
	for _, q := range quantiles {
		b.add(Row{Name: "outbox enqueue (pgstore, one writer) " + q.name, Unit: "µs", Value: us(quantile(pgLat, q.q)),
			Floor: us(quantile(pgFloor, q.q)), Of: "one-row INSERT + COMMIT on the same server " + q.name})
	}
	b.add(Row{Name: "outbox enqueue throughput (pgstore), 16 concurrent writers", Unit: "msgs/s", Value: pgThru,
		Floor: 1 / quantile(pgFloor, 0.5).Seconds(), Of: "commits/s at the one-row INSERT + COMMIT p50"})
}

// outboxDelivered is outbox Publish to delivered (every ACK persisted), next to an acked publish.
func (b *bench) outboxDelivered(odir string) error {
	nE2E := max(b.sz.acked1/2, 50)
	step("outbox end to end (enqueue, deliver, every ACK persisted), %d messages", nE2E)
	ob, err := newBus(b.k, 1)
	if err != nil {
		return err
	}
	e2e, err := outboxEndToEnd(ob, odir, nE2E)
	ob.close()
	if err != nil {
		return err
	}
	b.keep("outbox end to end", e2e)
	for _, q := range quantiles {
		b.add(Row{Name: "outbox Publish → delivered (boltstore, 1 recipient) " + q.name, Unit: "µs", Value: us(quantile(e2e, q.q)),
			Floor: us(quantile(b.acked1RSA, q.q)), Of: "ack.Publish to one recipient in process (above) " + q.name,
			Note: "enqueue fsync + deliverer wake-up + acked send + ACK fsync"})
	}
	return nil
}

// jetStream is NATS JetStream (embedded nats-server, file storage), default sync then
// sync_interval always.
func (b *bench) jetStream() error {
	b.section("Peers: NATS JetStream (embedded nats-server, file storage), same machine, same run, same payload")
	b.js = map[bool]*jsFigures{}
	for _, always := range []bool{false, true} {
		mode := map[bool]string{false: "default sync", true: "sync_interval always"}[always]
		step("NATS JetStream, %s: sync publish %d, async %s, end to end %d", mode, b.sz.acked1, b.sz.async, b.sz.acked1/2)
		f, err := natsJetStream(b.msgFrame, always, b.sz.acked1, b.sz.async, b.sz.inflight)
		if err != nil {
			return fmt.Errorf("NATS JetStream (%s): %w", mode, err)
		}
		b.js[always] = f
		b.keep("JetStream end to end, "+mode, f.e2e)
		for _, q := range quantiles {
			b.add(Row{Name: fmt.Sprintf("JetStream publish, wait for the stored ack (%s) %s", mode, q.name), Unit: "µs",
				Value: us(quantile(f.sync, q.q)), Note: "promise: the server stored it; nothing about a consumer"})
		}
		b.add(Row{Name: fmt.Sprintf("JetStream async publish (%s)", mode), Unit: "msgs/s", Value: f.async,
			Note: fmt.Sprintf("up to %d acks outstanding", b.sz.inflight)})
		for _, q := range quantiles {
			b.add(Row{Name: fmt.Sprintf("JetStream end to end through a durable consumer (%s) %s", mode, q.name), Unit: "µs",
				Value: us(quantile(f.e2e, q.q)), Note: "publish, consumer receives, double-acks, replies to the publisher"})
		}
	}
	return nil
}

// rabbitAndBridge measures RabbitMQ and the bridge to it on one throwaway node, then adds the rows of
// each; one skipped row when the node cannot be started.
func (b *bench) rabbitAndBridge() error {
	b.section("Peers: RabbitMQ (Debian rabbitmq-server, a throwaway node), same machine, same run, same payload")
	url, err := rmqtest.Start()
	if err != nil {
		b.rmqErr = err
		b.skip("RabbitMQ (and the bridge to it)", "µs", err)
		return nil
	}
	step("RabbitMQ: confirm %d, streaming confirms %s, end to end %d", b.sz.acked1, b.sz.async, b.sz.acked1/2)
	rmq, err := rabbitMQ(url, b.msgFrame, b.sz.acked1, b.sz.async, b.sz.inflight, nil)
	if err != nil {
		rmqtest.Stop()
		return fmt.Errorf("RabbitMQ: %w", err)
	}
	step("bridge to RabbitMQ (Ed25519): acked publish %d, PublishAsync in-flight %d, %s", b.sz.acked1, b.sz.inflight, b.sz.async)
	br, err := bridgeBench(b.ed, []string{url}, len(b.msgFrame), b.sz.acked1, b.sz.async, b.sz.inflight, nil)
	rmqtest.Stop()
	if err != nil {
		return fmt.Errorf("bridge to RabbitMQ: %w", err)
	}
	b.rmq = rmq
	b.keep("RabbitMQ end to end", rmq.e2e)
	for _, q := range quantiles {
		b.add(Row{Name: "RabbitMQ publish, wait for the confirm (persistent, durable queue) " + q.name, Unit: "µs",
			Value: us(quantile(rmq.confirm, q.q)), Note: "promise: the broker has it on disk; nothing about a consumer"})
	}
	b.add(Row{Name: "RabbitMQ streaming confirms", Unit: "msgs/s", Value: rmq.stream,
		Note: fmt.Sprintf("up to %d confirms outstanding", b.sz.inflight)})
	for _, q := range quantiles {
		b.add(Row{Name: "RabbitMQ end to end through a consumer (manual ack, reply) " + q.name, Unit: "µs",
			Value: us(quantile(rmq.e2e, q.q)), Note: "publish, confirm, consumer receives, acks, replies to the publisher"})
	}
	b.bridgeRows(br)
	return nil
}

// bridgeRows adds the bridge's rows, next to RabbitMQ's own publish-and-confirm (b.rmq).
func (b *bench) bridgeRows(br *bridgeFigures) {
	b.section(fmt.Sprintf("Bridge to RabbitMQ (bridge.Bridge in process, %s → durable queue), ratio = bridge / RabbitMQ",
		bridgeExchange))
	b.keep("acked to the bridge, Ed25519", br.lat)
	confirm50, bridge50 := quantile(b.rmq.confirm, 0.5), quantile(br.lat, 0.5)
	for _, q := range quantiles {
		r := b.add(Row{Name: "acked publish to the bridge, ACK once RabbitMQ confirmed, Ed25519 " + q.name, Unit: "µs",
			Value: us(quantile(br.lat, q.q)), Floor: us(quantile(b.rmq.confirm, q.q)),
			Of: "RabbitMQ publish-and-confirm " + q.name})
		switch q.name {
		case "min":
			r.Note = fmt.Sprintf("promise: the message is in the durable queue (persistent, mandatory, confirmed: "+
				"routed and on disk), told by an ACK signed by %q; a plain confirm tells the broker's client the same, "+
				"unsigned; neither says anything of a consumer; envelope %d B, %d B on the broker", bridgeName,
				br.envelope, br.amqpBody)
		case "p50":
			r.Note = fmt.Sprintf("the bridge adds %.0f µs to RabbitMQ's confirm p50", us(bridge50-confirm50))
		case "p99":
			r.Note = fmt.Sprintf("%d retransmissions; %d ACKed, %d in the queue", br.latRetx, br.latAcked, br.latQueued)
		}
	}
	b.add(Row{Name: "bridge added latency p50 (bridge p50 − RabbitMQ confirm p50)", Unit: "µs", Value: us(bridge50 - confirm50),
		Floor: us(quantile(b.acked1Ed, 0.5)), Of: fmt.Sprintf("ackmsg acked publish Ed25519 p50 in process, %d B frames (above): "+
			"the bus hop the bridge puts before the broker", len(b.edMsgFrame))})
	b.add(Row{Name: fmt.Sprintf("PublishAsync in-flight %d to the bridge, Ed25519", b.sz.inflight), Unit: "msgs/s", Value: br.async,
		Floor: b.rmq.stream, Of: fmt.Sprintf("RabbitMQ streaming confirms (%d outstanding)", b.sz.inflight),
		Note: fmt.Sprintf("bridge max_in_flight %d; %d retransmissions; %d ACKed, %d in the queue",
			config.DefaultBridgeMaxInFlight, br.asyncRetx, br.asyncAcked, br.asyncQueued)})
}

// rabbitCluster measures, on a three-node RabbitMQ cluster on this host, RabbitMQ's own
// publish-and-confirm to a quorum queue and the acked publish to the bridge forwarding to such a
// queue, side by side; one skipped row when the cluster cannot be started. Both connect to the
// node that leads the queue (where it was declared), so the comparison is like for like.
func (b *bench) rabbitCluster() error {
	b.section("RabbitMQ cluster (3 nodes on this host), quorum queue: confirmed = on a majority of the nodes' disks; ratio = bridge / RabbitMQ")
	c, err := rmqtest.StartCluster(3)
	if err != nil {
		b.skip("RabbitMQ cluster (and the bridge to it)", "µs", err)
		return nil
	}
	defer c.Close()
	quorum := amqp.Table{"x-queue-type": "quorum"}
	step("RabbitMQ cluster, quorum queue: confirm %d, streaming confirms %s", b.sz.acked1, b.sz.async)
	rmq, err := rabbitMQ(c.URL(0), b.msgFrame, b.sz.acked1, b.sz.async, b.sz.inflight, quorum)
	if err != nil {
		return fmt.Errorf("RabbitMQ cluster: %w", err)
	}
	step("bridge to the cluster's quorum queue (Ed25519): acked publish %d, PublishAsync in-flight %d, %s", b.sz.acked1, b.sz.inflight, b.sz.async)
	br, err := bridgeBench(b.ed, []string{c.URL(0)}, len(b.msgFrame), b.sz.acked1, b.sz.async, b.sz.inflight, quorum)
	if err != nil {
		return fmt.Errorf("bridge to the RabbitMQ cluster: %w", err)
	}
	for _, q := range quantiles {
		b.add(Row{Name: "RabbitMQ cluster publish, wait for the confirm (persistent, quorum queue) " + q.name, Unit: "µs",
			Value: us(quantile(rmq.confirm, q.q)), Note: "promise: a majority of the 3 nodes has it on disk; nothing about a consumer"})
	}
	b.add(Row{Name: "RabbitMQ cluster streaming confirms, quorum queue", Unit: "msgs/s", Value: rmq.stream,
		Note: fmt.Sprintf("up to %d confirms outstanding", b.sz.inflight)})
	for _, q := range quantiles {
		b.add(Row{Name: "acked publish to the bridge, ACK once the quorum queue confirmed, Ed25519 " + q.name, Unit: "µs",
			Value: us(quantile(br.lat, q.q)), Floor: us(quantile(rmq.confirm, q.q)),
			Of: "RabbitMQ cluster publish-and-confirm, quorum queue " + q.name})
	}
	b.add(Row{Name: fmt.Sprintf("PublishAsync in-flight %d to the bridge, quorum queue, Ed25519", b.sz.inflight), Unit: "msgs/s", Value: br.async,
		Floor: rmq.stream, Of: "RabbitMQ cluster streaming confirms, quorum queue",
		Note: fmt.Sprintf("%d retransmissions; %d ACKed, %d in the queue", br.asyncRetx, br.asyncAcked, br.asyncQueued)})
	return nil
}

// nextToPeers sets ackmsg's Ed25519 figures and its outbox next to JetStream's and RabbitMQ's.
func (b *bench) nextToPeers() error {
	b.section("ackmsg next to the peers (ratio = ackmsg / peer)")
	always, acked50 := b.js[true], us(quantile(b.acked1Ed, 0.5))
	r := b.add(Row{Name: "ackmsg acked publish Ed25519 p50 vs JetStream end to end p50", Unit: "µs", Value: acked50,
		Floor: us(quantile(always.e2e, 0.5)), Of: "JetStream end to end (sync_interval always) p50"})
	target(r, "≤ 1 × JetStream end to end (sync always)", r.Ratio <= 1)
	// The like-for-like comparison: an acked publish stores nothing, and JetStream's default
	// sync fsyncs nothing on the way either. Both are targets, so neither hides the other.
	r = b.add(Row{Name: "ackmsg acked publish Ed25519 p50 vs JetStream end to end p50, default sync", Unit: "µs", Value: acked50,
		Floor: us(quantile(b.js[false].e2e, 0.5)), Of: "JetStream end to end (default sync: nothing fsync'd on the way) p50",
		Note: "ackmsg fsyncs nothing either, but signs and verifies twice: its Ed25519 crypto floor alone is about JetStream's whole round trip"})
	target(r, "≤ 1 × JetStream end to end (default sync)", r.Ratio <= 1)
	r = b.add(Row{Name: "ackmsg PublishAsync Ed25519 vs JetStream async publish", Unit: "msgs/s", Value: b.asyncEd,
		Floor: always.async, Of: "JetStream async publish (sync_interval always)"})
	target(r, "≥ 1 × JetStream async (sync always)", r.Ratio >= 1)
	b.add(Row{Name: "ackmsg outbox enqueue (boltstore) p50 vs JetStream stored ack p50", Unit: "µs", Value: us(quantile(b.enqLat, 0.5)),
		Floor: us(quantile(always.sync, 0.5)), Of: "JetStream publish (sync_interval always) p50: both fsync'd, neither says anything of a consumer"})
	if b.rmq == nil {
		b.skip("ackmsg next to RabbitMQ", "µs", b.rmqErr)
		return nil
	}
	b.add(Row{Name: "ackmsg acked publish Ed25519 p50 vs RabbitMQ end to end p50", Unit: "µs", Value: acked50,
		Floor: us(quantile(b.rmq.e2e, 0.5)), Of: "RabbitMQ end to end p50"})
	b.add(Row{Name: "ackmsg PublishAsync Ed25519 vs RabbitMQ streaming confirms", Unit: "msgs/s", Value: b.asyncEd,
		Floor: b.rmq.stream, Of: "RabbitMQ streaming confirms"})
	b.add(Row{Name: "ackmsg outbox enqueue (boltstore) p50 vs RabbitMQ confirm p50", Unit: "µs", Value: us(quantile(b.enqLat, 0.5)),
		Floor: us(quantile(b.rmq.confirm, 0.5)), Of: "RabbitMQ publish-and-confirm p50: both on disk, neither says anything of a consumer"})
	return nil
}
