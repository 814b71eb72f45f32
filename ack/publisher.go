package ack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/ratelog"
)

// Marker is the gilmsg_version value put on messages that ask for ACKs. Python gilmsg consumers
// only test that the field is present.
const Marker = "0.1.2+ackmsg"

// listenerReadyCap bounds how long the first acked publish waits for the ACK listener to settle
// (every endpoint connected, or refused because nothing listens there yet). Endpoints that come
// up later are covered by retransmission.
const listenerReadyCap = 2 * time.Second

// Publisher publishes messages that named recipients must ACK. Its methods mirror
// publisher.Publisher; it is safe for concurrent use.
type Publisher struct {
	cfg      Config
	log      *slog.Logger
	pub      *publisher.Publisher
	verifier certs.Verifier
	dev      bool // development mode or log sink: ACKs are not awaited
	ackTopic string
	timeout  time.Duration
	slots    chan struct{}

	zctx     *zmq.Context
	listener *zsock.Sub
	ready    chan struct{} // closed once the listener settled (or gave up waiting)

	mu      sync.Mutex
	waiters map[string]*waiter
	queue   waiterHeap
	est     rtoEstimator
	closed  bool
	armed   time.Time // when the clock's timer fires; zero while it is stopped

	kick     chan struct{}
	quit     chan struct{}
	wg       sync.WaitGroup
	rejects  *ratelog.Limiter
	closeErr error

	wmu      sync.Mutex
	warned   map[string]struct{} // topics already warned about having no recipients
	unwarned *ratelog.Limiter    // for topics beyond maxWarnedTopics
	once     sync.Once

	stats struct {
		published, succeeded, timedOut, cancelled, plain     atomic.Uint64
		noRecipients, notAwaited                             atomic.Uint64
		retransmits, acksCounted, acksDuplicate, acksOther   atomic.Uint64
		acksReceived, acksSkipped, acksDecoded, acksVerified atomic.Uint64
	}
}

// New builds the publisher (passive or active, as package publisher) and starts the ACK
// listener: one SUB socket per endpoint, subscribed to the ACK topic, and one goroutine that
// matches ACKs to messages, retransmits and enforces deadlines. The ACK verifier is given
// (WithVerifier), and so is the signer (WithSigner; unsigned messages are refused by validating
// recipients, which then never ACK).
//
// In development mode (Config.Development) and on the log sink no ACK is awaited, so New opens
// no ACK listener and needs no verifier; it logs a warning that says so.
func New(cfg Config, opts ...Option) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := collectOptions(opts)
	if len(o.subscriberOnly) > 0 {
		return nil, misplaced(o.subscriberOnly, "Publisher", "Subscriber")
	}
	log := cmp.Or(o.log, slog.Default())
	dev := cfg.awaitsNone()
	if o.verifier == nil && !dev {
		return nil, errors.New("ack: ACKs are verified against the CA: give the verifier (WithVerifier)")
	}
	pubOpts := []publisher.Option{publisher.WithLogger(log)}
	if o.clock != nil {
		pubOpts = append(pubOpts, publisher.WithClock(o.clock))
	}
	if o.signer != nil {
		pubOpts = append(pubOpts, publisher.WithSigner(o.signer))
	}
	pub, err := publisher.New(cfg.Publisher, append(pubOpts, o.pubOpts...)...)
	if err != nil {
		return nil, err
	}
	if pub.Signer() == nil && !dev && !o.deliverOnly {
		// Unsigned messages are refused by validating consumers, which then never ACK.
		log.Warn("acked messages are not signed (sign_messages is off): validating recipients will not ACK them")
	}
	pc := cfg.Publisher
	p := &Publisher{
		cfg: cfg, log: log, pub: pub, verifier: o.verifier, dev: dev,
		ackTopic: message.FullTopic(pc.TopicPrefix, pc.Environment, "gilmsg", "ack"),
		timeout:  cfg.Timeout,
		slots:    make(chan struct{}, max(cfg.MaxInFlight, 1)),
		ready:    make(chan struct{}),
		waiters:  make(map[string]*waiter),
		kick:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		rejects:  ratelog.New(log, time.Second),
		warned:   make(map[string]struct{}),
		unwarned: ratelog.New(log, time.Minute),
	}
	if dev {
		mode, sink := cfg.modeAndSink()
		// Loud on purpose: this must never be how a production publisher runs unnoticed.
		log.Warn("ACKS ARE NOT AWAITED: acked publishes are sent and succeed without any ACK; "+
			"every one is logged with the recipients it did not wait for. Not for production.",
			"mode", mode, "sink", sink)
		close(p.ready)
		return p, nil
	}
	if err := p.startListener(o); err != nil {
		pub.Close()
		return nil, err
	}
	return p, nil
}

