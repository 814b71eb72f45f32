package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/ratelog"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/transport"
)

// ErrClosed is returned by Next after Close. It wraps message.ErrClosed.
var ErrClosed = fmt.Errorf("consumer: %w", message.ErrClosed)

// Delivery is one accepted message, as fedmsg's tail_messages yields it.
type Delivery struct {
	// EndpointName is the endpoints key the message arrived from; EndpointAddr its address.
	EndpointName, EndpointAddr string
	// Topic is frame 1 (equal to Message.Topic()).
	Topic string
	// Message is the envelope with every field. Without a verifier its fields are decoded from
	// Raw when first asked for (message.DecodeLazy: topic, msg_id and timestamp are read on
	// receipt, and the whole frame is checked); with one, on receipt, to check the signature.
	Message *message.Message
	// Signer is who signed it, when signatures were validated; nil otherwise.
	Signer *certs.Identity
	// Raw is frame 2 exactly as received (for a replayed message, the frame of the reply). It
	// must not be modified: Message may not have read it yet.
	Raw []byte
	// Replayed is set when the message came from a replay endpoint, fetched to fill a gap in
	// its publisher's seq_ids, rather than live from the bus; EndpointAddr is then the replay
	// endpoint's address.
	Replayed bool

	// finish, set by a Subscriber that finishes explicitly (a hub's), records in the state file
	// that the application finished the message.
	finish func()
}

// finished reports to the Subscriber that delivered d, when it waits for it, that d was
// processed: its state file may record it.
func (d Delivery) finished() {
	if d.finish != nil {
		d.finish()
	}
}

// Reasons a received message is dropped, as counted in Stats.Dropped.
const (
	DropFrames    = "frames"         // not exactly two frames
	DropOversize  = "oversize"       // a frame above max_frame_size
	DropUTF8      = "utf8"           // frame 1 is not valid UTF-8
	DropEnvelope  = "envelope"       // frame 2 is not a JSON envelope with topic and msg_id
	DropMismatch  = "topic_mismatch" // frame 1 differs from the envelope's topic
	DropSignature = "signature"      // validation failed (see the log for the check)
	DropTooOld    = "too_old"        // older than max_message_age
)

// Stats are a Subscriber's counters.
type Stats struct {
	Received  uint64            // messages read from the sockets
	Delivered uint64            // messages returned by Next
	Dropped   map[string]uint64 // by reason
	Skipped   uint64            // frames WithSkip discarded unread (counted in Received, not in Dropped)
	// Replay counts gap detection and catch-up (zero when no replay_endpoints apply).
	Replay replay.TrackerStats
}

// Option configures a Subscriber.
type Option func(*options)

