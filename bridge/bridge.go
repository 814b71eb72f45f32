package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge/broker"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/ratelog"
)

// Header names the bridge sets on the messages it publishes to the broker.
const (
	// HeaderBridge is the name of the bridge that published the message: a bridge does not
	// bring back to the bus what it sent itself.
	HeaderBridge = "ackmsg_bridge"
	// HeaderSigner is the CN of the certificate that signed the envelope (validated by the
	// bridge; a consumer that needs proof verifies the envelope itself).
	HeaderSigner = "ackmsg_signer"
)

// sentAtLayout is how fedora-messaging writes its sent-at header: UTC, whole seconds, with the
// offset (Python's datetime.isoformat() of an aware UTC time).
const sentAtLayout = "2006-01-02T15:04:05+00:00"

// FedoraMessagingHeaders are the headers fedora-messaging puts on a base message sent at t,
// with the same AMQP types: fedora_messaging_schema "base.message", fedora_messaging_severity
// 20 (INFO), sent-at, and priority 0 (since 3.4 it mirrors the message's priority there; the
// bridge sets none). Its consumers validate the first three; its dumps/loads (what its record
// and publish commands use) give back an equal message only with all four.
func FedoraMessagingHeaders(t time.Time) amqp.Table {
	return amqp.Table{
		"fedora_messaging_schema":   "base.message",
		"fedora_messaging_severity": int32(20),
		"sent-at":                   t.UTC().Format(sentAtLayout),
		"priority":                  int32(0),
	}
}

// Modname is the modname of broker messages whose routing key does not start with topic_prefix:
// they go on the bus as <topic_prefix>.<environment>.amqp.<routing key>.
const Modname = "amqp"

// Errors a bus message is left unACKed with (the publisher's retransmission tries again).
var (
	ErrUnroutable   = errors.New("bridge: the broker returned the message as unroutable: no queue is bound for its routing key")
	ErrNacked       = errors.New("bridge: the broker nacked the message")
	ErrNotForwarded = errors.New("bridge: topic not in bridge.topics: not forwarded, not ACKed")
)

// ErrRefused is Run's error when the broker refuses the bridge: its credentials (403
// ACCESS_REFUSED, "username or password not allowed"), its permissions on the vhost, an
// exchange or a queue (403), or the vhost itself (530 NOT_ALLOWED, but for a connection limit,
// which passes). Retrying would not help: Run stops both directions and returns an error that
// is errors.Is(err, ErrRefused) and wraps the broker's *amqp.Error, whose text says why. With
// several nodes, Run goes on with the others while any node has not refused, and returns it
// once every node has, wrapping each node's error.
var ErrRefused = errors.New("bridge: the broker refused the bridge")

// refused reports whether err is the broker refusing authentication or authorization, as
// opposed to a connection failure worth retrying.
func refused(err error) bool {
	if errors.Is(err, ErrTLS) {
		return true
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case amqp.AccessRefused:
		return true
	case amqp.NotAllowed:
		return !strings.Contains(ae.Reason, "limit") // "connection limit (1) is reached" passes
	}
	return false
}

// refusal is the error Run returns for a refusal in one direction.
func refusal(direction string, err error) error {
	return fmt.Errorf("%w (%s): %w", ErrRefused, direction, err)
}

// ErrNothingToBridge is New's (and Config.Validate's) error when the configuration turns both
// directions off.
var ErrNothingToBridge = errors.New("bridge: nothing to bridge: set bridge.topics (bus → AMQP) and/or bridge.queue (AMQP → bus)")

// Option configures a Bridge.
type Option func(*Bridge)

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(b *Bridge) { b.log = l } }

// WithSubscriberOptions passes options to the bus subscriber of the bus → AMQP direction (for
// example ack.WithEndpoints).
func WithSubscriberOptions(opts ...ack.Option) Option {
	return func(b *Bridge) { b.subOpts = append(b.subOpts, opts...) }
}