// startListener opens the ACK listener on the configured endpoints (or WithEndpoints') and
// starts the goroutines that settle it, read and count ACKs, and run the retransmission clock.
func (p *Publisher) startListener(o *options) error {
	cfg, log := p.cfg, p.log
	eps := cfg.Endpoints
	if o.hasEps {
		eps = o.endpoints
	}
	if len(eps) == 0 {
		return errors.New("ack: no endpoints to listen for ACKs on")
	}
	zeps := make([]zsock.Endpoint, len(eps))
	for i, e := range eps {
		zeps[i] = zsock.Endpoint{Name: e.Name, Addr: e.Address}
	}
	var err error
	if p.zctx, err = zsock.NewContext(cfg.Publisher.Transport.IOThreads); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	p.listener, err = zsock.NewSub(p.zctx, zsock.SubConfig{
		Endpoints: zeps,
		Prefixes:  []string{p.ackTopic},
		Options:   cfg.Publisher.Transport,
		OnEvent: func(e zsock.Event) {
			log.Debug("ACK listener "+e.Kind.String(), "endpoint", e.Endpoint.Name, "addr", e.Endpoint.Addr)
			if o.events != nil {
				o.events(Event{Kind: EventKind(e.Kind), Endpoint: e.Endpoint.Name, Addr: e.Endpoint.Addr}) // the kinds have zsock's values
			}
		},
	})
	if err != nil {
		p.zctx.Term()
		return fmt.Errorf("ack: ACK listener: %w", err)
	}
	p.wg.Add(3)
	go p.settle()
	go p.run()
	go p.listen(min(runtime.GOMAXPROCS(0), maxVerifiers) - 1)
	return nil
}

// settle closes p.ready once the listener has done what it can: every endpoint connected, or
// refused. Nothing is subscribed where nothing listens; retransmission covers what comes up
// later.
func (p *Publisher) settle() {
	defer p.wg.Done()
	defer close(p.ready)
	ctx, cancel := context.WithTimeout(context.Background(), listenerReadyCap)
	defer cancel()
	go func() { // Close must not wait for the cap
		select {
		case <-p.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := p.listener.WaitSettled(ctx); err != nil {
		p.log.Debug("ACK listener not settled; relying on retransmission", "error", err)
	}
}

// Close fails every message still waiting with ErrClosed, stops the listener and closes the
// sockets. It is safe to call more than once. When several parts fail to close, the error is a
// *multierror.Error naming each; the others are closed all the same.
func (p *Publisher) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		now := time.Now()
		for len(p.queue) > 0 {
			p.finishLocked(p.queue[0], ErrClosed, nil, now)
		}
		p.mu.Unlock()
		close(p.quit)
		var errs *multierror.Error
		if p.listener != nil {
			if err := p.listener.Close(); err != nil { // ends the listen goroutines
				errs = multierror.Append(errs, fmt.Errorf("ack: closing the ACK listener: %w", err))
			}
		}
		p.wg.Wait()
		if p.zctx != nil {
			if err := p.zctx.Term(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("ack: terminating the ACK listener's context: %w", err))
			}
		}
		if err := p.pub.Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
		p.closeErr = errs.ErrorOrNil()
	})
	return p.closeErr
}
