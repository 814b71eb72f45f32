package main

// The bridge (package bridge, what ackmsg-bridge runs) as a recipient on the bus, bus → AMQP,
// measured on the RabbitMQ node of the peer figures, in the same run: a bridge.Bridge in this
// process with its own Ed25519 certificate (CN "bridge") forwards the benchmark topic to
// amq.topic, where the durable queue bench.bridge is bound for it; an ack.Publisher with the
// Ed25519 PKI publishes to recipient "bridge". The body is padded so that the signed envelope,
// which the bridge puts on the broker as it is, has the size of the payload RabbitMQ's own
// figures publish.
//
// What the bridge's ACK promises: it is sent only after RabbitMQ confirmed the message
// (persistent, mandatory, publisher confirms), so an acked publish returning means the message
// is in the durable queue, and the ACK is signed by the bridge's certificate. A plain confirm
// tells the same of the broker to the AMQP client that published, unsigned. Neither says
// anything about a consumer of the queue. The bench checks the promise as it goes: after each
// phase the queue must hold at least every message the publisher saw ACKed.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
)

const (
	bridgeName     = "bridge"       // the bridge's certificate CN: the recipient publishers name
	bridgeQueue    = "bench.bridge" // durable, bound to bridgeExchange with benchTopic
	bridgeExchange = "amq.topic"    // the bridge's default exchange (fedora-messaging's)
)

// bridgeFigures are the figures of acked publishes to the bridge.
type bridgeFigures struct {
	lat         []time.Duration // acked publish, one at a time
	latRetx     uint64          // retransmissions during lat
	latAcked    uint64          // messages ACKed during lat
	latQueued   int             // messages in the queue after lat
	async       float64         // PublishAsync msgs/s
	asyncRetx   uint64          // retransmissions during async
	asyncAcked  uint64          // messages ACKed during async
	asyncQueued int             // messages in the queue after async
	envelope    int             // the signed envelope's size as built
	amqpBody    int             // the size of a message's body read back from the queue
}

