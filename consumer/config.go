package consumer

import (
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/transport"
)

// Config is what a Subscriber is: the endpoints it hears, its sockets, what it accepts, and its
// catch-up. Start from DefaultConfig; package config maps a fedmsg configuration onto it
// (config.Config.SubscriberConfig).
type Config struct {
	// Endpoints are the publishers' addresses to connect to, each under the endpoints key it is
	// known by (fedmsg: every endpoints key but relay_inbound). Required (WithEndpoints may
	// give them instead).
	Endpoints []transport.Endpoint
	// Transport are the socket options. Default: the zero value (see transport.Options).
	Transport transport.Options
	// MaxFrameSize drops a message with a larger frame, counted (max_frame_size). Default
	// 4 MiB; 0 means no limit.
	MaxFrameSize int
	// MaxMessageAge drops a message whose timestamp is older (max_message_age). Default 0: no
	// limit.
	MaxMessageAge time.Duration
	// Replay is the gap detection and catch-up. Default: none (no replay endpoints).
	Replay ReplayConfig
}

// ReplayConfig is a Subscriber's gap detection and catch-up (docs/replay.md).
type ReplayConfig struct {
	// Endpoints maps a publisher name (the endpoints key its messages arrive under) to its
	// replay endpoint (replay_endpoints). Default none: no gap detection.
	Endpoints map[string]string
	// Timeout bounds one replay query (replay_timeout). Default 5 s.
	Timeout time.Duration
	// StatePath is the consumer state file (replay_state). Default "": none.
	StatePath string
	// PageSize is how many messages one query asks for at most (replay_max_messages).
	// Default 1000.
	PageSize int
}

// Defaults of Config.
const (
	DefaultMaxFrameSize  = 4 << 20
	DefaultReplayTimeout = 5 * time.Second
	DefaultReplayPage    = 1000
)

// DefaultConfig returns a Config with every default set; it still needs Endpoints.
func DefaultConfig() Config {
	return Config{MaxFrameSize: DefaultMaxFrameSize,
		Replay: ReplayConfig{Timeout: DefaultReplayTimeout, PageSize: DefaultReplayPage}}
}

// Validate reports a Config no Subscriber can be built from. Endpoints are checked by
// NewSubscriber, which may take them from WithEndpoints.
func (c Config) Validate() error {
	switch {
	case c.MaxFrameSize < 0:
		return errors.New("consumer: MaxFrameSize must not be negative")
	case c.MaxMessageAge < 0:
		return errors.New("consumer: MaxMessageAge must not be negative")
	case len(c.Replay.Endpoints) > 0 && c.Replay.Timeout <= 0:
		return errors.New("consumer: Replay.Timeout must be positive")
	case c.Replay.PageSize < 0:
		return errors.New("consumer: Replay.PageSize must not be negative")
	}
	if err := c.Transport.Validate(); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}

// HubConfig is what a Hub is: its Subscriber's Config (unless WithSource replaces the source)
// and its own bounds.
type HubConfig struct {
	// Subscriber configures the Subscriber the Hub reads from.
	Subscriber Config
	// MaxAttempts bounds how often one msg_id is processed and fails before it is poison
	// (hub.max_attempts). Default 5.
	MaxAttempts int
	// ShutdownTimeout is how long work may finish after Run's ctx ends
	// (hub.shutdown_timeout). Default 10 s.
	ShutdownTimeout time.Duration
	// DedupeWindow is how many recent msg_ids the Hub remembers (dedupe_window). Default 10000.
	DedupeWindow int
}

// Defaults of HubConfig.
const (
	DefaultMaxAttempts     = 5
	DefaultShutdownTimeout = 10 * time.Second
	DefaultDedupeWindow    = 10000
)

// DefaultHubConfig returns a HubConfig with every default set; its Subscriber still needs
// Endpoints.
func DefaultHubConfig() HubConfig {
	return HubConfig{Subscriber: DefaultConfig(), MaxAttempts: DefaultMaxAttempts,
		ShutdownTimeout: DefaultShutdownTimeout, DedupeWindow: DefaultDedupeWindow}
}

// Validate reports a HubConfig no Hub can run on.
func (c HubConfig) Validate() error {
	switch {
	case c.MaxAttempts < 1:
		return errors.New("consumer: hub MaxAttempts must be at least 1")
	case c.ShutdownTimeout <= 0:
		return errors.New("consumer: hub ShutdownTimeout must be positive")
	case c.DedupeWindow < 0:
		return errors.New("consumer: hub DedupeWindow must not be negative")
	}
	return c.Subscriber.Validate()
}
