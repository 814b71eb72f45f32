package main

// NATS JetStream, the peer a user choosing a reliable bus compares ackmsg with, measured in the
// same run on the same machine with the same payload (the signed envelope's bytes): an
// embedded nats-server with JetStream on file storage in a temporary directory, once with its
// default sync (the OS flushes; the server fsyncs every two minutes) and once with
// sync_interval always (an fsync per write, like ackmsg's outbox).
//
// What a JetStream acknowledgement promises: a publish ack means the server stored the message
// in the stream (on disk, fsync'd with sync always); it says nothing about any consumer. The
// end-to-end figure is the closest JetStream has to ackmsg's promise (a named recipient got the
// message and said so): publish, a durable consumer receives it, acknowledges it (a double ack:
// the server confirmed the ack), and replies on a subject the publisher waits on.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsFigures are one JetStream configuration's figures.
type jsFigures struct {
	sync, e2e []time.Duration
	async     float64 // msgs/s
}

// natsJetStream starts an embedded server (syncAlways: fsync every write) and measures sync
// publish latency (n), async publish throughput (for d, at most inflight outstanding) and the
// end-to-end round trip through a durable consumer (n/2).
func natsJetStream(payload []byte, syncAlways bool, n int, d time.Duration, inflight int) (*jsFigures, error) {
	dir, err := os.MkdirTemp("", "ackmsg-bench-nats")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir,
		SyncAlways: syncAlways, NoLog: true, NoSigs: true})
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
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(inflight+1))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	f := &jsFigures{}
	if f.sync, err = jsSyncLatency(ctx, js, payload, n); err != nil {
		return nil, err
	}
	if f.async, err = jsAsync(ctx, js, payload, d, inflight); err != nil {
		return nil, err
	}
	if f.e2e, err = jsEndToEnd(ctx, nc, js, payload, n/2); err != nil {
		return nil, err
	}
	return f, nil
}

// jsSyncLatency is n publishes one at a time, each until the server's ack (stored); the first
// 10 are not counted.
func jsSyncLatency(ctx context.Context, js jetstream.JetStream, payload []byte, n int) ([]time.Duration, error) {
	var lat []time.Duration
	for i := range n + 10 {
		t0 := time.Now()
		if _, err := js.Publish(ctx, "bench.sync", payload); err != nil {
			return nil, err
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

// jsAsync is msgs/s for d with up to inflight outstanding, counted until every ack is in. The
// window is kept here (wait for the oldest ack when inflight are outstanding), as ackmsg's
// PublishAsync figure does, rather than by the client's stall timeout.
func jsAsync(ctx context.Context, js jetstream.JetStream, payload []byte, d time.Duration, inflight int) (float64, error) {
	acked := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return fmt.Errorf("JetStream async ack: %w", ctx.Err())
		}
	}
	window := make([]jetstream.PubAckFuture, 0, inflight)
	start, sent := time.Now(), 0
	for time.Since(start) < d {
		if len(window) == inflight {
			if err := acked(window[0]); err != nil {
				return 0, err
			}
			window = window[1:]
		}
		fut, err := js.PublishAsync("bench.async", payload)
		if err != nil {
			return 0, err
		}
		window = append(window, fut)
		sent++
	}
	for _, fut := range window {
		if err := acked(fut); err != nil {
			return 0, err
		}
	}
	return float64(sent) / time.Since(start).Seconds(), nil
}

// jsEndToEnd is n round trips (after 10 not counted): publish, a durable consumer acks
// (confirmed by the server) and then tells the publisher.
func jsEndToEnd(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, payload []byte, n int) ([]time.Duration, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, "BENCH", jetstream.ConsumerConfig{Durable: "worker",
		FilterSubject: "bench.e2e", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return nil, err
	}
	done := make(chan string, 1)
	sub, err := nc.Subscribe("bench.done", func(m *nats.Msg) { done <- string(m.Data) })
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := m.DoubleAck(ctx); err == nil {
			nc.Publish("bench.done", []byte(m.Headers().Get("Id")))
		}
	})
	if err != nil {
		return nil, err
	}
	defer cc.Stop()
	if err := nc.Flush(); err != nil {
		return nil, err
	}
	var lat []time.Duration
	for i := range n + 10 {
		id := fmt.Sprint(i)
		msg := &nats.Msg{Subject: "bench.e2e", Data: payload, Header: nats.Header{"Id": []string{id}}}
		t0 := time.Now()
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			return nil, err
		}
		select {
		case got := <-done:
			if got != id {
				return nil, fmt.Errorf("JetStream end to end: consumer confirmed %s, expected %s", got, id)
			}
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("JetStream end to end: %s not confirmed within 30 s", id)
		}
		if i >= 10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
