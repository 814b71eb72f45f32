package consumer_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/publisher"
)

// exampleConfig is a bus of one signing publisher, "svc.host", on a free loopback port, whose
// consumers validate signatures against the repository's test CA; a deployment lists its
// endpoints in its configuration file and uses its own ssldir.
func exampleConfig() *config.Config {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l.Close()
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Endpoints = config.ListMap{"svc.host": {"tcp://" + l.Addr().String()}}
	cfg.Name = "svc.host"
	cfg.SignMessages, cfg.ValidateSignatures = true, true
	cfg.SSLDir, cfg.Certname = "../testdata/vectors/pki", "pub01"
	cfg.CACertLocation = "../testdata/vectors/pki/ca.crt"
	cfg.CRLLocation = "../testdata/vectors/pki/crl.pem"
	return &cfg
}

// Tail yields every valid message under a topic prefix, like fedmsg's tail_messages; breaking
// out of the loop (or cancelling ctx) closes the sockets.
func ExampleTail() {
	cfg := exampleConfig()
	pub, err := config.NewPublisher(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		// PUB/SUB drops what is sent before the subscription arrives: wait for it.
		if err := pub.WaitSubscribed(ctx, "org.example.test.bodhi"); err != nil {
			panic(err)
		}
		if _, err := pub.Publish(ctx, "update", map[string]any{"id": 42}, publisher.Modname("bodhi")); err != nil {
			panic(err)
		}
	})

	for d, err := range config.Tail(ctx, cfg, "org.example.test.bodhi") {
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Topic, d.Message.Body(), "signed by", d.Signer.CN)
		break
	}
	// Output: org.example.test.bodhi.update map[id:42] signed by pub01
}

// A Subscriber is the loop-free form of Tail: Next returns the next valid message, and Stats
// counts what was dropped and why.
func ExampleSubscriber_Next() {
	cfg := exampleConfig()
	pub, err := config.NewPublisher(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := config.NewSubscriber(cfg, "org.example.test")
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, "org.example.test"); err != nil {
		panic(err)
	}
	for i := range 2 {
		if _, err := pub.Publish(ctx, "tick", map[string]any{"n": i}, publisher.Modname("clock")); err != nil {
			panic(err)
		}
	}
	for range 2 {
		d, err := sub.Next(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Topic, d.Message.Body())
	}
	st := sub.Stats()
	fmt.Println("delivered", st.Delivered, "dropped", len(st.Dropped))
	// Output:
	// org.example.test.clock.tick map[n:0]
	// org.example.test.clock.tick map[n:1]
	// delivered 2 dropped 0
}
