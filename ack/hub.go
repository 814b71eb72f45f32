package ack

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

// Hub is consumer.Hub with ACKs: it runs the same consumers, and ACKs a message that asks for it
// only once the consumers processed it. Add consumers with Add, then Run, as with consumer.Hub.
type Hub struct {
	*consumer.Hub

	mu   sync.Mutex
	sub  *Subscriber // set once Run opened the subscription
	acks atomic.Uint64
}

// NewHub is consumer.NewHub with ACKs, so an acking hub is an import swap. Messages come from a
// Subscriber (always validating signatures with cfg.Verifier, in AfterProcessing mode)
// subscribed with the prefixes that cover every consumer's topics; ACKs are signed by
// cfg.Signer (its certificate's CN is the recipient's name), and published as
// cfg.Subscriber.Acks says: from endpoints[name], or through the relay (one of the two is
// required). Package config builds one from a fedmsg configuration (config.NewAckHub).
//
// What an ACK from the hub means: every consumer whose topics match the message (except those
// added with OnReceipt, which the ACK does not wait for) returned nil from Consume for this
// msg_id. A failure sends no ACK; the publisher's retransmission is processed again by the
// consumers that did not succeed yet, at most max_attempts times, after which the message is
// logged as poison and never ACKed. A retransmission of a message already ACKed is re-ACKed with
// the same signed frame and not processed again. A message that matches no consumer, was dropped
// from a full inbox, or was unfinished at shutdown is not ACKed. ACKs on the bus (the
// <topic_prefix>.<environment>.gilmsg.ack topic, the hub's own included) are overlay traffic:
// they are counted (AcksSeen) and never given to consumers.
func NewHub(cfg HubConfig, opts ...HubOption) (*Hub, error) {
	if err := cfg.Subscriber.Validate(); err != nil {
		return nil, err
	}
	h := &Hub{}
	acks := cfg.Subscriber.Acks
	open := func(_ context.Context, spec consumer.SourceSpec) (consumer.Source, error) {
		copts := append(append([]consumer.Option{}, spec.Options...), consumer.WithPrefixes(spec.Prefixes...))
		s, err := NewSubscriber(cfg.Subscriber, "", WithMode(AfterProcessing), WithSubscriberLogger(spec.Logger),
			WithSigner(cfg.Signer), WithVerifier(cfg.Verifier),
			WithConsumerOptions(copts...))
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		h.sub = s
		h.mu.Unlock()
		return hubSource{s: s, ackTopic: message.FullTopic(acks.TopicPrefix, acks.Environment, "gilmsg", "ack"), acks: &h.acks}, nil
	}
	ch, err := consumer.NewHub(cfg.Hub, append(append([]consumer.HubOption{}, opts...), consumer.WithSource(open))...)
	if err != nil {
		return nil, err
	}
	h.Hub = ch
	return h, nil
}

// hubSource feeds a consumer.Hub from a Subscriber, without the ACK traffic: the hub's outcome
// is the Delivery's Done.
type hubSource struct {
	s        *Subscriber
	ackTopic string
	acks     *atomic.Uint64
}

func (h hubSource) Next(ctx context.Context) (consumer.Incoming, error) {
	for {
		d, err := h.s.Next(ctx)
		if err != nil {
			return consumer.Incoming{}, err
		}
		if d.Topic == h.ackTopic {
			h.acks.Add(1)
			continue
		}
		return consumer.Incoming{Delivery: d.Delivery, Done: d.Done}, nil
	}
}

func (h hubSource) Close() error { return h.s.Close() }

func (h *Hub) subscriber() *Subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sub
}

// Name is the identity the ACKs are signed as (the certificate's CN), once Run has subscribed;
// "" before.
func (h *Hub) Name() string {
	if s := h.subscriber(); s != nil {
		return s.Name()
	}
	return ""
}

// AcksSeen counts the ACK messages the hub's subscription received (its own and other
// consumers'), which are not given to consumers: dropped unread (see WithAckMessages).
func (h *Hub) AcksSeen() uint64 {
	n := h.acks.Load()
	if s := h.subscriber(); s != nil {
		n += s.sub.Stats().Skipped
	}
	return n
}

