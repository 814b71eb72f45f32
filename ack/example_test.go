package ack_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
)

// The examples run a bus on loopback: each process binds the endpoint under its name and
// connects to all the others. Certificates come from the repository's test PKI; a deployment
// uses its ssldir (e.g. /etc/pki/fedmsg) and a fixed endpoints table in its configuration file.

// exampleEndpoints gives each name a free loopback port.
func exampleEndpoints(names ...string) config.ListMap {
	eps := config.ListMap{}
	for _, name := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		eps[name] = []string{"tcp://" + l.Addr().String()}
		l.Close()
	}
	return eps
}

// exampleConfig is the configuration of the process called name, signing as cert.
func exampleConfig(eps config.ListMap, name, cert string) *config.Config {
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Endpoints = eps
	cfg.Name = name
	cfg.SignMessages, cfg.ValidateSignatures = true, true
	cfg.SSLDir = "../testdata/vectors/pki"
	cfg.Certname = cert
	cfg.CACertLocation = "../testdata/vectors/pki/ca.crt"
	cfg.CRLLocation = "../testdata/vectors/pki/crl.pem"
	return &cfg
}

// Publish returns nil only once every recipient named with To has sent an ACK signed by its own
// certificate; Within bounds the wait.
func ExamplePublisher_Publish() {
	eps := exampleEndpoints("pub.host", "sub01.host")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The recipient: an acking consumer whose certificate's CN is sub01.
	sub, err := config.NewAckSubscriber(exampleConfig(eps, "sub01.host", "sub01"), "org.example.test.shop")
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			d, err := sub.Next(ctx)
			if err != nil {
				return // cancelled
			}
			fmt.Println("sub01 got", d.Topic)
			d.Done(nil) // processed: send the ACK
		}
	})

	pub, err := config.NewAckPublisher(context.Background(), exampleConfig(eps, "pub.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	defer cancel() // stop the consumer before the publisher closes
	m, err := pub.Publish(ctx, "order", map[string]any{"id": 42},
		ack.Modname("shop"), ack.To("sub01"), ack.Within(10*time.Second))
	if err != nil {
		panic(err) // a *TimeoutError naming who did not ACK
	}
	fmt.Println("acked:", m.Topic())
	// Output:
	// sub01 got org.example.test.shop.order
	// acked: org.example.test.shop.order
}

// PublishAsync keeps several acked messages in flight from one goroutine; each Future completes
// when its recipients have ACKed.
func ExamplePublisher_PublishAsync() {
	eps := exampleEndpoints("pub.host", "sub01.host", "sub02.host")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, name := range []string{"sub01", "sub02"} {
		sub, err := config.NewAckSubscriber(exampleConfig(eps, name+".host", name), "org.example.test.shop",
			ack.WithMode(ack.OnReceipt)) // ACK on receipt, as gilmsg does
		if err != nil {
			panic(err)
		}
		defer sub.Close()
		wg.Go(func() {
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		})
	}

	pub, err := config.NewAckPublisher(context.Background(), exampleConfig(eps, "pub.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	defer cancel()
	var futures []*ack.Future
	for i := range 3 {
		f, err := pub.PublishAsync(ctx, "order", map[string]any{"id": i},
			ack.Modname("shop"), ack.To("sub01", "sub02"), ack.Within(10*time.Second))
		if err != nil {
			panic(err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		if err := f.Wait(ctx); err != nil {
			panic(err)
		}
		fmt.Println("order", i, "acked by", slices.Sorted(slices.Values(f.Acked())))
	}
	// Output:
	// order 0 acked by [sub01 sub02]
	// order 1 acked by [sub01 sub02]
	// order 2 acked by [sub01 sub02]
}

// A recipient that does not ACK in time makes Publish fail with a *TimeoutError that says who is
// missing and who did ACK.
func ExampleTimeoutError() {
	eps := exampleEndpoints("pub.host", "sub01.host", "sub02.host") // sub02 is down
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for d, err := range config.AckTail(ctx, exampleConfig(eps, "sub01.host", "sub01"), "org.example.test.shop") {
			if err != nil {
				panic(err)
			}
			_ = d // processed; the ACK goes out when the loop body returns
		}
	})

	pub, err := config.NewAckPublisher(context.Background(), exampleConfig(eps, "pub.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	defer cancel()
	_, err = pub.Publish(ctx, "order", map[string]any{"id": 42},
		ack.Modname("shop"), ack.To("sub01", "sub02"), ack.Within(2*time.Second))
	var te *ack.TimeoutError
	if errors.As(err, &te) {
		fmt.Println("missing:", te.Missing, "acked:", te.Acked)
	}
	fmt.Println(errors.Is(err, ack.ErrTimeout))
	// Output:
	// missing: [sub02] acked: [sub01]
	// true
}

// Tail is the consumer side: it yields each valid message and ACKs the ones that ask for it when
// the loop body returns (after-processing mode, the default).
func ExampleTail() {
	eps := exampleEndpoints("pub.host", "sub01.host")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pub, err := config.NewAckPublisher(context.Background(), exampleConfig(eps, "pub.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	published := make(chan error, 1)
	go func() {
		_, err := pub.Publish(ctx, "order", map[string]any{"id": 42},
			ack.Modname("shop"), ack.To("sub01"), ack.Within(10*time.Second))
		published <- err
		cancel() // acked: end the Tail below
	}()

	for d, err := range config.AckTail(ctx, exampleConfig(eps, "sub01.host", "sub01"), "org.example.test.shop") {
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Topic, d.Message.Body(), "ACK requested:", d.Marked)
	}
	fmt.Println("publish:", <-published)
	// Output:
	// org.example.test.shop.order map[id:42] ACK requested: true
	// publish: <nil>
}

// An application's own tests need no bus and no recipients: with sink = "log" nothing is sent,
// each message is written to the logger (topic, msg_id, body), and acked publishes succeed
// without waiting. mode = "development" is the same on a real bus: messages are sent, and acked
// publishes do not wait for their recipients.
func ExampleNew_logSink() {
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Sink = config.SinkLog
	cfg.Recipients = config.ListMap{"org.example.test.shop.#": {"billing"}}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	p, err := config.NewAckPublisher(context.Background(), &cfg, ack.WithModname("shop")) // each message is logged to slog.Default()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	m, err := p.Publish(context.Background(), "order.new", map[string]any{"id": 7})
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Topic(), m.Has("gilmsg_version"), p.Stats().NotAwaited)
	// Output: org.example.test.shop.order.new true 1
}

// WithEvents reports each connection change of a Subscriber's sockets (and of a Publisher's ACK
// listener) as an ack.Event: which endpoint, and whether it connected or disconnected.
func ExampleWithEvents() {
	eps := exampleEndpoints("pub.host", "sub01.host")
	pub, err := config.NewAckPublisher(context.Background(), exampleConfig(eps, "pub.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()

	connected := make(chan ack.Event, 1)
	sub, err := config.NewAckSubscriber(exampleConfig(eps, "sub01.host", "sub01"), "org.example.test.shop",
		ack.WithEvents(func(e ack.Event) {
			if e.Kind == ack.Connected && e.Endpoint == "pub.host" {
				select {
				case connected <- e: // fn must not block
				default:
				}
			}
		}))
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	e := <-connected
	fmt.Println(e.Kind, e.Endpoint, e.Addr == eps["pub.host"][0])
	// Output: connected pub.host true
}
