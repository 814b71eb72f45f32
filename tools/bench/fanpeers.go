package main

// The peers on the fan-out curve: NATS JetStream and RabbitMQ with N consumers each
// acknowledging, at the points of the fan-out curve (fanout.go). One message is published and the
// round trip ends when all N consumers received it, acknowledged it to the server and told the
// publisher so (each on its own connection, as N services would be; the consumers are goroutines
// of this process, as in the peers' other end-to-end rows).
//
// What each acknowledgement promises, next to ackmsg's (each of N named recipients verified the
// signed message and returned a signed ACK the publisher verified; nothing stored):
//   - JetStream (default sync: nothing fsync'd on the way, like ackmsg): the stream stored the
//     message; each of N durable consumers (deliver new, explicit ack) received it and its double
//     ack was confirmed by the server (the server recorded that consumer's ack), then it replied.
//   - RabbitMQ: a persistent message to a fanout exchange bound to N durable queues, one per
//     consumer; the broker confirmed it (in all N queues, on disk in its batches); each consumer
//     (manual ack) received it, acked it and replied.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
)

// fanPeerSamples is the round trips timed at n consumers (after 10 not counted).
func (b *bench) fanPeerSamples(n int) int {
	switch {
	case b.quick:
		return 20
	case n <= 10:
		return 100
	default:
		return 50
	}
}

// fanPeers measures, at the points of the fan-out curve, ackmsg with its N recipients in this
// process (ack.Subscriber goroutines, Ed25519: like for like with the peers' consumers), then
// JetStream and RabbitMQ, and adds their rows, ackmsg's p50 next to each peer's, and the curve of
// them all. It leaves the RabbitMQ node it starts running: the next scenario (rabbitAndBridge)
// uses the same node and stops it.
func (b *bench) fanPeers() error {
	b.section("Fan-out curve, like for like with the peers: N recipients or consumers in one process, each acknowledging (same payload, same machine); ratio = ackmsg / its floor, or ackmsg / peer")
	ns := b.fan.ns
	inProc, err := b.fanInProcess(ns)
	if err != nil {
		return err
	}
	js, err := b.jsFanOut(ns)
	if err != nil {
		return fmt.Errorf("JetStream with N consumers: %w", err)
	}
	var rmq map[int][]time.Duration
	if url, err := rmqtest.Start(); err != nil {
		b.skip("RabbitMQ with N consumers", "µs", err)
	} else if rmq, err = b.rmqFanOut(url, ns); err != nil {
		return fmt.Errorf("RabbitMQ with N consumers: %w", err)
	}
	for _, n := range ns {
		acked := us(quantile(inProc[n], 0.5))
		for _, peer := range []struct {
			name, promise string
			lat           []time.Duration
		}{{"JetStream", "N durable consumers, each double-acked (default sync)", js[n]},
			{"RabbitMQ", "N durable queues on a fanout exchange, confirmed, each consumer acked", rmq[n]}} {
			if peer.lat == nil {
				continue
			}
			for _, q := range quantiles[1:] {
				b.add(Row{Name: fmt.Sprintf("%s, %d consumer(s) each acknowledging, end to end %s", peer.name, n, q.name),
					Unit: "µs", Value: us(quantile(peer.lat, q.q)), Note: peer.promise + ", then each replies to the publisher"})
			}
			b.add(Row{Name: fmt.Sprintf("ackmsg acked Ed25519 p50, %d recipient(s) in process, vs %s with %d consumer(s) p50", n, peer.name, n),
				Unit: "µs", Value: acked, Floor: us(quantile(peer.lat, 0.5)), Of: fmt.Sprintf("%s end to end, %d consumer(s), p50", peer.name, n)})
		}
	}
	b.addCurve(fanPeersChart(b.fan, inProc, js, rmq))
	return nil
}

// fanInProcess is acked publish latency, Ed25519, to n ack.Subscriber goroutines of this process at
// each point of ns (each subscriber with its own context, bound endpoint and connection to the
// publisher only), with its rows next to the floor at n.
func (b *bench) fanInProcess(ns []int) (map[int][]time.Duration, error) {
	out := map[int][]time.Duration{}
	for _, n := range ns {
		samples := b.fanSamples(n)
		name := fmt.Sprintf("to %d recipient(s) in process%s", n, b.edFig.suffix())
		step("fan-out curve: acked publish %s, %d samples", name, samples)
		bu, err := newBusWith(b.ed, n, func(c *config.Config) {
			if c.Name != "pub.host" { // a recipient: the publisher's endpoint and its own
				c.Endpoints = config.ListMap{"pub.host": c.Endpoints["pub.host"], c.Name: c.Endpoints[c.Name]}
			}
		})
		if err != nil {
			return nil, err
		}
		lat, interleaved, retx, err := ackedLatency(bu, samples, b.edFig.kit)
		bu.close()
		if err != nil {
			return nil, err
		}
		b.ackedLatencyRows(b.edFig, name, n, lat, interleaved, retx, nil)
		out[n] = lat
	}
	return out, nil
}

