package ack

import (
	"context"
	"sync"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

var (
	defaultMu  sync.Mutex
	defaultPub *Publisher
)

// Default returns the package's default Publisher, built on first use from the configuration
// files and ACKMSG_CONFIG, like publisher.Default.
func Default() (*Publisher, error) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultPub != nil {
		return defaultPub, nil
	}
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		return nil, err
	}
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defaultPub = p
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

// CloseDefault closes the default Publisher, if one was built.
func CloseDefault() error {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultPub == nil {
		return nil
	}
	err := defaultPub.Close()
	defaultPub = nil
	return err
}
