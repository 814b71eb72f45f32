// Command tail is a tailing program written against package consumer. The API test
// (ack/api_test.go) builds it as it is and with its import switched to package ack, and runs
// both: swapped, its Tail loop ACKs what the original only reads. Its Next loop (-next) shows the
// one change ack asks of such a loop: without a call to Delivery.Done it ACKs nothing.
//
// It reads the configuration from $ACKMSG_CONFIG, prints "ready" on stdout once connected to
// every endpoint (with -next), then one line per message on -topic ("<msg_id> <marked>"), and
// exits after -count messages.
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
	"github.com/ackmsg/ackmsg/consumer"
)

func main() {
	count := flag.Int("count", 3, "messages to read")
	topic := flag.String("topic", "", "topic prefix")
	next := flag.Bool("next", false, "use NewSubscriber and Next instead of Tail")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		fail(2, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := []consumer.Option{consumer.WithLogger(log), consumer.WithClock(time.Now)}
	if !*next {
		n := 0
		for d, err := range config.Tail(ctx, cfg, *topic, opts...) {
			if err != nil {
				fail(1, err)
			}
			show(d.Topic, d.Message.MsgID(), d.Message.Has("gilmsg_version"), d.EndpointName, d.Signer != nil)
			if n++; n == *count {
				break
			}
		}
		if n < *count {
			fail(1, fmt.Errorf("%d of %d messages", n, *count))
		}
		return
	}
	s, err := config.NewSubscriber(cfg, *topic, append(opts, consumer.WithPrefixes(*topic))...)
	if err != nil {
		fail(2, err)
	}
	if err := s.WaitConnected(ctx); err != nil {
		fail(1, err)
	}
	fmt.Println("ready", len(s.Endpoints()))
	for range *count {
		d, err := s.Next(ctx)
		if err != nil {
			fail(1, err)
		}
		show(d.Topic, d.Message.MsgID(), d.Message.Has("gilmsg_version"), d.EndpointName, d.Signer != nil)
	}
	st := s.Stats()
	log.Info("done", "received", st.Received, "delivered", st.Delivered, "bad signatures", st.Dropped[consumer.DropSignature],
		"pending", s.Pending())
	s.Close()
	if _, err := s.Next(ctx); !errors.Is(err, consumer.ErrClosed) {
		fail(1, fmt.Errorf("Next after Close: %v, want ErrClosed", err))
	}
}

func show(topic, id string, marked bool, endpoint string, signed bool) {
	fmt.Println(id, marked, topic, endpoint, signed)
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "tail:", err)
	os.Exit(code)
}
