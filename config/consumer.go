package config

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/ackmsg/ackmsg/consumer"
)

// SubscriberConfig maps the configuration onto a consumer.Config: every endpoints key but
// relay_inbound, the socket options, max_frame_size, max_message_age and the catch-up keys
// (replay_endpoints, replay_timeout, replay_state, replay_max_messages).
func (c *Config) SubscriberConfig() consumer.Config {
	var replays map[string]string
	for k, a := range c.ReplayEndpoints {
		if a != "" {
			if replays == nil {
				replays = map[string]string{}
			}
			replays[k] = a
		}
	}
	return consumer.Config{
		Endpoints:     c.SubscribeEndpoints(),
		Transport:     c.Transport(),
		MaxFrameSize:  c.MaxFrameSize,
		MaxMessageAge: c.MaxMessageAge.Duration(),
		Replay: consumer.ReplayConfig{Endpoints: replays, Timeout: c.ReplayTimeout.Duration(),
			StatePath: c.ReplayState, PageSize: c.ReplayMaxMessages},
	}
}

// HubEngineConfig maps the configuration onto a consumer.HubConfig: the Subscriber's (see
// SubscriberConfig), hub.max_attempts, hub.shutdown_timeout and dedupe_window.
func (c *Config) HubEngineConfig() consumer.HubConfig {
	return consumer.HubConfig{Subscriber: c.SubscriberConfig(), MaxAttempts: c.Hub.MaxAttempts,
		ShutdownTimeout: c.Hub.ShutdownTimeout.Duration(), DedupeWindow: c.DedupeWindow}
}

// ConsumerConfig translates a [[hub.consumers]] table into how a Hub runs that consumer.
func (hc HubConsumer) ConsumerConfig() consumer.ConsumerConfig {
	return consumer.ConsumerConfig{
		Name:         hc.Name,
		Topics:       slices.Clone(hc.Topics),
		Workers:      hc.Workers,
		Inbox:        hc.Inbox,
		DropWhenFull: hc.Overflow == HubOverflowDrop,
		OnReceipt:    hc.Ack == HubAckReceipt,
		Timeout:      hc.Timeout.Duration(),
	}
}

// verifierOption is the consumer option that validates signatures as validate_signatures asks:
// nil when it is off.
func (c *Config) verifierOption() (consumer.Option, error) {
	if !c.ValidateSignatures {
		return nil, nil
	}
	v, err := c.Verifier(true, c.log)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	return consumer.WithVerifier(v), nil
}

// NewSubscriber validates the configuration and builds the Subscriber it describes (see
// SubscriberConfig), validating signatures against the configured CA and CRL when
// validate_signatures is set. opts come after: WithVerifier overrides that verifier (which is
// still loaded).
func NewSubscriber(c *Config, topic string, opts ...consumer.Option) (*consumer.Subscriber, error) {
	if c == nil {
		return nil, errors.New("consumer: nil config")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	vo, err := c.verifierOption()
	if err != nil {
		return nil, err
	}
	if vo != nil {
		opts = append([]consumer.Option{vo}, opts...)
	}
	return consumer.NewSubscriber(c.SubscriberConfig(), topic, opts...)
}

// Tail is consumer.Tail on the Subscriber NewSubscriber builds: a setup failure (the
// configuration's included) is the one error it yields.
func Tail(ctx context.Context, c *Config, topic string, opts ...consumer.Option) iter.Seq2[consumer.Delivery, error] {
	return func(yield func(consumer.Delivery, error) bool) {
		s, err := NewSubscriber(c, topic, opts...)
		if err != nil {
			yield(consumer.Delivery{}, err)
			return
		}
		for d, err := range consumer.TailOf(ctx, s) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// NewHub validates the configuration and builds the hub engine it describes (see
// HubEngineConfig), its Subscriber validating signatures as validate_signatures asks. Add
// consumers (config.HubConsumer.ConsumerConfig maps a [[hub.consumers]] table), then Run it.
func NewHub(c *Config, opts ...consumer.HubOption) (*consumer.Hub, error) {
	if c == nil {
		return nil, errors.New("consumer: nil config")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	vo, err := c.verifierOption()
	if err != nil {
		return nil, err
	}
	if vo != nil {
		opts = append([]consumer.HubOption{consumer.WithSubscriberOptions(vo)}, opts...)
	}
	return consumer.NewHub(c.HubEngineConfig(), opts...)
}
