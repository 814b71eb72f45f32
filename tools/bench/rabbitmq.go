package main

// RabbitMQ, the other peer: the real server from Debian (rabbitmq-server), a throwaway node
// started by internal/rmqtest on private ports, measured with the same payload.
//
// What a RabbitMQ publisher confirm promises: the broker took responsibility for the message (a
// persistent message to a durable queue is written to disk, fsync'd in batches, before the
// confirm); nothing about any consumer. The end-to-end figure: publish, a consumer with manual
// acks receives it, acks it, and replies on a queue the publisher consumes. bridge.go measures
// the bridge (bus → AMQP) on the same node, next to these figures.

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rmqFigures are RabbitMQ's figures.
type rmqFigures struct {
	confirm, e2e []time.Duration
	stream       float64 // msgs/s with up to inflight confirms outstanding
}

// rabbitMQ measures confirm latency (n), streaming confirms throughput (for d, at most
// inflight outstanding) and the end-to-end round trip through a consumer (n/2) on the node at
// url, its queues declared with args (nil: classic; x-queue-type quorum on a cluster).
func rabbitMQ(url string, payload []byte, n int, d time.Duration, inflight int, args amqp.Table) (*rmqFigures, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	pubCh, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := pubCh.Confirm(false); err != nil {
		return nil, err
	}
	for _, q := range []string{"bench.confirm", "bench.e2e", "bench.done"} {
		if _, err := pubCh.QueueDeclare(q, true, false, false, false, args); err != nil {
			return nil, err
		}
		if _, err := pubCh.QueuePurge(q, false); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := &rmqPublisher{ctx: ctx, ch: pubCh, payload: payload}
	f := &rmqFigures{}
	if f.confirm, err = p.confirmLatency(n); err != nil {
		return nil, err
	}
	if f.stream, err = p.streaming(d, inflight); err != nil {
		return nil, err
	}
	if f.e2e, err = p.endToEnd(url, conn, n/2); err != nil {
		return nil, err
	}
	return f, nil
}

// rmqPublisher publishes the payload, persistent, on a channel in confirm mode.
type rmqPublisher struct {
	ctx     context.Context
	ch      *amqp.Channel
	payload []byte
}

// publish sends the payload to queue, its confirm deferred.
func (p *rmqPublisher) publish(queue string, headers amqp.Table) (*amqp.DeferredConfirmation, error) {
	return p.ch.PublishWithDeferredConfirmWithContext(p.ctx, "", queue, false, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: p.payload, Headers: headers})
}

// confirmed waits for dc's confirm; a nack is an error.
func (p *rmqPublisher) confirmed(dc *amqp.DeferredConfirmation) error {
	ok, err := dc.WaitContext(p.ctx)
	if err == nil && !ok {
		err = fmt.Errorf("RabbitMQ nacked a publish")
	}
	return err
}

// confirmLatency is n publishes, one at a time, each until its confirm (after 10 not counted).
func (p *rmqPublisher) confirmLatency(n int) ([]time.Duration, error) {
	var lat []time.Duration
	for i := range n + 10 {
		t0 := time.Now()
		dc, err := p.publish("bench.confirm", nil)
		if err == nil {
			err = p.confirmed(dc)
		}
		if err != nil {
			return nil, err
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

// streaming is msgs/s for d with up to inflight confirms outstanding, counted until every
// confirm is in.
func (p *rmqPublisher) streaming(d time.Duration, inflight int) (float64, error) {
	window := make([]*amqp.DeferredConfirmation, 0, inflight)
	start, sent := time.Now(), 0
	for time.Since(start) < d {
		if len(window) == inflight {
			if err := p.confirmed(window[0]); err != nil {
				return 0, err
			}
			window = window[1:]
		}
		dc, err := p.publish("bench.confirm", nil)
		if err != nil {
			return 0, err
		}
		window = append(window, dc)
		sent++
	}
	for _, dc := range window {
		if err := p.confirmed(dc); err != nil {
			return 0, err
		}
	}
	return float64(sent) / time.Since(start).Seconds(), nil
}

// endToEnd is n round trips (after 10 not counted): publish and confirm, a consumer on its own
// connection acks and replies on a queue the publisher consumes on conn.
func (p *rmqPublisher) endToEnd(url string, conn *amqp.Connection, n int) ([]time.Duration, error) {
	cconn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	defer cconn.Close() // ends the consumer's goroutine
	cch, err := cconn.Channel()
	if err != nil {
		return nil, err
	}
	if err := cch.Qos(16, 0, false); err != nil {
		return nil, err
	}
	work, err := cch.Consume("bench.e2e", "worker", false, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	go func() {
		for m := range work {
			if m.Ack(false) == nil {
				cch.PublishWithContext(p.ctx, "", "bench.done", false, false, amqp.Publishing{Body: []byte(fmt.Sprint(m.Headers["id"]))})
			}
		}
	}()
	rch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	replies, err := rch.Consume("bench.done", "publisher", true, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	var lat []time.Duration
	for i := range n + 10 {
		id := fmt.Sprint(i)
		t0 := time.Now()
		dc, err := p.publish("bench.e2e", amqp.Table{"id": id})
		if err == nil {
			err = p.confirmed(dc)
		}
		if err != nil {
			return nil, err
		}
		select {
		case r, ok := <-replies:
			if !ok {
				return nil, fmt.Errorf("RabbitMQ end to end: the reply consumer closed")
			}
			if string(r.Body) != id {
				return nil, fmt.Errorf("RabbitMQ end to end: consumer confirmed %s, expected %s", r.Body, id)
			}
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("RabbitMQ end to end: %s not confirmed within 30 s", id)
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
