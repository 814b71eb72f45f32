package ack_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	base "github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

// hubExampleConfig is the configuration of the process called name on a loopback bus of two
// endpoints, signing as cert with the repository's test PKI.
func hubExampleConfig(eps config.ListMap, name, cert string) *config.Config {
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Endpoints, cfg.Name = eps, name
	cfg.SignMessages, cfg.ValidateSignatures = true, true
	cfg.SSLDir, cfg.Certname = "../testdata/vectors/pki", cert
	cfg.CACertLocation = "../testdata/vectors/pki/ca.crt"
	cfg.CRLLocation = "../testdata/vectors/pki/crl.pem"
	return &cfg
}

// An acking hub runs consumers and ACKs a message only once they processed it, so the publisher's
// Publish returns after the work is done.
func ExampleNewHub() {
	eps := config.ListMap{}
	for _, name := range []string{"shop.host", "billing.host"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		eps[name] = []string{"tcp://" + l.Addr().String()}
		l.Close()
	}

	// The hub ACKs as its certificate's CN, sub01.
	h, err := config.NewAckHub(hubExampleConfig(eps, "billing.host", "sub01"))
	if err != nil {
		panic(err)
	}
	invoice := base.Func(func(ctx context.Context, m *message.Message) error {
		fmt.Println("invoiced", m.Topic())
		return nil // nil: processed, so the hub ACKs; an error would withhold the ACK
	}, "org.example.test.shop.order.#")
	if err := h.Add(invoice, base.DefaultConsumerConfig("invoice")); err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	defer func() { stop(); <-done }()

	p, err := config.NewAckPublisher(context.Background(), hubExampleConfig(eps, "shop.host", "pub01"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	if _, err := p.Publish(context.Background(), "order.paid", map[string]any{"id": 42},
		ack.Modname("shop"), ack.To("sub01"), ack.Within(10*time.Second)); err != nil {
		panic(err)
	}
	fmt.Println("ACKed by sub01 after processing")
	// Output:
	// invoiced org.example.test.shop.order.paid
	// ACKed by sub01 after processing
}
