package bridge

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge/broker"
	"github.com/ackmsg/ackmsg/message"
)

// Config is what a Bridge does, apart from its bus side (see [Bus]). Each comment gives the
// default that [DefaultConfig] sets; [config.NewBridge] maps a fedmsg configuration's [bridge]
// table onto it.
type Config struct {
	// Broker says how to reach the broker: its nodes, the login, TLS, the queues' type and
	// arguments. Default broker.DefaultConfig() (amqp://guest:guest@127.0.0.1:5672/, login
	// password, quorum queues).
	Broker broker.Config
	// Name is the value of the ackmsg_bridge header the bridge puts on what it sends to the
	// broker, and by which it recognises (and does not bring back to the bus) what it sent
	// itself. Default "": the CN of the bridge's certificate.
	Name string
	// Exchange is the topic exchange the bus messages go to, with the full topic as routing key,
	// and the one QueueBindings bind Queue on. Default "amq.topic".
	Exchange string
	// Topics are the topic patterns (message.ParseTopicPattern) carried from the bus to the
	// broker. Empty turns the bus → AMQP direction off. Default none.
	Topics []string
	// MaxInFlight bounds the messages waiting for the broker's confirm. Default 256.
	MaxInFlight int
	// Queue is the broker queue carried onto the bus. Empty turns the AMQP → bus direction off.
	// Default "".
	Queue string
	// QueueBindings are the routing-key patterns that bind Queue to Exchange. Default none.
	QueueBindings []string
	// Prefetch bounds the broker messages held unacknowledged (basic.qos). Default 32.
	Prefetch int
	// Recipients must ACK every message the bridge publishes on the bus, besides those the bus
	// publisher's own recipients rules name. Default none.
	Recipients []string
	// PublishTimeout bounds each bus publish (with its ACKs). Default 30 s.
	PublishTimeout time.Duration
	// MaxAttempts is how often a broker message may fail before it is dead-lettered (with
	// DeadLetterExchange only). Default 5.
	MaxAttempts int
	// DeadLetterExchange receives the broker messages that failed MaxAttempts times or are not
	// JSON objects. Default "": nothing is dropped, failures are retried forever.
	DeadLetterExchange string
	// ReconnectMax is the longest pause between reconnection rounds (doubling from 0.1 s).
	// Default 30 s.
	ReconnectMax time.Duration
	// TopicPrefix is the bus's topic prefix: a routing key that starts with it is kept whole as
	// the bus topic, any other becomes <topic_prefix>.<environment>.amqp.<routing key>.
	// Default "org.fedoraproject".
	TopicPrefix string
	// Environment is the bus's environment (dev, stg, prod). Default "dev".
	Environment string
	// Drain bounds the wait, when Run stops, for the broker's confirms and the bus publishes in
	// progress (the commands give it zmq_linger); negative waits 5 s. Default 1 s.
	Drain time.Duration
}

// Defaults of [Config].
const (
	DefaultExchange       = "amq.topic"
	DefaultMaxInFlight    = 256
	DefaultPrefetch       = 32
	DefaultPublishTimeout = 30 * time.Second
	DefaultMaxAttempts    = 5
	DefaultReconnectMax   = 30 * time.Second
	DefaultDrain          = time.Second
)

// DefaultConfig is a Config with every default set; it bridges nothing until Topics or Queue
// is set.
func DefaultConfig() Config {
	return Config{
		Broker:   broker.DefaultConfig(),
		Exchange: DefaultExchange, MaxInFlight: DefaultMaxInFlight, Prefetch: DefaultPrefetch,
		PublishTimeout: DefaultPublishTimeout, MaxAttempts: DefaultMaxAttempts, ReconnectMax: DefaultReconnectMax,
		TopicPrefix: "org.fedoraproject", Environment: "dev", Drain: DefaultDrain,
	}
}

// Validate reports what is wrong with c: [ErrNothingToBridge] when both directions are off,
// else every problem found, joined.
func (c *Config) Validate() error {
	if len(c.Topics) == 0 && c.Queue == "" {
		return ErrNothingToBridge
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bridge: "+format, args...)) }
	if err := c.Broker.Validate(); err != nil {
		bad("%w", err)
	}
	if c.Exchange == "" {
		bad("empty exchange: want a topic exchange, e.g. amq.topic")
	}
	for i, p := range c.Topics {
		if _, err := message.ParseTopicPattern(p); err != nil {
			bad("topics[%d]: %w", i, err)
		}
	}
	if len(c.QueueBindings) > 0 && c.Queue == "" {
		bad("queue bindings set, but no queue to bind")
	}
	if c.DeadLetterExchange != "" && c.DeadLetterExchange == c.Exchange {
		bad("dead-letter exchange %q is the exchange too: dead letters would be routed back to the queue", c.Exchange)
	}
	if c.MaxInFlight < 1 || c.Prefetch < 1 || c.MaxAttempts < 1 {
		bad("max in flight (%d), prefetch (%d) and max attempts (%d) must be at least 1", c.MaxInFlight, c.Prefetch, c.MaxAttempts)
	}
	if c.Prefetch > math.MaxUint16 {
		bad("prefetch %d is above %d (AMQP's limit)", c.Prefetch, math.MaxUint16)
	}
	if c.PublishTimeout <= 0 || c.ReconnectMax <= 0 {
		bad("publish timeout (%v) and reconnect max (%v) must be positive", c.PublishTimeout, c.ReconnectMax)
	}
	return errors.Join(errs...)
}

// Bus builds the bridge's bus side. The bridge calls Publisher when Queue is set (AMQP → bus),
// then Subscriber when Topics is set (bus → AMQP), with the options it needs (its logger, its
// modname; the subscriber's AfterProcessing mode and topic prefixes) first, so a factory
// appends its own after them. The bridge owns, and closes, what they return.
type Bus struct {
	// Publisher builds the acked publisher that signs and publishes the broker's messages.
	Publisher func(opts ...ack.Option) (*ack.Publisher, error)
	// Subscriber builds the acking subscriber. pub is the bridge's publisher (nil when the
	// AMQP → bus direction is off): a subscriber that binds the same endpoint sends its ACKs
	// through it (ack.WithAckPublisher(pub.Publisher())).
	Subscriber func(pub *ack.Publisher, opts ...ack.Option) (*ack.Subscriber, error)
}
