package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/publisher"
)

// TxStore is a Store that can enqueue inside the application's own database transaction (the
// PostgreSQL store): the records are sent if and only if that transaction commits.
type TxStore interface {
	Store
	EnqueueTx(ctx context.Context, tx pgx.Tx, recs ...*Record) error
}

// ErrNoTx is returned by EnqueueTx when the store cannot take part in a database transaction.
var ErrNoTx = errors.New("outbox: this store cannot enqueue in a database transaction (use the PostgreSQL store)")

// Outbox is the publishing side of the durable outbox: Publish builds and signs a message,
// stores it durably and returns; Run delivers what is stored. Safe for concurrent use.
type Outbox struct {
	cfg     Config
	store   Store
	builder *publisher.Builder
	options

	mu     sync.Mutex
	closed bool
}

// Option configures an Outbox.
type Option func(*options)

// options are what Options set; an Outbox embeds them.
type options struct {
	log         *slog.Logger
	now         func() time.Time
	metrics     *Metrics
	builderOpts []publisher.Option
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock sets the clock for enqueue times and expiries. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMetrics records enqueue and delivery figures in m (see NewMetrics).
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// WithBuilderOptions passes options (WithSigner, WithModname, WithClock) to the
// publisher.Builder that builds and signs the messages.
func WithBuilderOptions(opts ...publisher.Option) Option {
	return func(o *options) { o.builderOpts = append(o.builderOpts, opts...) }
}

// New wraps store, building messages as cfg says (topic prefix, environment, recipients per
// topic, expiry) and signing them with the signer given (WithBuilderOptions(publisher.WithSigner(s));
// package config's NewOutbox gives the configured certificate). The Outbox owns the store:
// Close closes it.
func New(cfg Config, store Store, opts ...Option) (*Outbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("outbox: nil store")
	}
	o := &Outbox{cfg: cfg, store: store, options: options{now: time.Now}}
	for _, opt := range opts {
		opt(&o.options)
	}
	o.log = cmp.Or(o.log, slog.Default())
	b, err := publisher.NewBuilder(cfg.Publisher, o.builderOpts...)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	if b.Signer() == nil {
		return nil, errors.New("outbox: messages must be signed (sign_messages and a certificate): recipients only ACK what they verified")
	}
	o.builder = b
	return o, nil
}

// recipients are the configured recipients of a full topic, none without Config.Recipients.
func (o *Outbox) recipients(fullTopic string) []string {
	if o.cfg.Recipients == nil {
		return nil
	}
	return o.cfg.Recipients(fullTopic)
}

// Store is the outbox's store.
func (o *Outbox) Store() Store { return o.store }

// Prepare builds and signs a message as Publish does, without storing it: the record to
// enqueue. Options are ack's: To names the recipients (else the configured ones for the
// topic), Within sets how long the outbox tries before the message goes to the dead letters
// (else outbox.expiry_for / outbox.expiry), Modname and Field as for a publish.
func (o *Outbox) Prepare(topic string, body any, opts ...ack.PublishOption) (*Record, error) {
	p, err := ack.Prepare(o.builder, topic, body, append([]ack.PublishOption{ack.DefaultRecipients(o.recipients)}, opts...)...)
	if err != nil {
		return nil, err
	}
	now := o.now()
	expiry := p.Within
	if expiry <= 0 {
		expiry = o.cfg.expiryOf(p.Topic)
	}
	return &Record{MsgID: p.Message.MsgID(), Topic: p.Topic, Envelope: p.Frame, Recipients: p.Recipients,
		Enqueued: now, Expires: now.Add(expiry), NextAttempt: now, State: Pending}, nil
}

// Publish builds and signs a message, stores it durably and returns its msg_id: a nil error
// means it is on stable storage and will be delivered to every recipient (or reported dead),
// across restarts. It does not wait for any recipient.
func (o *Outbox) Publish(ctx context.Context, topic string, body any, opts ...ack.PublishOption) (string, error) {
	r, err := o.Prepare(topic, body, opts...)
	if err != nil {
		return "", err
	}
	if err := o.enqueue(ctx, func() error { return o.store.Enqueue(ctx, r) }, r); err != nil {
		return "", err
	}
	return r.MsgID, nil
}

