package publisher_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/publisher"
)

// exampleConfig is a bus of one passive publisher, "svc.host", on a free loopback port; a
// deployment lists its endpoints in its configuration file instead.
func exampleConfig() *config.Config {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l.Close()
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Endpoints = config.ListMap{"svc.host": {"tcp://" + l.Addr().String()}}
	cfg.Name = "svc.host" // the endpoints key this process binds
	return &cfg
}

// New binds the endpoint named by the configuration; Publish builds, signs when sign_messages is
// set, and sends. PUB/SUB drops what is sent before a subscriber's subscription arrives, so this
// example waits for it (package ack retransmits instead).
func ExampleNew() {
	cfg := exampleConfig()
	pub, err := config.NewPublisher(context.Background(), cfg, publisher.WithModname("shop"))
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := config.NewSubscriber(cfg, "org.example.test.shop")
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, "org.example.test.shop"); err != nil {
		panic(err)
	}
	m, err := pub.Publish(ctx, "order", map[string]any{"id": 42})
	if err != nil {
		panic(err)
	}
	fmt.Println("sent", m.Topic())
	d, err := sub.Next(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("received", d.Topic, d.Message.Body(), d.Message.MsgID() == m.MsgID())
	// Output:
	// sent org.example.test.shop.order
	// received org.example.test.shop.order map[id:42] true
}

// Build makes the envelope, signed with the configured certificate, without sending it.
func ExamplePublisher_Build() {
	cfg := exampleConfig()
	cfg.SignMessages = true
	cfg.SSLDir = "../testdata/vectors/pki" // <ssldir>/<certname>.crt and .key
	cfg.Certname = "pub01"
	pub, err := config.NewPublisher(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	m, err := pub.Build("update", map[string]any{"id": 42}, publisher.Modname("bodhi"))
	if err != nil {
		panic(err)
	}
	crypto, _ := m.String("crypto")
	fmt.Println(m.Topic(), "signed by", pub.Signer().Name(), "with", crypto, m.Has("signature"))
	// Output: org.example.test.bodhi.update signed by pub01 with x509 true
}
