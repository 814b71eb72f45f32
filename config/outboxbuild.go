package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/publisher"
)

// OutboxWriterConfig maps the configuration onto an outbox.Config: how messages are built
// (topic_prefix, environment, name), [recipients], and outbox.expiry with outbox.expiry_for.
func (c *Config) OutboxWriterConfig() outbox.Config {
	o := c.Outbox
	return outbox.Config{
		Publisher: publisher.Config{Name: c.Name, TopicPrefix: c.TopicPrefix, Environment: c.Environment,
			Modname: defaultModname(c.Name)},
		Recipients: c.RecipientsFor,
		Expiry:     func(topic string) time.Duration { return o.ExpiryOf(topic).Duration() },
	}
}

// DelivererConfig maps the [outbox] table onto an outbox.DelivererConfig.
func (o *OutboxConfig) DelivererConfig() outbox.DelivererConfig {
	return outbox.DelivererConfig{AttemptTimeout: o.AttemptTimeout.Duration(), RetryMax: o.RetryMax.Duration(),
		ClaimLease: o.ClaimLease.Duration(), MaxInFlight: o.MaxInFlight}
}

// NewOutbox validates the configuration and wraps store in the Outbox it describes (see
// OutboxWriterConfig), signing with the configured certificate when sign_messages is set
// (WithBuilderOptions(publisher.WithSigner(s)) in opts overrides it). The Outbox owns store.
func NewOutbox(c *Config, store outbox.Store, opts ...outbox.Option) (*outbox.Outbox, error) {
	if c == nil {
		return nil, errors.New("outbox: nil config")
	}
	if store == nil {
		return nil, errors.New("outbox: nil store")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var own []outbox.Option
	if c.SignMessages {
		s, err := c.Signer()
		if err != nil {
			return nil, fmt.Errorf("outbox: publisher: %w", err)
		}
		own = append(own, outbox.WithBuilderOptions(publisher.WithSigner(s)))
	}
	return outbox.New(c.OutboxWriterConfig(), store, append(own, opts...)...)
}
