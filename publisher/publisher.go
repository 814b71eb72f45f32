package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/transport"
)

// Errors returned by Publish.
var (
	// ErrClosed means the Publisher was closed. It wraps message.ErrClosed.
	ErrClosed = fmt.Errorf("publisher: %w", message.ErrClosed)
	// ErrNoSubscriber means an active publisher found no relay subscribed in time.
	ErrNoSubscriber = errors.New("publisher: no subscriber")
)

// DefaultSubscribeWait bounds how long an active Publish waits for the relay's subscription when
// ctx has no deadline.
const DefaultSubscribeWait = 5 * time.Second

// Publisher sends messages on the bus. Create it with New; it is safe for concurrent use.
type Publisher struct {
	cfg     Config
	log     *slog.Logger
	signer  certs.Signer
	modname string
	user    string
	now     func() time.Time

	zctx    *zmq.Context
	pub     *zsock.Pub // nil on the log sink
	counter atomic.Int64

	// With a history (WithHistory): the numbering and history (see history.go), and the replay
	// endpoint serving it when Config.ReplayBind is set.
	histStore replay.Store
	hist      atomic.Pointer[replay.History] // made at the first numbered publish
	histMu    sync.Mutex                     // making hist
	replaySrv *replay.Server

	// The log sink (LogSink) writes messages to log instead of a socket.
	logged    atomic.Uint64
	logClosed atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and binds (passive) or connects (active) the socket; with a history it
// binds the replay endpoint too. It reads and opens nothing else: the signer and the history
// store are given (WithSigner, WithHistory), and a history's last seq_id is read at the first
// publish, within that publish's context.
func New(cfg Config, opts ...Option) (*Publisher, error) {
	o := collectOptions(opts)
	p, err := newPublisher(cfg, o)
	if err != nil {
		if o.history != nil {
			o.history.Close()
		}
		return nil, err
	}
	return p, nil
}

func newPublisher(cfg Config, o options) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, log: o.log, signer: o.signer, modname: o.modname, now: o.now, user: message.Username()}
	if p.modname == "" {
		p.modname = defaultModname(cfg)
	}
	signer := ""
	if p.signer != nil {
		signer = p.signer.Name()
	}
	if cfg.LogSink {
		if o.history != nil {
			return nil, errors.New("publisher: LogSink keeps no history: a history numbers what a socket sends")
		}
		p.log.Warn(`publisher ready with sink = "log": no socket is opened, messages are written to this log and not sent`,
			"sink", "log", "signer", signer)
		return p, nil
	}
	if o.history != nil && (cfg.Connect != "" || cfg.Name == "") {
		return nil, errors.New("publisher: a history numbers a passive publisher's messages under its Name: set Name and Bind")
	}
	pc := zsock.PubConfig{Options: cfg.Transport, Connect: cfg.Connect}
	for _, a := range cfg.Bind {
		b, err := transport.BindAddress(a)
		if err != nil {
			return nil, fmt.Errorf("publisher: endpoints[%q]: %w", cfg.Name, err)
		}
		pc.Bind = append(pc.Bind, b)
	}
	zctx, err := zsock.NewContext(cfg.Transport.IOThreads)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	pub, err := zsock.NewPub(zctx, pc)
	if err != nil {
		zctx.Term()
		if cfg.Connect != "" {
			return nil, fmt.Errorf("publisher: relay_inbound %s: %w", cfg.Connect, err)
		}
		return nil, fmt.Errorf("publisher: endpoints[%q]: %w", cfg.Name, err)
	}
	p.zctx, p.pub = zctx, pub
	if o.history != nil {
		p.histStore = o.history
		if err := p.serveHistory(); err != nil {
			p.histStore = nil // New closes it
			p.Close()
			return nil, err
		}
	}
	mode := "passive"
	if cfg.Connect != "" {
		mode = "active"
	}
	p.log.Info("publisher ready", "mode", mode, "addr", pub.Addr(), "signer", signer)
	return p, nil
}

