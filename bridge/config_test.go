package bridge_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
)

func TestConfigValidate(t *testing.T) {
	ok := func(edit func(*bridge.Config)) bridge.Config {
		c := bridge.DefaultConfig()
		c.Topics = []string{"org.example.#"}
		edit(&c)
		return c
	}
	if c := ok(func(*bridge.Config) {}); c.Validate() != nil {
		t.Fatalf("DefaultConfig with topics: %v", c.Validate())
	}
	if c := bridge.DefaultConfig(); !errors.Is(c.Validate(), bridge.ErrNothingToBridge) {
		t.Fatalf("DefaultConfig: %v, want ErrNothingToBridge", c.Validate())
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*bridge.Config)
	}{
		{"bad topic pattern", "topics[0]", func(c *bridge.Config) { c.Topics = []string{"a..b"} }},
		{"no exchange", "empty exchange", func(c *bridge.Config) { c.Exchange = "" }},
		{"bindings without queue", "queue bindings", func(c *bridge.Config) { c.QueueBindings = []string{"#"} }},
		{"dead letters to the exchange", "routed back", func(c *bridge.Config) { c.Queue, c.DeadLetterExchange = "q", c.Exchange }},
		{"zero prefetch", "at least 1", func(c *bridge.Config) { c.Prefetch = 0 }},
		{"prefetch above AMQP's", "AMQP's limit", func(c *bridge.Config) { c.Prefetch = 1 << 16 }},
		{"no publish timeout", "must be positive", func(c *bridge.Config) { c.PublishTimeout = 0 }},
		{"broker without URLs", "bridge: ", func(c *bridge.Config) { c.Broker.URLs = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok(tc.edit)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// New validates its Config and asks for the factory of each direction that is on, without
// contacting a broker.
func TestNewBus(t *testing.T) {
	if _, err := bridge.New(bridge.DefaultConfig(), bridge.Bus{}); !errors.Is(err, bridge.ErrNothingToBridge) {
		t.Fatalf("New without directions: %v, want ErrNothingToBridge", err)
	}
	c := bridge.DefaultConfig()
	c.Topics = []string{"#"}
	if _, err := bridge.New(c, bridge.Bus{}); err == nil || !strings.Contains(err.Error(), "Bus.Subscriber is nil") {
		t.Fatalf("New without a subscriber factory: %v", err)
	}
	built := errors.New("no bus here")
	var got []ack.Option
	_, err := bridge.New(c, bridge.Bus{Subscriber: func(pub *ack.Publisher, opts ...ack.Option) (*ack.Subscriber, error) {
		if pub != nil {
			t.Errorf("subscriber factory got a publisher, but Queue is not set")
		}
		got = opts
		return nil, built
	}})
	if !errors.Is(err, built) || !strings.Contains(err.Error(), "bridge: bus subscriber") {
		t.Fatalf("New with a failing subscriber factory: %v", err)
	}
	if len(got) < 3 {
		t.Fatalf("the bridge passed %d options to the subscriber factory, want its mode, logger and prefixes", len(got))
	}
	c.Topics, c.Queue = nil, "q"
	if _, err := bridge.New(c, bridge.Bus{}); err == nil || !strings.Contains(err.Error(), "Bus.Publisher is nil") {
		t.Fatalf("New without a publisher factory: %v", err)
	}
}