// WithPublisherOptions passes options to the bus publisher of the AMQP → bus direction.
func WithPublisherOptions(opts ...ack.Option) Option {
	return func(b *Bridge) { b.pubOpts = append(b.pubOpts, opts...) }
}

// Bridge moves messages between the bus and the broker (see the package documentation).
type Bridge struct {
	cfg    Config
	broker broker.Config
	urls   []string    // broker.URLs, shuffled
	tls    *tls.Config // for amqps:// URLs; nil without any
	log    *slog.Logger
	warn   *ratelog.Limiter
	name   string // the ackmsg_bridge header value
	cn     string // the bridge's certificate CN

	subOpts, pubOpts []ack.Option
	sub              *ack.Subscriber // bus → AMQP; nil when off
	pub              *ack.Publisher  // AMQP → bus; nil when off
	patterns         []message.TopicPattern
	ackTopic         string

	toUp, fromUp atomic.Bool
	stats        counters
	metrics      *Metrics

	closeOnce sync.Once
	closeErr  error
}

// New prepares a bridge for cfg (which must pass Validate): it builds the bus publisher through
// bus.Publisher when Queue is set and the bus subscriber through bus.Subscriber when Topics is
// set, and loads the TLS files of amqps:// URLs. It does not contact the broker: Run does, and
// keeps trying until it answers (but stops when it refuses: ErrRefused). config.NewBridge
// builds one from a fedmsg configuration.
func New(cfg Config, bus Bus, opts ...Option) (*Bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, broker: cfg.Broker}
	for _, o := range opts {
		o(b)
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.warn = ratelog.New(b.log, 10*time.Second)
	b.urls = slices.Clone(b.broker.URLs)
	// Shuffled, so that bridges started together, and the two directions of one, spread over the
	// cluster's nodes rather than all connecting to the first.
	rand.Shuffle(len(b.urls), func(i, j int) { b.urls[i], b.urls[j] = b.urls[j], b.urls[i] })
	for _, u := range b.urls {
		if strings.HasPrefix(u, "amqps://") {
			tc, err := b.broker.TLSConfig()
			if err != nil {
				return nil, fmt.Errorf("bridge: %w", err)
			}
			b.tls = tc
			break
		}
	}
	b.ackTopic = message.FullTopic(cfg.TopicPrefix, cfg.Environment, "gilmsg", "ack")
	b.metrics = newMetrics(b)

	if err := b.openBus(bus); err != nil {
		return nil, err
	}
	b.name = b.cfg.Name
	if b.name == "" {
		b.name = b.cn
	}
	return b, nil
}

// openBus builds the bus side: the acked publisher when Queue is set (AMQP → bus), the acking
// subscriber when Topics is set (bus → AMQP).
func (b *Bridge) openBus(bus Bus) error {
	if b.cfg.Queue != "" {
		if bus.Publisher == nil {
			return errors.New("bridge: bus publisher: Bus.Publisher is nil, but Queue is set")
		}
		popts := append([]ack.Option{ack.WithLogger(b.log.With("part", "publisher")), ack.WithModname(Modname)}, b.pubOpts...)
		pub, err := bus.Publisher(popts...)
		if err != nil {
			return fmt.Errorf("bridge: bus publisher: %w", err)
		}
		b.pub = pub
		b.cn = pub.Signer().Name()
	}
	if len(b.cfg.Topics) > 0 {
		if bus.Subscriber == nil {
			b.Close()
			return errors.New("bridge: bus subscriber: Bus.Subscriber is nil, but Topics is set")
		}
		var prefixes []string
		all := false
		for _, p := range b.cfg.Topics {
			tp, err := message.ParseTopicPattern(p)
			if err != nil { // Validate saw them: cannot happen
				b.Close()
				return fmt.Errorf("bridge: bridge.topics: %w", err)
			}
			b.patterns = append(b.patterns, tp)
			if tp.Prefix() == "" {
				all = true
			}
			prefixes = append(prefixes, tp.Prefix())
		}
		if all {
			prefixes = []string{""}
		}
		sopts := []ack.Option{ack.WithMode(ack.AfterProcessing), ack.WithLogger(b.log.With("part", "subscriber")), ack.WithPrefixes(prefixes...)}
		sub, err := bus.Subscriber(b.pub, append(sopts, b.subOpts...)...)
		if err != nil {
			b.Close()
			return fmt.Errorf("bridge: bus subscriber: %w", err)
		}
		b.sub = sub
		b.cn = sub.Name()
	}
	return nil
}