// defaultModname is Config.Modname, else Name up to its first dot, else the program's name.
func defaultModname(cfg Config) string {
	if cfg.Modname != "" {
		return cfg.Modname
	}
	if first, _, _ := strings.Cut(cfg.Name, "."); first != "" {
		return first
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// PublishOption adjusts one Publish call.
type PublishOption func(*publishOptions)

type publishOptions struct {
	modname string
	msgID   string
	fields  map[string]any
}

// Modname sets the modname of this message, e.g. "bodhi" in org.fedoraproject.prod.bodhi.update.
func Modname(m string) PublishOption { return func(o *publishOptions) { o.modname = m } }

// MsgID gives the message this msg_id instead of a fresh "<year>-<uuid4>". It is for a message
// that stands for one that already has an identity elsewhere (ackmsg-bridge uses the AMQP
// message_id), so that sending it again is recognised as the same message by consumers'
// de-duplication. Two different messages must never share a msg_id.
func MsgID(id string) PublishOption { return func(o *publishOptions) { o.msgID = id } }

// Field adds a top-level envelope field before signing, so the signature covers it (the ACK
// overlay uses it for the gilmsg_version marker). Fields the envelope already has are not
// replaced.
func Field(key string, value any) PublishOption {
	return func(o *publishOptions) {
		if o.fields == nil {
			o.fields = make(map[string]any)
		}
		o.fields[key] = value
	}
}

// FullTopic returns the full topic a message on topic gets with these options:
// <topic_prefix>.<environment>.<modname>.<topic>, unless modname.topic already starts with the
// prefix (fedmsg's rule).
func (p *Publisher) FullTopic(topic string, opts ...PublishOption) string {
	return p.fullTopic(topic, collect(opts))
}

// collect applies opts. The options are func values, so what they are given escapes to the heap:
// without options, nothing is allocated.
func collect(opts []PublishOption) publishOptions {
	if len(opts) == 0 {
		return publishOptions{}
	}
	po := new(publishOptions)
	for _, o := range opts {
		o(po)
	}
	return *po
}

func (p *Publisher) fullTopic(topic string, po publishOptions) string {
	modname := po.modname
	if modname == "" {
		modname = p.modname
	}
	return message.FullTopic(p.cfg.TopicPrefix, p.cfg.Environment, modname, topic)
}

// Build makes the signed envelope for topic and body without sending it. topic is the short
// topic (e.g. "update"); the full topic follows fedmsg's rules.
func (p *Publisher) Build(topic string, body any, opts ...PublishOption) (*message.Message, error) {
	po := collect(opts)
	m, err := message.Build(p.fullTopic(topic, po), body, p.counter.Add(1), p.user, p.now())
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	if po.msgID != "" {
		if err := m.Set(message.FieldMsgID, po.msgID); err != nil {
			return nil, fmt.Errorf("publisher: msg_id: %w", err)
		}
	}
	for k, v := range po.fields {
		if m.Has(k) {
			continue
		}
		if err := m.Set(k, v); err != nil {
			return nil, fmt.Errorf("publisher: field %q: %w", k, err)
		}
	}
	if p.signer != nil {
		if err := p.signer.Sign(m); err != nil {
			return nil, fmt.Errorf("publisher: signing: %w", err)
		}
	}
	return m, nil
}

// Publish builds, signs and sends one message and returns the envelope as sent. In active mode
// it first waits (until ctx's deadline, or DefaultSubscribeWait) for the relay's subscription.
func (p *Publisher) Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	if p.histStore != nil {
		return p.Sequence(ctx, func(extra PublishOption) (*message.Message, []byte, error) {
			m, err := p.Build(topic, body, append(opts[:len(opts):len(opts)], extra)...)
			if err != nil {
				return nil, nil, err
			}
			frame, err := m.Marshal()
			if err != nil {
				return nil, nil, fmt.Errorf("publisher: encoding: %w", err)
			}
			return m, frame, nil
		}, func(m *message.Message, frame []byte) error { return p.SendRaw(ctx, m.Topic(), frame) })
	}
	m, err := p.Build(topic, body, opts...)
	if err != nil {
		return nil, err
	}
	// Nothing keeps the frame once it is sent (libzmq copies it, the log sink formats it), so
	// it is encoded into a pooled buffer: no 2 KB allocation and copy per message.
	buf := framePool.Get().(*[]byte)
	defer putFrame(buf)
	frame, err := m.AppendMarshal((*buf)[:0])
	*buf = frame
	if err != nil {
		return nil, fmt.Errorf("publisher: encoding: %w", err)
	}
	if err := p.SendRaw(ctx, m.Topic(), frame); err != nil {
		return nil, err
	}
	return m, nil
}

// framePool holds the buffers Publish encodes frames into.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFrame bounds the buffers kept in framePool: a rare huge message does not stay.
const maxPooledFrame = 64 << 10

func putFrame(buf *[]byte) {
	if cap(*buf) <= maxPooledFrame {
		framePool.Put(buf)
	}
}

// SendRaw sends an already encoded envelope under topic. Sending the same bytes again is how the
// ACK overlay retransmits without re-signing.
func (p *Publisher) SendRaw(ctx context.Context, topic string, envelope []byte) error {
	if p.cfg.Connect != "" {
		if err := p.WaitSubscribed(ctx, topic); err != nil {
			return err
		}
	}
	return p.Resend(topic, envelope)
}

// Resend hands an encoded envelope to the socket without waiting for a subscriber, even in
// active mode: for retransmissions, where waiting would stall the caller and the next attempt
// follows.
func (p *Publisher) Resend(topic string, envelope []byte) error {
	if p.pub == nil {
		return p.logSend(topic, envelope)
	}
	if err := p.pub.Send([]byte(topic), envelope); err != nil {
		if errors.Is(err, zsock.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("publisher: %w", err)
	}
	return nil
}

// logSend is Resend on the log sink: one WARN line with the topic, the msg_id and the body as
// canonical JSON, and the envelope's size. WARN, as development mode's unacknowledged messages:
// the message was not sent, and a logger at its usual level (a command's default warn) shows it.
func (p *Publisher) logSend(topic string, envelope []byte) error {
	if p.logClosed.Load() {
		return ErrClosed
	}
	p.logged.Add(1)
	m, err := message.Decode(envelope)
	if err != nil {
		p.log.Warn("would send (sink = \"log\")", "topic", topic, "envelope", string(envelope))
		return nil
	}
	body, err := message.Canonical(m.Body())
	if err != nil {
		body = []byte(fmt.Sprintf("%v", m.Body()))
	}
	p.log.Warn("would send (sink = \"log\")", "topic", topic, "msg_id", m.MsgID(), "body", string(body), "bytes", len(envelope))
	return nil
}

// WaitSubscribed waits until some subscriber's subscription covers topic: for an active
// publisher, that the relay is connected and listening. Without a deadline on ctx it waits at
// most DefaultSubscribeWait. On the log sink it returns nil at once: the log takes every topic.
func (p *Publisher) WaitSubscribed(ctx context.Context, topic string) error {
	if p.pub == nil {
		if p.logClosed.Load() {
			return ErrClosed
		}
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSubscribeWait)
		defer cancel()
	}
	err := p.pub.WaitSubscribed(ctx, topic)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zsock.ErrClosed):
		return ErrClosed
	case p.cfg.Connect != "":
		return fmt.Errorf("%w: relay_inbound %s has not subscribed (is ackmsg-relay running?): %w",
			ErrNoSubscriber, p.cfg.Connect, err)
	default:
		return fmt.Errorf("%w: nobody subscribed to %q at %s: %w", ErrNoSubscriber, topic, p.pub.Addr(), err)
	}
}

