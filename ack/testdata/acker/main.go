// Command acker is the bare recipient of BenchmarkAckedPublishProcessEd25519/recipient=acker: an
// ack.Subscriber in its own process that ACKs every message after processing it (doing
// nothing), so that the benchmark can tell what ackmsg-tail --ack adds (formatting, printing)
// from what a recipient process costs. It reads the configuration ACKMSG_CONFIG names, logs
// "endpoint connected" once subscribed, and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ackmsg/ackmsg/config"
)

func main() {
	certname := flag.String("certname", "", "certificate the ACKs are signed with")
	name := flag.String("name", "", "endpoints key the ACK publisher binds")
	topic := flag.String("topic", "", "topic prefix subscribed to")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *certname, *name, *topic); err != nil {
		fmt.Fprintln(os.Stderr, "acker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, certname, name, topic string) error {
	cfg, err := config.Load(config.LoadOptions{File: os.Getenv("ACKMSG_CONFIG")})
	if err != nil {
		return err
	}
	cfg.Certname, cfg.Name = certname, name
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	s, err := config.NewAckSubscriber(cfg, topic)
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		d, err := s.Next(ctx)
		if err != nil {
			return nil
		}
		d.Done(nil)
	}
}