// fanPeersChart is ackmsg's acked p50 (Ed25519; recipients in separate processes and in this
// process) next to the peers' end to end p50 at the same points.
func fanPeersChart(f *fanFigures, inProc, js, rmq map[int][]time.Duration) Curve {
	procs := map[int][]time.Duration{}
	for _, pt := range f.ed {
		procs[pt.n] = pt.lat
	}
	var series []Series
	for _, p := range []struct {
		name string
		lat  map[int][]time.Duration
	}{{"ackmsg acked, Ed25519, recipient processes", procs}, {"ackmsg acked, Ed25519, recipients in process", inProc},
		{"JetStream, N durable consumers (default sync)", js}, {"RabbitMQ, N durable queues", rmq}} {
		sr := Series{Name: p.name}
		for _, n := range f.ns {
			if lat, ok := p.lat[n]; ok {
				sr.Points = append(sr.Points, Point{float64(n), us(quantile(lat, 0.5)) / 1e3})
			}
		}
		series = append(series, sr)
	}
	return Curve{ID: "fanout-peers", Title: "Acknowledged by N consumers: ackmsg next to JetStream and RabbitMQ (p50)",
		X: "recipients / consumers", Y: "p50 latency (ms)", LogX: true, LogY: true, Series: series,
		Note: "ackmsg: each of N recipients verifies the signed message and returns a signed ACK the publisher " +
			"verifies; as N ackmsg-tail --ack processes, and as N ack.Subscriber goroutines of the bench process " +
			"(like for like with the peers). JetStream: N durable consumers (goroutines, a connection each), each " +
			"double-acks then replies. RabbitMQ: a persistent message, confirmed, to N durable queues on a fanout " +
			"exchange; each consumer (goroutine, a connection each) acks then replies."}
}

// jsFanOut starts an embedded nats-server (JetStream, file storage, default sync) and measures the
// round trip to n consumers at each point of ns, adding consumers from point to point.
func (b *bench) jsFanOut(ns []int) (map[int][]time.Duration, error) {
	dir, err := os.MkdirTemp("", "ackmsg-bench-natsfan")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, fmt.Errorf("nats-server not ready within 10 s")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FAN", Subjects: []string{"fan.msg"},
		Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	replies := make(chan string, 2*fanMax)
	rsub, err := nc.Subscribe("fan.done", func(m *nats.Msg) { replies <- string(m.Data) })
	if err != nil {
		return nil, err
	}
	defer rsub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return nil, err
	}
	var consumers []*jsFanConsumer
	defer func() {
		for _, c := range consumers {
			c.stop()
		}
	}()
	out := map[int][]time.Duration{}
	for _, n := range ns {
		for i := len(consumers); i < n; i++ {
			c, err := newJSFanConsumer(ctx, srv.ClientURL(), i)
			if err != nil {
				return nil, err
			}
			consumers = append(consumers, c)
		}
		step("fan-out curve: JetStream, %d consumer(s) each double-acking, %d round trips", n, b.fanPeerSamples(n))
		lat, err := fanRoundTrips(n, b.fanPeerSamples(n), replies, func(id string) error {
			_, err := js.PublishMsg(ctx, &nats.Msg{Subject: "fan.msg", Data: b.msgFrame, Header: nats.Header{"Id": []string{id}}})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%d consumers: %w", n, err)
		}
		out[n] = lat
	}
	return out, nil
}

// jsFanConsumer is one durable consumer on its own connection: it double-acks each message, then
// replies "<id>/<consumer>" on fan.done.
type jsFanConsumer struct {
	nc *nats.Conn
	cc jetstream.ConsumeContext
}

func newJSFanConsumer(ctx context.Context, url string, i int) (*jsFanConsumer, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var cons jetstream.Consumer
		cons, err = js.CreateOrUpdateConsumer(ctx, "FAN", jetstream.ConsumerConfig{Durable: fmt.Sprintf("w%02d", i),
			FilterSubject: "fan.msg", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverNewPolicy})
		if err == nil {
			var cc jetstream.ConsumeContext
			cc, err = cons.Consume(func(m jetstream.Msg) {
				if m.DoubleAck(ctx) == nil {
					nc.Publish("fan.done", []byte(m.Headers().Get("Id")+"/"+fmt.Sprint(i)))
				}
			})
			if err == nil {
				return &jsFanConsumer{nc: nc, cc: cc}, nil
			}
		}
	}
	nc.Close()
	return nil, err
}

func (c *jsFanConsumer) stop() {
	c.cc.Stop()
	c.nc.Close()
}

