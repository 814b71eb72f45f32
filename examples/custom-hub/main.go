// Command custom-hub is a hub binary with a consumer written in Go: everything ackmsg-hub does
// (exec and file consumers, ACKs after processing, metrics, graceful shutdown), plus "counter".
//
// Enable it in the configuration, as fedmsg enables consumers by config key:
//
//	[[hub.consumers]]
//	name = "counter"
//	kind = "go"
//	topics = ["org.example.dev.#"]   # optional: replaces the consumer's own Topics
//	workers = 2
//
// A message that asks for an ACK is ACKed once Consume returned nil for it; an error sends no
// ACK, so the publisher retransmits and the message is processed again.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/hub"
	"github.com/ackmsg/ackmsg/message"
)

// counter counts the messages it sees, and logs each.
type counter struct {
	log *slog.Logger
	n   atomic.Int64
}

func (c *counter) Topics() []string { return []string{"org.example.dev.#"} }

func (c *counter) Consume(ctx context.Context, m *message.Message) error {
	info, _ := consumer.InfoFrom(ctx)
	if m.Body() == nil {
		return fmt.Errorf("message %s has no body", m.MsgID()) // not ACKed: retried
	}
	c.log.Info("counted", "n", c.n.Add(1), "topic", m.Topic(), "msg_id", m.MsgID(), "attempt", info.Attempt)
	return nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("consumer", "counter")
	hub.Main(hub.WithConsumer("counter", &counter{log: log}))
}