// Addr is the address the socket bound (passive) or connected to (active); "log" on the log
// sink.
func (p *Publisher) Addr() string {
	if p.pub == nil {
		return "log"
	}
	return p.pub.Addr()
}

// Logger is the logger the Publisher writes to (WithLogger, else slog.Default()).
func (p *Publisher) Logger() *slog.Logger { return p.log }

// Signer returns the signer, or nil when messages are not signed.
func (p *Publisher) Signer() certs.Signer { return p.signer }

// Config returns the configuration the Publisher was built from. Its Bind slice is shared: do
// not modify it.
func (p *Publisher) Config() Config { return p.cfg }

// Sent counts the messages handed to libzmq (or written to the log sink), retransmissions
// included.
func (p *Publisher) Sent() uint64 {
	if p.pub == nil {
		return p.logged.Load()
	}
	return p.pub.Sent()
}

// Close closes the socket and terminates the zmq context, which flushes messages already sent
// for up to zmq_linger. It is safe to call more than once. The context is terminated even when
// the socket fails to close; when both fail, the error is a *multierror.Error with both.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		if p.pub == nil {
			p.logClosed.Store(true)
			return
		}
		var errs *multierror.Error
		if p.replaySrv != nil {
			if err := p.replaySrv.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("publisher: closing the replay endpoint: %w", err))
			}
		}
		if p.histStore != nil {
			if err := p.histStore.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("publisher: closing the history: %w", err))
			}
		}
		if err := p.pub.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("publisher: closing the socket: %w", err))
		}
		if err := p.zctx.Term(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("publisher: close: %w", err))
		}
		p.closeErr = errs.ErrorOrNil()
	})
	return p.closeErr
}

// Subscriptions counts the live subscriptions the socket has seen (one per subscriber and
// prefix). It is a diagnostic: subscriptions arrive asynchronously after a subscriber connects.
func (p *Publisher) Subscriptions() int {
	if p.pub == nil {
		return 0
	}
	n := 0
	for _, c := range p.pub.Subscriptions() {
		n += c
	}
	return n
}
