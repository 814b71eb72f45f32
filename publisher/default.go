package publisher

import (
	"context"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/message"
)

var std = wiring.Lazy[*Publisher]{New: func(c *config.Config) (*Publisher, error) { return New(c) }}

// Default returns the package's default Publisher, built on first use from the configuration
// files and ACKMSG_CONFIG (see package config), like fedmsg's module-level publish.
func Default() (*Publisher, error) { return std.Get() }

// Publish publishes through the default Publisher.
func Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return p.Publish(ctx, topic, body, opts...)
}

// CloseDefault closes the default Publisher, if one was built; a later Publish builds a new one.
func CloseDefault() error { return std.Close() }
