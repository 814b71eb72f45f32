package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// ConsumerConfig says how a Hub runs one consumer.
type ConsumerConfig struct {
	// Name identifies the consumer in logs and statistics; unique within a Hub. Required.
	Name string
	// Topics replace the consumer's own Topics() when not empty. Default: none.
	Topics []string
	// Workers is how many messages the consumer processes at once. Default 1.
	Workers int
	// Inbox is how many messages may wait for a worker. Default 100.
	Inbox int
	// DropWhenFull skips this consumer for a message that finds its inbox full (counted, and the
	// message is not ACKed) instead of waiting for room, which stops the hub from reading the bus
	// (back-pressure). Default false.
	DropWhenFull bool
	// OnReceipt makes the message's outcome not wait for this consumer: an acking hub ACKs once
	// the message is in the inbox (gilmsg's behaviour), and this consumer's failures are logged
	// and counted but withhold nothing. Default false: the ACK waits for this consumer's success.
	OnReceipt bool
	// Timeout bounds one Consume (hooks included): its ctx is cancelled then, and an error
	// returned after that is reported as a timeout. 0 means no limit. Default 60 s.
	Timeout time.Duration
}

// Defaults of ConsumerConfig.
const (
	DefaultWorkers = 1
	DefaultInbox   = 100
	DefaultTimeout = 60 * time.Second
)

// DefaultConsumerConfig returns the defaults written in the [ConsumerConfig] field comments:
// those of a [[hub.consumers]] table that names only name and kind (package config maps a
// whole table: config.HubConsumer.ConsumerConfig).
func DefaultConsumerConfig(name string) ConsumerConfig {
	return ConsumerConfig{Name: name, Workers: DefaultWorkers, Inbox: DefaultInbox, Timeout: DefaultTimeout}
}

// Validate reports what is wrong with c, naming the consumer.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("empty name"))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: want at least 1", c.Workers))
	}
	if c.Inbox < 1 {
		errs = append(errs, fmt.Errorf("inbox %d: want at least 1 (the inbox is bounded)", c.Inbox))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: want 0 (none) or more", c.Timeout))
	}
	for _, p := range c.Topics {
		if err := message.CheckTopicPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("invalid value: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consumer: hub consumer %q: %w", c.Name, err)
	}
	return nil
}

// HubOption configures a Hub.
type HubOption func(*hubOptions)

// hubOptions are what HubOptions set; a Hub embeds them.
type hubOptions struct {
	log     *slog.Logger
	open    OpenSource
	subOpts []Option
	observe func(string, time.Duration, error)
}

// WithHubLogger sets the logger. Default: slog.Default().
func WithHubLogger(l *slog.Logger) HubOption { return func(h *hubOptions) { h.log = l } }

// WithSource makes the Hub read from the Source open returns instead of a plain Subscriber on
// the configured endpoints. Package ack uses it to build an acking hub.
func WithSource(open OpenSource) HubOption { return func(h *hubOptions) { h.open = open } }

// WithSubscriberOptions passes options to the hub's Subscriber (through SourceSpec.Options).
func WithSubscriberOptions(opts ...Option) HubOption {
	return func(h *hubOptions) { h.subOpts = append(h.subOpts, opts...) }
}

// WithObserver calls fn after every run of a consumer, from its worker, with how long it took
// and its error: for metrics. fn must not block.
func WithObserver(fn func(consumer string, took time.Duration, err error)) HubOption {
	return func(h *hubOptions) { h.observe = fn }
}