// options are what Options set; a Subscriber embeds them.
type options struct {
	log       *slog.Logger
	verifier  certs.Verifier
	endpoints []transport.Endpoint
	onEvent   func(Event)
	now       func() time.Time
	prefixes  []string
	skip      func(topic []byte) bool
	noReplay  bool
	fromStart bool
	explicit  bool // the state records a message at finished, not at the next Next (a hub's)
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithVerifier validates every message with v: a message v refuses is dropped (DropSignature),
// and Delivery.Signer names who signed. Default: no validation.
func WithVerifier(v certs.Verifier) Option { return func(o *options) { o.verifier = v } }

// WithEndpoints subscribes to these endpoints instead of Config.Endpoints.
func WithEndpoints(eps ...transport.Endpoint) Option {
	return func(o *options) { o.endpoints = eps }
}

// WithEvents calls fn for every connection change of the Subscriber's sockets, one per
// endpoint (Connected, Disconnected). fn must not block.
func WithEvents(fn func(Event)) Option { return func(o *options) { o.onEvent = fn } }

// WithPrefixes subscribes with these topic prefixes (ZeroMQ byte prefixes) instead of the one
// given to NewSubscriber: a message passes when its topic starts with any of them. An empty
// prefix subscribes to everything.
func WithPrefixes(prefixes ...string) Option {
	return func(o *options) { o.prefixes = append([]string{}, prefixes...) }
}

// WithSkip discards, unread, every message whose topic frame (frame 1) skip reports true for:
// not decoded, not verified, not delivered, not logged; only counted in Stats.Skipped. It is for
// traffic a subscription's prefix cannot exclude (ZeroMQ subscribes by prefix only), such as
// the ACKs on the bus for a subscriber of every topic (package ack drops them this way). skip
// runs on the reading goroutine for every message, before anything else: it must be cheap, and
// must neither modify nor keep topic.
func WithSkip(skip func(topic []byte) bool) Option { return func(o *options) { o.skip = skip } }

// WithoutReplay turns gap detection and catch-up off, even when replay_endpoints lists the
// publishers this Subscriber hears.
func WithoutReplay() Option { return func(o *options) { o.noReplay = true } }

// WithReplayFromStart makes a Subscriber catch up, at its first Next, on the whole retained
// history of every publisher with a replay endpoint that its state file (replay_state) does not
// know yet, instead of starting with the first live message: the first run of a durable
// consumer that wants everything.
func WithReplayFromStart() Option { return func(o *options) { o.fromStart = true } }

// finishExplicitly makes the state file record a message only once Delivery.finished was called
// for it and every message delivered before it, instead of when the next one is asked for: a
// Hub's Subscriber, whose messages wait in inboxes and finish in any order.
func finishExplicitly() Option { return func(o *options) { o.explicit = true } }

// WithClock sets the clock for max_message_age. Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Subscriber receives and validates messages. Next is meant for one reading goroutine; Stats and
// Close may be called from any.
type Subscriber struct {
	cfg Config
	options
	skipped atomic.Uint64

	// Gap detection and catch-up (nil without replay endpoints): see replay.go.
	tracker *replay.Tracker
	rclient *replay.Client
	pending []pendingDelivery
	queued  atomic.Int64 // len(pending), for Pending on other goroutines
	resumed bool

	zctx *zmq.Context
	sub  *zsock.Sub

	delivered atomic.Uint64
	drops     *ratelog.Limiter

	closeOnce sync.Once
	closeErr  error
}

// NewSubscriber connects to the endpoints and subscribes with the topic prefix ("" = all). It
// opens its sockets, and with replay endpoints its replay client and state file, nothing else:
// the verifier is given (WithVerifier).
func NewSubscriber(cfg Config, topic string, opts ...Option) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Subscriber{cfg: cfg, options: options{now: time.Now}}
	for _, o := range opts {
		o(&s.options)
	}
	s.log = cmp.Or(s.log, slog.Default())
	s.drops = ratelog.New(s.log, dropLogInterval)
	if s.endpoints == nil {
		s.endpoints = cfg.Endpoints
	}
	if len(s.endpoints) == 0 {
		return nil, errors.New("consumer: no endpoints to subscribe to (endpoints lists only relay_inbound?)")
	}
	eps := make([]zsock.Endpoint, len(s.endpoints))
	for i, e := range s.endpoints {
		eps[i] = zsock.Endpoint{Name: e.Name, Addr: e.Address}
	}
	zctx, err := zsock.NewContext(cfg.Transport.IOThreads)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	onEvent := func(e zsock.Event) {
		s.log.Info("endpoint "+e.Kind.String(), "endpoint", e.Endpoint.Name, "addr", e.Endpoint.Addr)
		if s.onEvent != nil {
			s.onEvent(eventOf(e))
		}
	}
	prefixes := []string{topic}
	if s.prefixes != nil {
		prefixes = s.prefixes
		if len(prefixes) == 0 {
			prefixes = []string{""}
		}
	}
	sub, err := zsock.NewSub(zctx, zsock.SubConfig{
		Endpoints: eps,
		Prefixes:  prefixes,
		Options:   cfg.Transport,
		OnEvent:   onEvent,
	})
	if err != nil {
		zctx.Term()
		return nil, fmt.Errorf("consumer: %w", err)
	}
	s.zctx, s.sub = zctx, sub
	if err := s.openReplay(prefixes); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Next returns the next valid message. It returns ctx's error when ctx ends first, and
// ErrClosed after Close.
func (s *Subscriber) Next(ctx context.Context) (Delivery, error) {
	s.commitState()
	for {
		if d, ok := s.popPending(); ok {
			return d, nil
		}
		if s.tracker != nil && !s.resumed {
			s.resumed = true
			s.resume(ctx)
			continue
		}
		in, err := s.sub.Recv(ctx)
		if err != nil {
			if errors.Is(err, zsock.ErrClosed) {
				return Delivery{}, ErrClosed
			}
			return Delivery{}, err
		}
		if s.skip != nil && len(in.Frames) > 0 && s.skip(in.Frames[0]) {
			s.skipped.Add(1)
			continue
		}
		d, reason, err := s.accept(in)
		if err != nil {
			s.drop(reason, in.Endpoint, err)
			continue
		}
		if s.tracker != nil && !s.sequence(ctx, &d) {
			continue
		}
		s.delivered.Add(1)
		return d, nil
	}
}

// Pending reports whether a message has arrived that Next would return without waiting (it may
// still turn out invalid and be dropped). It is false while another goroutine waits in Next.
func (s *Subscriber) Pending() bool { return s.queued.Load() > 0 || s.sub.Pending() }

func (s *Subscriber) accept(in zsock.Inbound) (Delivery, string, error) {
	if len(in.Frames) != 2 {
		return Delivery{}, DropFrames, fmt.Errorf("%d frames, want 2", len(in.Frames))
	}
	topic, raw := in.Frames[0], in.Frames[1]
	if limit := s.cfg.MaxFrameSize; limit > 0 && (len(raw) > limit || len(topic) > limit) {
		return Delivery{}, DropOversize, fmt.Errorf("frame of %d bytes exceeds max_frame_size %d", max(len(raw), len(topic)), limit)
	}
	if !utf8.Valid(topic) {
		return Delivery{}, DropUTF8, errors.New("topic frame is not valid UTF-8")
	}
	decode := message.DecodeLazy // the frame is checked whole, its fields decoded when asked for
	if s.verifier != nil {
		decode = message.Decode // the verifier reads every field at once
	}
	m, err := decode(raw)
	if err != nil {
		return Delivery{}, DropEnvelope, err
	}
	if m.Topic() != string(topic) {
		return Delivery{}, DropMismatch, fmt.Errorf("frame topic %q, envelope topic %q", topic, m.Topic())
	}
	// The envelope's topic is the frame's, already a string: no copy of frame 1 is needed.
	d := Delivery{EndpointName: in.Endpoint.Name, EndpointAddr: in.Endpoint.Addr, Topic: m.Topic(), Message: m, Raw: raw}
	if s.verifier != nil {
		id, err := s.verifier.Verify(m)
		if err != nil {
			return Delivery{}, DropSignature, err
		}
		d.Signer = id
	}
	if age := s.cfg.MaxMessageAge; age > 0 {
		if sent := time.Unix(m.Timestamp(), 0); s.now().Sub(sent) > age {
			return Delivery{}, DropTooOld, fmt.Errorf("msg %s sent %s, older than max_message_age %s", m.MsgID(), sent.UTC().Format(time.RFC3339), age)
		}
	}
	return d, "", nil
}

// dropLogInterval bounds logging to one line per reason per interval.
const dropLogInterval = time.Second

func (s *Subscriber) drop(reason string, ep zsock.Endpoint, err error) {
	s.drops.Warn(reason, "dropped invalid message", "endpoint", ep.Name, "addr", ep.Addr, "error", err.Error())
}

// Stats returns a snapshot of the counters.
func (s *Subscriber) Stats() Stats {
	st := Stats{Received: s.sub.Received(), Delivered: s.delivered.Load(), Dropped: s.drops.Counts(), Skipped: s.skipped.Load()}
	if s.tracker != nil {
		st.Replay = s.tracker.Stats()
	}
	return st
}

// WaitConnected waits until every endpoint has completed its handshake.
func (s *Subscriber) WaitConnected(ctx context.Context) error { return s.sub.WaitConnected(ctx) }

// Endpoints returns the endpoints the Subscriber connects to.
func (s *Subscriber) Endpoints() []transport.Endpoint {
	return append([]transport.Endpoint(nil), s.endpoints...)
}

// Close closes the sockets and the zmq context. It is safe to call more than once. The context
// is terminated even when the sockets fail to close; when both fail, the error is a
// *multierror.Error with both.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		var errs *multierror.Error
		if s.tracker != nil {
			if err := s.tracker.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("consumer: %w", err))
			}
		}
		if err := s.sub.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("consumer: closing the sockets: %w", err))
		}
		if err := s.zctx.Term(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("consumer: terminating the context: %w", err))
		}
		if s.rclient != nil {
			if err := s.rclient.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("consumer: replay client: %w", err))
			}
		}
		s.closeErr = errs.ErrorOrNil()
	})
	return s.closeErr
}
