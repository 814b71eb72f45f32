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
// url.
func rabbitMQ(url string, payload []byte, n int, d time.Duration, inflight int) (*rmqFigures, error) {
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
		if _, err := pubCh.QueueDeclare(q, true, false, false, false, nil); err != nil {
			return nil, err
		}
		if _, err := pubCh.QueuePurge(q, false); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	publish := func(queue string, headers amqp.Table) (*amqp.DeferredConfirmation, error) {
		return pubCh.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: payload, Headers: headers})
	}
	confirmed := func(dc *amqp.DeferredConfirmation) error {
		ok, err := dc.WaitContext(ctx)
		if err == nil && !ok {
			err = fmt.Errorf("RabbitMQ nacked a publish")
		}
		return err
	}
	f := &rmqFigures{}

	for i := range n + 10 {
		t0 := time.Now()
		dc, err := publish("bench.confirm", nil)
		if err == nil {
			err = confirmed(dc)
		}
		if err != nil {
			return nil, err
		}
		if i >= 10 {
			f.confirm = append(f.confirm, time.Since(t0))
		}
	}

	window := make([]*amqp.DeferredConfirmation, 0, inflight)
	start, sent := time.Now(), 0
	for time.Since(start) < d {
		if len(window) == inflight {
			if err := confirmed(window[0]); err != nil {
				return nil, err
			}
			window = window[1:]
		}
		dc, err := publish("bench.confirm", nil)
		if err != nil {
			return nil, err
		}
		window = append(window, dc)
		sent++
	}
	for _, dc := range window {
		if err := confirmed(dc); err != nil {
			return nil, err
		}
	}
	f.stream = float64(sent) / time.Since(start).Seconds()

	// The consumer: its own connection, manual acks, then a reply to the publisher.
	cconn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	defer cconn.Close()
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
				cch.PublishWithContext(ctx, "", "bench.done", false, false, amqp.Publishing{Body: []byte(fmt.Sprint(m.Headers["id"]))})
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
	for i := range n/2 + 10 {
		id := fmt.Sprint(i)
		t0 := time.Now()
		dc, err := publish("bench.e2e", amqp.Table{"id": id})
		if err == nil {
			err = confirmed(dc)
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
			f.e2e = append(f.e2e, time.Since(t0))
		}
	}
	return f, nil
}