// fanRoundTrips times samples round trips (after 10 not counted): publish(id), then n replies
// "<id>/<consumer>" from n different consumers on replies.
func fanRoundTrips(n, samples int, replies <-chan string, publish func(id string) error) ([]time.Duration, error) {
	var lat []time.Duration
	for i := range samples + 10 {
		id := fmt.Sprint(i)
		t0 := time.Now()
		if err := publish(id); err != nil {
			return nil, err
		}
		from := map[string]bool{}
		timeout := time.After(30 * time.Second)
		for len(from) < n {
			select {
			case r := <-replies:
				got, who, _ := strings.Cut(r, "/")
				if got != id || from[who] {
					return nil, fmt.Errorf("reply %q while waiting for %s (a message delivered twice or late)", r, id)
				}
				from[who] = true
			case <-timeout:
				return nil, fmt.Errorf("%s: %d of %d consumers replied within 30 s", id, len(from), n)
			}
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

// rmqFanOut measures, on the node at url, the round trip to n consumers at each point of ns: a
// fanout exchange bound to one durable queue per consumer, consumers added from point to point;
// the exchange and queues are deleted at the end.
func (b *bench) rmqFanOut(url string, ns []int) (map[int][]time.Duration, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		return nil, err
	}
	if err := ch.ExchangeDeclare("bench.fan", "fanout", true, false, false, false, nil); err != nil {
		return nil, err
	}
	if _, err := ch.QueueDeclare("bench.fan.done", true, false, false, false, nil); err != nil {
		return nil, err
	}
	done, err := ch.Consume("bench.fan.done", "publisher", true, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	replies := make(chan string, 2*fanMax)
	var fwd sync.WaitGroup
	fwd.Go(func() {
		for d := range done { // ends when conn closes
			select {
			case replies <- string(d.Body):
			default: // only after a failed round trip: nobody reads any more
			}
		}
	})
	var consumers []*rmqFanConsumer
	defer func() {
		for _, c := range consumers {
			c.stop(ch)
		}
		ch.QueueDelete("bench.fan.done", false, false, false)
		ch.ExchangeDelete("bench.fan", false, false)
		conn.Close()
		fwd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := &rmqPublisher{ctx: ctx, ch: ch, payload: b.msgFrame}
	out := map[int][]time.Duration{}
	for _, n := range ns {
		for i := len(consumers); i < n; i++ {
			c, err := newRMQFanConsumer(ctx, url, ch, i)
			if err != nil {
				return nil, err
			}
			consumers = append(consumers, c)
		}
		step("fan-out curve: RabbitMQ, %d consumer(s) each acking, %d round trips", n, b.fanPeerSamples(n))
		lat, err := fanRoundTrips(n, b.fanPeerSamples(n), replies, func(id string) error {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "bench.fan", "", false, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: b.msgFrame, Headers: amqp.Table{"id": id}})
			if err != nil {
				return err
			}
			return p.confirmed(dc)
		})
		if err != nil {
			return nil, fmt.Errorf("%d consumers: %w", n, err)
		}
		out[n] = lat
	}
	return out, nil
}

// rmqFanConsumer is one consumer on its own connection with its own durable queue bound to the
// fanout exchange: it acks each message, then replies "<id>/<consumer>" to bench.fan.done.
type rmqFanConsumer struct {
	conn  *amqp.Connection
	queue string
	wg    sync.WaitGroup
}

func newRMQFanConsumer(ctx context.Context, url string, admin *amqp.Channel, i int) (*rmqFanConsumer, error) {
	c := &rmqFanConsumer{queue: fmt.Sprintf("bench.fan.%02d", i)}
	if _, err := admin.QueueDeclare(c.queue, true, false, false, false, nil); err != nil {
		return nil, err
	}
	if err := admin.QueueBind(c.queue, "", "bench.fan", false, nil); err != nil {
		return nil, err
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	cch, err := conn.Channel()
	if err == nil {
		err = cch.Qos(16, 0, false)
	}
	var work <-chan amqp.Delivery
	if err == nil {
		work, err = cch.Consume(c.queue, fmt.Sprintf("w%02d", i), false, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.wg.Go(func() {
		for m := range work { // ends when conn closes
			if m.Ack(false) == nil {
				cch.PublishWithContext(ctx, "", "bench.fan.done", false, false,
					amqp.Publishing{Body: fmt.Appendf(nil, "%v/%d", m.Headers["id"], i)})
			}
		}
	})
	return c, nil
}

// stop closes the consumer's connection, waits for its goroutine and deletes its queue.
func (c *rmqFanConsumer) stop(admin *amqp.Channel) {
	c.conn.Close()
	c.wg.Wait()
	admin.QueueDelete(c.queue, false, false, false)
}
