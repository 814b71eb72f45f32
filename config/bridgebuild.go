package config

import (
	"context"
	"errors"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
)

// BridgeSettings maps the [bridge] table onto a bridge.Config: the broker (see BridgeBroker),
// the directions and their limits, the bus's topic_prefix and environment, and zmq_linger as
// the drain bound.
func (c *Config) BridgeSettings() bridge.Config {
	b := &c.Bridge
	return bridge.Config{
		Broker: c.BridgeBroker(), Name: b.Name, Exchange: b.Exchange, Topics: b.Topics,
		MaxInFlight: b.MaxInFlight, Queue: b.Queue, QueueBindings: b.QueueBindings, Prefetch: b.Prefetch,
		Recipients: b.Recipients, PublishTimeout: b.PublishTimeout.Duration(), MaxAttempts: b.MaxAttempts,
		DeadLetterExchange: b.DeadLetterExchange, ReconnectMax: b.ReconnectMax.Duration(),
		TopicPrefix: c.TopicPrefix, Environment: c.Environment,
		Drain: time.Duration(c.ZMQLinger) * time.Millisecond,
	}
}

// NewBridge validates the configuration and builds the bridge its [bridge] table describes
// (see BridgeSettings), with its bus side built as NewAckPublisher (its history opened within
// ctx) and NewAckSubscriber do: without name (an endpoints key to bind) the bridge sends its
// ACKs and messages through the relay (active); with one, and both directions on, the
// subscriber sends its ACKs through the publisher's socket. The bridge signs what it sends:
// sign_messages must be set. It returns bridge.ErrNothingToBridge when bridge.topics and
// bridge.queue are both empty.
func NewBridge(ctx context.Context, cfg *Config, opts ...bridge.Option) (*bridge.Bridge, error) {
	if cfg == nil {
		return nil, errors.New("bridge: nil config")
	}
	c := *cfg
	if len(c.Bridge.Topics) == 0 && c.Bridge.Queue == "" {
		return nil, bridge.ErrNothingToBridge
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	bc := c.BridgeSettings()
	if err := bc.Validate(); err != nil {
		return nil, err
	}
	if !c.SignMessages {
		return nil, errors.New("bridge: the bridge signs its ACKs and messages: set sign_messages and its certificate (certname)")
	}
	if c.Name == "" {
		c.Active = true
	}
	bus := bridge.Bus{
		Publisher: func(o ...ack.Option) (*ack.Publisher, error) { return NewAckPublisher(ctx, &c, o...) },
		Subscriber: func(pub *ack.Publisher, o ...ack.Option) (*ack.Subscriber, error) {
			if pub != nil && c.Name != "" {
				// Both directions bind the one endpoint: the ACKs go out through the publisher.
				o = append([]ack.Option{ack.WithAckPublisher(pub.Publisher())}, o...)
			}
			return NewAckSubscriber(&c, "", o...)
		},
	}
	return bridge.New(bc, bus, opts...)
}