// bridgeBench measures acked publishes to a bridge forwarding to the node at url: n one at a
// time, then PublishAsync for d with at most inflight outstanding. k is the PKI (a certificate
// for the bridge is issued in it); the body is padded so the envelope has size bytes.
func bridgeBench(k *pki, urls []string, size, n int, d time.Duration, inflight int, args amqp.Table) (*bridgeFigures, error) {
	// Force: the cluster's run issues it again.
	if _, err := certs.Issue(k.dir, bridgeName, certs.PKIOptions{Days: 2, KeyType: k.keyType, Force: true}); err != nil {
		return nil, err
	}
	conn, err := amqp.Dial(urls[0])
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if _, err := ch.QueueDeclare(bridgeQueue, true, false, false, false, args); err != nil {
		return nil, err
	}
	if err := ch.QueueBind(bridgeQueue, benchTopic, bridgeExchange, false, nil); err != nil {
		return nil, err
	}
	b, err := newBridgeBus(k, urls, size)
	if err != nil {
		return nil, err
	}
	defer b.close()
	f := &bridgeFigures{}
	if f.envelope, err = envelopeSize(b.pub, b.message()); err != nil {
		return nil, err
	}

	// phase runs one measurement on an empty queue and checks, once it is over, that every
	// message ACKed to the publisher is in the queue.
	phase := func(measure func() error) (acked uint64, queued int, err error) {
		if _, err := ch.QueuePurge(bridgeQueue, false); err != nil {
			return 0, 0, err
		}
		before := b.pub.Stats().Succeeded
		if err := measure(); err != nil {
			return 0, 0, err
		}
		acked = b.pub.Stats().Succeeded - before
		q, err := ch.QueueDeclarePassive(bridgeQueue, true, false, false, false, args)
		if err != nil {
			return 0, 0, err
		}
		if uint64(q.Messages) < acked {
			return 0, 0, fmt.Errorf("the bridge ACKed %d messages but the queue %s holds %d", acked, bridgeQueue, q.Messages)
		}
		return acked, q.Messages, nil
	}
	f.latAcked, f.latQueued, err = phase(func() (err error) {
		f.lat, _, f.latRetx, err = ackedLatency(b, n, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	// What an AMQP consumer gets: the envelope as signed.
	got, ok, err := ch.Get(bridgeQueue, true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the queue %s is empty after %d acked publishes", bridgeQueue, f.latAcked)
	}
	f.amqpBody = len(got.Body)
	f.asyncAcked, f.asyncQueued, err = phase(func() (err error) {
		f.async, f.asyncRetx, err = asyncThroughput(b, inflight, d)
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// newBridgeBus starts a bridge (recipient "bridge", forwarding benchTopic to bridgeExchange on
// the node at url) and a publisher whose body is benchBody padded so its envelope has size
// bytes, waits until the bridge is connected to the broker and subscribed, and warms the path.
func newBridgeBus(k *pki, urls []string, size int) (*bus, error) {
	eps := map[string][]string{"pub.host": {freeAddr()}, bridgeName + ".host": {freeAddr()}}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bus{names: []string{bridgeName}, cancel: cancel}
	cfg := k.config(bridgeName, eps)
	cfg.Name = bridgeName + ".host"
	cfg.Bridge.URL, cfg.Bridge.Exchange, cfg.Bridge.Topics = urls[0], bridgeExchange, []string{benchTopic}
	if len(urls) > 1 {
		cfg.Bridge.URL, cfg.Bridge.URLs = "", urls
	}
	// Its warnings (a returned or nacked message, a lost connection) would explain a slow figure.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("part", "bridge")
	br, err := config.NewBridge(ctx, cfg, bridge.WithLogger(logger))
	if err != nil {
		cancel()
		return nil, err
	}
	b.closers = append(b.closers, br.Close)
	b.wg.Go(func() { br.Run(ctx) })

	// Ready has no channel to wait on: it is polled until the bridge has its AMQP channel in
	// confirm mode.
	wait, waitCancel := context.WithTimeout(context.Background(), benchWithin)
	defer waitCancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !br.Ready() {
		select {
		case <-wait.Done():
			b.close()
			return nil, fmt.Errorf("the bridge did not connect to RabbitMQ within %s", benchWithin)
		case <-tick.C:
		}
	}
	pcfg := k.config("pub", eps)
	pcfg.Name = "pub.host"
	pub, err := config.NewAckPublisher(context.Background(), pcfg)
	if err != nil {
		b.close()
		return nil, err
	}
	b.pub, b.cfg = pub, pcfg
	if err := pub.WaitSubscribed(wait, benchTopic); err != nil {
		b.close()
		return nil, fmt.Errorf("the bridge's subscription: %w", err)
	}
	if b.body, err = paddedBody(pub, size); err != nil {
		b.close()
		return nil, err
	}
	// As many warm-up publishes as RabbitMQ's own confirm figures discard.
	for range 10 {
		if err := b.publish(); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

// paddedBody is benchBody with a "pad" string that makes the envelope pub builds for it size
// bytes (a few more once the message counter has more digits), or benchBody when its envelope
// is that large already.
func paddedBody(pub *ack.Publisher, size int) (any, error) {
	n, err := envelopeSize(pub, benchBody)
	if err != nil {
		return nil, err
	}
	pad := size - n - len(`,"pad":""`)
	if pad <= 0 {
		return benchBody, nil
	}
	body := maps.Clone(benchBody)
	body["pad"] = strings.Repeat("x", pad)
	return body, nil
}

// envelopeSize is the size of the signed envelope pub builds for an acked publish of body to
// the bridge.
func envelopeSize(pub *ack.Publisher, body any) (int, error) {
	m, err := pub.Build("order", body, ack.To(bridgeName), ack.Modname(benchModname))
	if err != nil {
		return 0, err
	}
	env, err := m.Marshal()
	return len(env), err
}
