package outbox

import (
	"errors"
	"time"

	"github.com/ackmsg/ackmsg/publisher"
)

// Config is how an Outbox builds and keeps messages. Package config maps the configuration
// onto it (config.Config.OutboxWriterConfig) and builds the Outbox with the configured
// certificate (config.NewOutbox).
type Config struct {
	// Publisher names how messages are built: topic prefix, environment, name and modname
	// (where a publisher would send does not matter). Default publisher.DefaultConfig().
	Publisher publisher.Config
	// Recipients maps a message's full topic to the CNs that must ACK it when To is not given
	// ([recipients]). Default nil: none, so Prepare fails without To.
	Recipients func(fullTopic string) []string
	// Expiry is how long a message on the full topic is tried before it goes to the dead
	// letters when Within is not given (outbox.expiry, outbox.expiry_for). Default nil: 24 h
	// for every topic.
	Expiry func(fullTopic string) time.Duration
}

// DefaultExpiry is how long a message is tried when Config.Expiry is nil.
const DefaultExpiry = 24 * time.Hour

// DefaultConfig returns a Config with every default set.
func DefaultConfig() Config { return Config{Publisher: publisher.DefaultConfig()} }

// Validate reports a Config no Outbox can build messages with.
func (c Config) Validate() error {
	if c.Publisher.TopicPrefix == "" || c.Publisher.Environment == "" {
		return errors.New("outbox: Publisher.TopicPrefix and Environment must be set: every full topic starts with them")
	}
	return nil
}

func (c Config) expiryOf(topic string) time.Duration {
	if c.Expiry == nil {
		return DefaultExpiry
	}
	return c.Expiry(topic)
}

// DelivererConfig is how a Deliverer delivers ([outbox] table).
type DelivererConfig struct {
	// AttemptTimeout bounds one delivery attempt (outbox.attempt_timeout). Default 30 s.
	AttemptTimeout time.Duration
	// RetryMax caps the pause between two attempts for one message (outbox.retry_max).
	// Default 30 s.
	RetryMax time.Duration
	// ClaimLease is how long a deliverer's claim on a message lasts (outbox.claim_lease).
	// Default 90 s.
	ClaimLease time.Duration
	// MaxInFlight bounds the messages one deliverer is delivering at once
	// (outbox.max_in_flight). Default 256.
	MaxInFlight int
}

// Defaults of DelivererConfig.
const (
	DefaultAttemptTimeout = 30 * time.Second
	DefaultRetryMax       = 30 * time.Second
	DefaultClaimLease     = 90 * time.Second
	DefaultMaxInFlight    = 256
)

// DefaultDelivererConfig returns a DelivererConfig with every default set.
func DefaultDelivererConfig() DelivererConfig {
	return DelivererConfig{AttemptTimeout: DefaultAttemptTimeout, RetryMax: DefaultRetryMax,
		ClaimLease: DefaultClaimLease, MaxInFlight: DefaultMaxInFlight}
}

// Validate reports a DelivererConfig no Deliverer can run on.
func (c DelivererConfig) Validate() error {
	if c.AttemptTimeout <= 0 || c.RetryMax <= 0 || c.ClaimLease <= 0 {
		return errors.New("outbox: AttemptTimeout, RetryMax and ClaimLease must be positive")
	}
	return nil
}
