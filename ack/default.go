package ack

import (
	"context"
	"sync"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

// The default Publisher, built on first use from the configuration files, like fedmsg's
// module-level functions.
var std struct {
	mu sync.Mutex
	p  *Publisher
}

// Default returns the package's default Publisher, built on first use from the configuration
// files and ACKMSG_CONFIG, like publisher.Default.
func Default() (*Publisher, error) {
	std.mu.Lock()
	defer std.mu.Unlock()
	if std.p != nil {
		return std.p, nil
	}
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		return nil, err
	}
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	std.p = p
	return p, nil
}

// Publish publishes through the default Publisher and waits for the ACKs, as Publisher.Publish.
func Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	return p.Publish(ctx, topic, body, opts...)
}

// CloseDefault closes the default Publisher, if one was built; a later Publish builds a new one.
func CloseDefault() error {
	std.mu.Lock()
	defer std.mu.Unlock()
	if std.p == nil {
		return nil
	}
	err := std.p.Close()
	std.p = nil
	return err
}
