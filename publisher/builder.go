package publisher

import (
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/message"
)

// Builder builds and signs envelopes exactly as a Publisher does (full topic, modname,
// username, the i counter, the configured certificate), without opening a socket: for code that
// stores messages and sends them later, like the outbox. It is safe for concurrent use.
type Builder struct {
	p Publisher
}

// NewBuilder validates cfg and loads the signing certificate when sign_messages is set. Only the
// options about building apply (WithSigner, WithModname, WithClock); WithLogger is accepted and
// unused.
func NewBuilder(cfg *config.Config, opts ...Option) (*Builder, error) {
	if cfg == nil {
		return nil, errors.New("publisher: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Builder{p: Publisher{cfg: cfg, now: time.Now, user: message.Username()}}
	for _, o := range opts {
		o(&b.p)
	}
	if b.p.modname == "" {
		b.p.modname = defaultModname(cfg.Name)
	}
	if b.p.signer == nil && cfg.SignMessages {
		s, err := wiring.Signer(cfg)
		if err != nil {
			return nil, fmt.Errorf("publisher: %w", err)
		}
		b.p.signer = s
	}
	return b, nil
}

// Build makes the signed envelope, as Publisher.Build.
func (b *Builder) Build(topic string, body any, opts ...PublishOption) (*message.Message, error) {
	return b.p.Build(topic, body, opts...)
}

// FullTopic returns the full topic a message on topic gets, as Publisher.FullTopic.
func (b *Builder) FullTopic(topic string, opts ...PublishOption) string {
	return b.p.FullTopic(topic, opts...)
}

// Signer is who signs the envelopes; nil when they are not signed.
func (b *Builder) Signer() certs.Signer { return b.p.signer }

// Config is the configuration the builder was made with.
func (b *Builder) Config() *config.Config { return b.p.cfg }
