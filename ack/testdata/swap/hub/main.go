// Command hub is a hub program written against packages consumer and publisher, the two used
// together in one file. The API test (ack/api_test.go) only compiles it, as it is and with both
// imports switched to package ack.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

type audit struct{}

func (audit) Topics() []string { return []string{"org.example.test.#"} }
func (audit) Consume(ctx context.Context, m *message.Message) error {
	if info, ok := consumer.InfoFrom(ctx); ok && info.Attempt > 1 {
		return fmt.Errorf("%s: attempt %d of %s", info.Consumer, info.Attempt, m.MsgID())
	}
	return nil
}
func (audit) PreConsume(context.Context, *message.Message) error                 { return nil }
func (audit) PostConsume(_ context.Context, _ *message.Message, err error) error { return err }

var (
	_ consumer.Consumer     = audit{}
	_ consumer.PreConsumer  = audit{}
	_ consumer.PostConsumer = audit{}
)

func main() {
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		os.Exit(2)
	}
	log := slog.Default()
	subOpts := []consumer.Option{consumer.WithLogger(log), consumer.WithEndpoints(cfg.SubscribeEndpoints()...)}
	hubOpts := []consumer.HubOption{consumer.WithHubLogger(log), consumer.WithSubscriberOptions(subOpts...),
		consumer.WithObserver(func(name string, took time.Duration, err error) {})}
	h, err := config.NewHub(cfg, hubOpts...)
	if err != nil {
		os.Exit(2)
	}
	var cc consumer.ConsumerConfig = consumer.DefaultConsumerConfig("audit")
	if len(cfg.Hub.Consumers) > 0 {
		cc = cfg.Hub.Consumers[0].ConsumerConfig()
	}
	h.Add(audit{}, cc)
	h.Add(consumer.Func(func(ctx context.Context, m *message.Message) error { return nil }, "org.example.test.x"),
		consumer.DefaultConsumerConfig("x"))
	p, err := config.NewPublisher(context.Background(), cfg, publisher.WithLogger(log), publisher.WithSigner(nil))
	if err != nil {
		os.Exit(2)
	}
	defer p.Close()
	ctx := consumer.ContextWithInfo(context.Background(), consumer.Info{Consumer: "x"})
	go h.Run(ctx)
	if err := h.WaitReady(ctx); err != nil {
		os.Exit(1)
	}
	_, err = p.Publish(ctx, "x", 1)
	var st consumer.HubStats = h.Stats()
	var cs []consumer.ConsumerStats = st.Consumers
	fmt.Println(errors.Is(err, consumer.ErrPoison), errors.Is(err, consumer.ErrNoConsumer),
		errors.Is(err, consumer.ErrNotProcessed), h.Ready(), h.Prefixes(), len(cs))
}