// EnqueueTx is Publish inside the application's database transaction: the message is stored,
// and later delivered, if and only if tx commits. The store must be a TxStore on the same
// database; deliverers wake when the transaction commits.
func (o *Outbox) EnqueueTx(ctx context.Context, tx pgx.Tx, topic string, body any, opts ...ack.PublishOption) (string, error) {
	ts, ok := o.store.(TxStore)
	if !ok {
		return "", ErrNoTx
	}
	r, err := o.Prepare(topic, body, opts...)
	if err != nil {
		return "", err
	}
	if err := o.enqueue(ctx, func() error { return ts.EnqueueTx(ctx, tx, r) }, r); err != nil {
		return "", err
	}
	return r.MsgID, nil
}

func (o *Outbox) enqueue(ctx context.Context, do func() error, recs ...*Record) error {
	if o.isClosed() {
		return ErrClosed
	}
	start := time.Now()
	err := do()
	if o.metrics != nil {
		o.metrics.enqueued(len(recs), time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("outbox: not stored: %w", err)
	}
	return nil
}

// Batch collects messages while a request runs; Commit stores them all in one store
// transaction (all or none), Rollback drops them. A Batch is for one goroutine.
type Batch struct {
	o    *Outbox
	recs []*Record
	done bool
}

// Batch starts a batch.
func (o *Outbox) Batch() *Batch { return &Batch{o: o} }

// Publish builds and signs a message for the batch and returns its msg_id; nothing is stored
// before Commit.
func (b *Batch) Publish(topic string, body any, opts ...ack.PublishOption) (string, error) {
	if b.done {
		return "", errors.New("outbox: batch already committed or rolled back")
	}
	r, err := b.o.Prepare(topic, body, opts...)
	if err != nil {
		return "", err
	}
	b.recs = append(b.recs, r)
	return r.MsgID, nil
}

// Len is the number of messages in the batch.
func (b *Batch) Len() int { return len(b.recs) }

// Commit stores every message of the batch durably in one transaction and returns their
// msg_ids; on error none is stored. An empty batch commits nothing.
func (b *Batch) Commit(ctx context.Context) ([]string, error) {
	if b.done {
		return nil, errors.New("outbox: batch already committed or rolled back")
	}
	b.done = true
	if len(b.recs) == 0 {
		return nil, nil
	}
	if err := b.o.enqueue(ctx, func() error { return b.o.store.Enqueue(ctx, b.recs...) }, b.recs...); err != nil {
		return nil, err
	}
	ids := make([]string, len(b.recs))
	for i, r := range b.recs {
		ids[i] = r.MsgID
	}
	return ids, nil
}

// CommitTx stores the batch inside the application's database transaction tx, as EnqueueTx.
func (b *Batch) CommitTx(ctx context.Context, tx pgx.Tx) ([]string, error) {
	ts, ok := b.o.store.(TxStore)
	if !ok {
		return nil, ErrNoTx
	}
	if b.done {
		return nil, errors.New("outbox: batch already committed or rolled back")
	}
	b.done = true
	if len(b.recs) == 0 {
		return nil, nil
	}
	if err := b.o.enqueue(ctx, func() error { return ts.EnqueueTx(ctx, tx, b.recs...) }, b.recs...); err != nil {
		return nil, err
	}
	ids := make([]string, len(b.recs))
	for i, r := range b.recs {
		ids[i] = r.MsgID
	}
	return ids, nil
}

// Rollback drops the batch: nothing of it is stored or sent.
func (b *Batch) Rollback() {
	b.done = true
	b.recs = nil
}

func (o *Outbox) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

// Close closes the store. A Run still going should be stopped (its context cancelled) first.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	return o.store.Close()
}