// Name is the bridge's name: the ackmsg_bridge header it sets and recognises.
func (b *Bridge) Name() string { return b.name }

// Subscriber is the bus subscriber of the bus → AMQP direction (nil when it is off).
func (b *Bridge) Subscriber() *ack.Subscriber { return b.sub }

// Publisher is the bus publisher of the AMQP → bus direction (nil when it is off).
func (b *Bridge) Publisher() *ack.Publisher { return b.pub }

// Metrics are the bridge's Prometheus figures (register them on a prometheus.Registerer).
func (b *Bridge) Metrics() *Metrics { return b.metrics }

// Ready reports whether every configured direction is connected to the broker and set up.
func (b *Bridge) Ready() bool {
	return (b.sub == nil || b.toUp.Load()) && (b.pub == nil || b.fromUp.Load())
}

// Run bridges until ctx ends, reconnecting to the broker whenever the connection is lost or
// cannot be made. When the broker refuses the bridge (bad credentials or permissions, see
// ErrRefused), at start or later, Run stops both directions and returns that error; otherwise
// it returns nil once ctx ended. On the way out it waits (zmq_linger at most) for the
// broker's confirms of what it published and for the bus publishes in progress, so that they
// are ACKed; what is left is not: the publishers retransmit, the broker redelivers. Run does
// not close the Bridge.
func (b *Bridge) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var toErr, fromErr error
	if b.sub != nil {
		wg.Go(func() {
			if toErr = b.runToAMQP(ctx); toErr != nil {
				stop()
			}
		})
	}
	if b.pub != nil {
		wg.Go(func() {
			if fromErr = b.runFromAMQP(ctx); fromErr != nil {
				stop()
			}
		})
	}
	wg.Wait()
	return errors.Join(toErr, fromErr)
}

// Close closes the bus subscriber and publisher. Call it after Run returned.
func (b *Bridge) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		if b.sub != nil {
			errs = append(errs, b.sub.Close())
		}
		if b.pub != nil {
			errs = append(errs, b.pub.Close())
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// drainTimeout bounds the wait, when Run stops, for the broker's confirms and the bus publishes
// in progress: Drain (zmq_linger from a fedmsg configuration, the bound every command gives the
// flush of what it took in), so that a recipient or a broker that never answers cannot hold a
// stopping bridge (what is left is retransmitted by its publishers or redelivered by the broker). A negative Drain (zmq_linger
// -1, "forever") waits maxDrain.
func (b *Bridge) drainTimeout() time.Duration {
	if b.cfg.Drain < 0 {
		return maxDrain
	}
	return b.cfg.Drain
}

// maxDrain is drainTimeout with zmq_linger -1.
const maxDrain = 5 * time.Second

// backoff is the pause between reconnection attempts: 0.1 s doubling up to max.
type backoff struct {
	next, max time.Duration
}

func newBackoff(max time.Duration) *backoff { return &backoff{next: 100 * time.Millisecond, max: max} }

func (bo *backoff) reset() { bo.next = 100 * time.Millisecond }

// wait pauses, and reports false when ctx ended first.
func (bo *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(bo.next)
	defer t.Stop()
	bo.next = min(2*bo.next, bo.max)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryPause is the pause before the n-th failed attempt of a broker message is requeued.
func retryPause(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
