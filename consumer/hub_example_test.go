package consumer_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// A Hub runs long-lived consumers, each on its topic patterns with its own inbox and workers.
// (ack.NewHub is the same with ACKs.)
func ExampleHub() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l.Close()
	cfg := config.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment = "org.example", "test"
	cfg.Endpoints = config.ListMap{"bodhi.host": {"tcp://" + l.Addr().String()}}
	cfg.Name = "bodhi.host"

	h, err := config.NewHub(&cfg)
	if err != nil {
		panic(err)
	}
	got := make(chan string, 1)
	updates := consumer.Func(func(ctx context.Context, m *message.Message) error {
		got <- m.Topic()
		return nil
	}, "org.example.test.bodhi.update.#") // "#": zero or more words; "*": exactly one
	cc := consumer.DefaultConsumerConfig("updates")
	cc.Workers = 4
	if err := h.Add(updates, cc); err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	defer func() { stop(); <-done }()

	pub, err := config.NewPublisher(context.Background(), &cfg)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Plain PUB/SUB drops what is sent before the subscription arrives: wait for it.
	if err := pub.WaitSubscribed(wait, "org.example.test.bodhi.update"); err != nil {
		panic(err)
	}
	if _, err := pub.Publish(wait, "update.comment", map[string]any{"text": "LGTM"}, publisher.Modname("bodhi")); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output: org.example.test.bodhi.update.comment
}