// AckStats returns the counters of the acking subscriber: ACKs sent and re-sent, duplicates
// not delivered again, and the invalid messages dropped by reason. Zero before Run subscribed.
func (h *Hub) AckStats() SubscriberStats {
	if s := h.subscriber(); s != nil {
		return s.Stats()
	}
	return SubscriberStats{}
}

// The consumer Hub's types, so that a hub program written against package consumer compiles
// with ack in its place. They are consumer's own types, not copies.
type (
	// Consumer is consumer.Consumer.
	Consumer = consumer.Consumer
	// PreConsumer is consumer.PreConsumer.
	PreConsumer = consumer.PreConsumer
	// PostConsumer is consumer.PostConsumer.
	PostConsumer = consumer.PostConsumer
	// ConsumerConfig is consumer.ConsumerConfig.
	ConsumerConfig = consumer.ConsumerConfig
	// ConsumerStats is consumer.ConsumerStats.
	ConsumerStats = consumer.ConsumerStats
	// HubOption is consumer.HubOption; NewHub takes them.
	HubOption = consumer.HubOption
	// HubStats is consumer.HubStats.
	HubStats = consumer.HubStats
	// Info is consumer.Info.
	Info = consumer.Info
	// ConsumerError is consumer.ConsumerError: one consumer's failure of a message.
	ConsumerError = consumer.ConsumerError
)

// The Hub's outcomes, as consumer's (the same values).
var (
	// ErrNoConsumer is consumer.ErrNoConsumer: no consumer's topics match; not ACKed.
	ErrNoConsumer = consumer.ErrNoConsumer
	// ErrPoison is consumer.ErrPoison: failed max_attempts times; never ACKed.
	ErrPoison = consumer.ErrPoison
	// ErrNotProcessed is consumer.ErrNotProcessed: dropped or unfinished; not ACKed.
	ErrNotProcessed = consumer.ErrNotProcessed
)

// Func is consumer.Func: a Consumer of these topic patterns made of a function.
func Func(fn func(ctx context.Context, m *message.Message) error, topics ...string) Consumer {
	return consumer.Func(fn, topics...)
}

// DefaultConsumerConfig is consumer.DefaultConsumerConfig.
func DefaultConsumerConfig(name string) ConsumerConfig { return consumer.DefaultConsumerConfig(name) }

// InfoFrom is consumer.InfoFrom: the consumer name, attempt and delivery of a Consume call.
func InfoFrom(ctx context.Context) (Info, bool) { return consumer.InfoFrom(ctx) }

// ContextWithInfo is consumer.ContextWithInfo.
func ContextWithInfo(ctx context.Context, info Info) context.Context {
	return consumer.ContextWithInfo(ctx, info)
}

// WithHubLogger is consumer.WithHubLogger.
func WithHubLogger(l *slog.Logger) HubOption { return consumer.WithHubLogger(l) }

// WithObserver is consumer.WithObserver.
func WithObserver(fn func(consumer string, took time.Duration, err error)) HubOption {
	return consumer.WithObserver(fn)
}

// WithSubscriberOptions is consumer.WithSubscriberOptions with this package's options: those
// that configure a subscription (WithLogger, WithVerifier, WithClock, WithEndpoints, WithEvents,
// WithPrefixes, WithConsumerOptions) apply to the hub's subscription. It panics, naming them,
// when given options that do not (WithMode: a hub always ACKs after processing, see
// ConsumerConfig.OnReceipt; WithSigner and WithAckPublisherOptions: a hub's ACKs use
// HubConfig.Signer; the Publisher options): a programming error, found at startup.
func WithSubscriberOptions(opts ...Option) HubOption {
	o := collectOptions(opts)
	bad := slices.Clone(o.publisherOnly)
	for _, n := range o.subscriberOnly {
		if n == "WithMode" || n == "WithAckPublisherOptions" {
			bad = append(bad, n)
		}
	}
	if o.signer != nil {
		bad = append(bad, "WithSigner")
	}
	if len(bad) > 0 {
		panic(fmt.Sprintf("ack.WithSubscriberOptions: %s do not configure a hub's subscription", strings.Join(bad, ", ")))
	}
	return consumer.WithSubscriberOptions(o.consumerOptions()...)
}
