// Command publish is a publishing program written against package publisher. The API test
// (ack/api_test.go) builds it as it is and with its import switched to package ack, and runs
// both: the first publishes plainly, the second waits for the ACKs of the configured recipients.
//
// It reads the configuration from $ACKMSG_CONFIG, waits for a subscriber, publishes -count
// messages, prints each msg_id on stdout, and exits 1 when a publish fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/publisher"
)

func main() {
	count := flag.Int("count", 3, "messages to publish")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		fail(2, err)
	}
	opts := []publisher.Option{publisher.WithLogger(log), publisher.WithModname("swap"), publisher.WithClock(time.Now)}
	p, err := config.NewPublisher(context.Background(), cfg, opts...)
	if err != nil {
		fail(2, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*publisher.DefaultSubscribeWait)
	defer cancel()
	topic := p.FullTopic("hello")
	if err := p.WaitSubscribed(ctx, topic); err != nil {
		if errors.Is(err, publisher.ErrNoSubscriber) {
			fail(4, err)
		}
		fail(1, err)
	}
	if _, err := p.Build("hello", nil, publisher.Modname("swap")); err != nil {
		fail(1, err)
	}
	for i := range *count {
		var po []publisher.PublishOption
		po = append(po, publisher.Field("swap_test", true), publisher.Modname("swap"))
		m, err := p.Publish(ctx, "hello", map[string]any{"i": i}, po...)
		if err != nil {
			fail(1, err)
		}
		fmt.Println(m.MsgID())
	}
	log.Info("published", "addr", p.Addr(), "sent", p.Sent(), "subscriptions", p.Subscriptions(),
		"signed", p.Signer() != nil, "name", cfg.Name)
	if err := p.Close(); err != nil {
		fail(1, err)
	}
	if _, err := p.Publish(ctx, "hello", 0); !errors.Is(err, publisher.ErrClosed) {
		fail(1, fmt.Errorf("publish after Close: %v, want ErrClosed", err))
	}
	// The package-level Publish builds its default publisher from the same configuration; it is
	// not used to send here (its socket would bind the same address), only to show it compiles.
	var _ func(context.Context, string, any, ...publisher.PublishOption) = func(ctx context.Context, t string, b any, o ...publisher.PublishOption) {
		publisher.Publish(ctx, t, b, o...)
		publisher.Default()
		publisher.CloseDefault()
	}
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "publish:", err)
	os.Exit(code)
}
