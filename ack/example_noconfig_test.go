package ack_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/transport"
)

// A Go program needs no fedmsg configuration: each component takes its Config, the signer and
// the verifier. Here an acking consumer (CN sub01) and a publisher (CN pub01) on loopback, with
// the repository's test PKI; Publish returns once sub01's signed ACK was verified.
func Example_withoutConfiguration() {
	pki := "../testdata/vectors/pki/"
	trust := certs.DefaultTrustConfig(pki + "ca.crt")
	trust.CRLFile = pki + "crl.pem"
	verifier, err := certs.NewVerifier(trust)
	check(err)
	pubAddr, ackAddr := loopbackAddr(), loopbackAddr()

	sc := ack.DefaultSubscriberConfig()
	sc.Consumer.Endpoints = []transport.Endpoint{{Name: "shop", Address: pubAddr}}
	sc.Acks.Name, sc.Acks.Bind = "billing", []string{ackAddr}
	sub, err := ack.NewSubscriber(sc, "org.fedoraproject.dev.shop", ack.WithSigner(signer(pki, "sub01")), ack.WithVerifier(verifier))
	check(err)
	defer sub.Close()

	pc := ack.DefaultConfig()
	pc.Publisher.Name, pc.Publisher.Bind = "shop", []string{pubAddr}
	pc.Endpoints = []transport.Endpoint{{Name: "billing", Address: ackAddr}}
	pub, err := ack.New(pc, ack.WithSigner(signer(pki, "pub01")), ack.WithVerifier(verifier))
	check(err)
	defer pub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { // the consumer: process, then ACK (Done)
		defer close(done)
		for d, err := sub.Next(ctx); err == nil; d, err = sub.Next(ctx) {
			fmt.Println("received", d.Topic)
			d.Done(nil)
		}
	}()
	m, err := pub.Publish(ctx, "order", map[string]any{"id": 1}, ack.To("sub01"))
	fmt.Println("acked", m.Topic(), err)
	cancel()
	<-done
	// Output:
	// received org.fedoraproject.dev.shop.order
	// acked org.fedoraproject.dev.shop.order <nil>
}

func signer(pki, cn string) certs.Signer {
	s, err := certs.LoadSigner(pki+cn+".crt", pki+cn+".key")
	check(err)
	return s
}

func loopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
