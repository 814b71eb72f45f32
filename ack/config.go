package ack

import (
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/transport"
)

// Config is what an acked Publisher is: its base publisher, where it listens for ACKs, and how
// it waits for them. Start from DefaultConfig; package config maps a fedmsg configuration onto
// it (config.Config.AckConfig) and builds the Publisher with its collaborators
// (config.NewAckPublisher). The signer (WithSigner) and the ACK verifier (WithVerifier) are
// given; New opens its sockets and nothing else.
type Config struct {
	// Publisher is the base publisher's Config: where messages go, and the topic prefix and
	// environment of the ACK topic (<prefix>.<environment>.gilmsg.ack).
	Publisher publisher.Config
	// Endpoints are where the ACK listener subscribes: every endpoint whose subscribers may
	// ACK (fedmsg: every endpoints key but relay_inbound). Required unless no ACK is awaited
	// (WithEndpoints may give them instead).
	Endpoints []transport.Endpoint
	// Timeout bounds the wait for ACKs when Within is not given (ack_timeout). Default 5 s.
	Timeout time.Duration
	// MaxInFlight bounds the acked messages waiting for ACKs at once (ack_max_in_flight).
	// Default 1024.
	MaxInFlight int
	// MaxFrameSize drops a larger ACK frame unread (max_frame_size). Default 4 MiB; 0 means no
	// limit.
	MaxFrameSize int
	// Recipients maps a message's full topic to the CNs that must ACK it when To is not given
	// ([recipients]). Default nil: none, so a publish without To is plain (or fails with
	// RequireRecipients).
	Recipients func(fullTopic string) []string
	// RequireRecipients makes a publish that finds no recipients fail with ErrNoRecipients
	// (ack_require_recipients). Default false: it is sent plainly, with a warning.
	RequireRecipients bool
	// Development sends acked messages without awaiting any ACK, each logged at WARN with the
	// recipients it did not wait for (mode = "development"; the log sink is the same). Default
	// false.
	Development bool
}

// Defaults of Config.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxInFlight = 1024
)

// DefaultConfig returns a Config with every default set: it still needs the base publisher's
// Bind or Connect, and the ACK listener's Endpoints.
func DefaultConfig() Config {
	return Config{Publisher: publisher.DefaultConfig(), Timeout: DefaultTimeout, MaxInFlight: DefaultMaxInFlight,
		MaxFrameSize: consumer.DefaultMaxFrameSize}
}

// awaitsNone reports whether no ACK is awaited: development mode, or the log sink.
func (c Config) awaitsNone() bool { return c.Development || c.Publisher.LogSink }

// Validate reports a Config no Publisher can be built from (the ACK listener's endpoints are
// checked by New, which may take them from WithEndpoints).
func (c Config) Validate() error {
	switch {
	case c.Timeout <= 0:
		return errors.New("ack: Timeout must be positive")
	case c.MaxInFlight < 1:
		return errors.New("ack: MaxInFlight must be at least 1")
	case c.MaxFrameSize < 0:
		return errors.New("ack: MaxFrameSize must not be negative")
	}
	if err := c.Publisher.Validate(); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	return nil
}

// modeAndSink name what awaits no ACK, in the configuration's words, for messages.
func (c Config) modeAndSink() (mode, sink string) {
	mode, sink = "production", "zmq"
	if c.Development {
		mode = "development"
	}
	if c.Publisher.LogSink {
		sink = "log"
	}
	return mode, sink
}

// SubscriberConfig is what an acking Subscriber is: what it hears, where its ACKs go, and its
// memory of msg_ids. Package config maps a fedmsg configuration onto it
// (config.Config.AckSubscriberConfig) and builds the Subscriber with its collaborators
// (config.NewAckSubscriber). The signer of the ACKs (WithSigner) and the verifier of the
// messages (WithVerifier) are given, and both are required: ACKing what was not verified would
// let anyone make this consumer vouch for anything.
type SubscriberConfig struct {
	// Consumer is the Subscriber's Config: endpoints, sockets, limits, catch-up.
	Consumer consumer.Config
	// Acks is the Config of the publisher the ACKs go out on: passive (Bind, where publishers'
	// ACK listeners connect: endpoints[name]) or active (Connect: through the relay). It keeps
	// no history (ACKs are never numbered). Required unless WithAckPublisher gives one.
	Acks publisher.Config
	// DedupeWindow is how many recent msg_ids are remembered, to re-ACK a retransmission
	// without delivering it again (dedupe_window). Default 10000.
	DedupeWindow int
}

// DefaultSubscriberConfig returns a SubscriberConfig with every default set: it still needs
// the Consumer's Endpoints and where the ACKs go.
func DefaultSubscriberConfig() SubscriberConfig {
	return SubscriberConfig{Consumer: consumer.DefaultConfig(), Acks: publisher.DefaultConfig(), DedupeWindow: consumer.DefaultDedupeWindow}
}

// Validate reports a SubscriberConfig no Subscriber can be built from (the ACK publisher's
// Config is checked when it is built).
func (c SubscriberConfig) Validate() error {
	if c.DedupeWindow < 0 {
		return errors.New("ack: DedupeWindow must not be negative")
	}
	return c.Consumer.Validate()
}

// HubConfig is what an acking Hub is: its acking Subscriber, with the signer of its ACKs and
// the verifier of its messages (both required, as for NewSubscriber: a hub's options are the
// hub engine's, so they come here), and the hub engine's bounds (Hub.Subscriber is not used:
// the hub reads from its acking Subscriber).
type HubConfig struct {
	Subscriber SubscriberConfig
	Signer     certs.Signer
	Verifier   certs.Verifier
	Hub        consumer.HubConfig
}
