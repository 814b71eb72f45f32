package publisher

import (
	"errors"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/message"
)

// Builder builds and signs envelopes exactly as a Publisher does (full topic, modname,
// username, the i counter, the signer), without opening a socket: for code that stores
// messages and sends them later, like the outbox. It is safe for concurrent use.
type Builder struct {
	p Publisher
}

// NewBuilder builds with cfg's topic prefix, environment, name and modname; where to send
// (Bind, Connect, LogSink) does not matter. Only the options about building apply (WithSigner,
// WithModname, WithClock); WithLogger is accepted and unused, and a history is refused.
func NewBuilder(cfg Config, opts ...Option) (*Builder, error) {
	o := collectOptions(opts)
	if o.history != nil {
		o.history.Close()
		return nil, errors.New("publisher: a Builder keeps no history (WithHistory is for a Publisher)")
	}
	if cfg.TopicPrefix == "" || cfg.Environment == "" {
		return nil, errors.New("publisher: TopicPrefix and Environment must be set: every full topic starts with them")
	}
	b := &Builder{p: Publisher{cfg: cfg, signer: o.signer, modname: o.modname, now: o.now, user: message.Username()}}
	if b.p.modname == "" {
		b.p.modname = defaultModname(cfg)
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
func (b *Builder) Config() Config { return b.p.cfg }
