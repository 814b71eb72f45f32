package ack

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/ratelog"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
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
	cfg      *config.Config
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
// matches ACKs to messages, retransmits and enforces deadlines.
//
// In development mode (mode = "development") and on the log sink (sink = "log") no ACK is
// awaited, so New opens no ACK listener and needs no CA; it logs a warning that says so.
func New(cfg *config.Config, opts ...Option) (*Publisher, error) {
	if cfg == nil {
		return nil, errors.New("ack: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := collectOptions(opts)
	if len(o.subscriberOnly) > 0 {
		return nil, misplaced(o.subscriberOnly, "Publisher", "Subscriber")
	}
	log := wiring.Logger(o.log)
	dev := cfg.Development()
	verifier := o.verifier
	if verifier == nil && !dev {
		v, err := wiring.AckVerifier(cfg, log)
		if err != nil {
			return nil, fmt.Errorf("ack: ACKs are verified against the CA: %w", err)
		}
		verifier = v
	}
	pubOpts := []publisher.Option{publisher.WithLogger(log)}
	if o.clock != nil {
		pubOpts = append(pubOpts, publisher.WithClock(o.clock))
	}
	if o.signer != nil {
		pubOpts = append(pubOpts, publisher.WithSigner(o.signer))
	}
	pub, err := publisher.New(cfg, append(pubOpts, o.pubOpts...)...)
	if err != nil {
		return nil, err
	}
	if pub.Signer() == nil && !dev && !o.deliverOnly {
		// Unsigned messages are refused by validating consumers, which then never ACK.
		log.Warn("acked messages are not signed (sign_messages is off): validating recipients will not ACK them")
	}
	p := &Publisher{
		cfg: cfg, log: log, pub: pub, verifier: verifier, dev: dev,
		ackTopic: message.FullTopic(cfg.TopicPrefix, cfg.Environment, "gilmsg", "ack"),
		timeout:  cfg.AckTimeout.Duration(),
		slots:    make(chan struct{}, max(cfg.AckMaxInFlight, 1)),
		ready:    make(chan struct{}),
		waiters:  make(map[string]*waiter),
		kick:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		rejects:  ratelog.New(log, time.Second),
		warned:   make(map[string]struct{}),
		unwarned: ratelog.New(log, time.Minute),
	}
	if dev {
		// Loud on purpose: this must never be how a production publisher runs unnoticed.
		log.Warn("ACKS ARE NOT AWAITED: acked publishes are sent and succeed without any ACK; "+
			"every one is logged with the recipients it did not wait for. Not for production.",
			"mode", cfg.Mode, "sink", cfg.Sink)
		close(p.ready)
		return p, nil
	}
	eps := cfg.SubscribeEndpoints()
	if o.hasEps {
		eps = o.endpoints
	}
	if len(eps) == 0 {
		pub.Close()
		return nil, errors.New("ack: no endpoints to listen for ACKs on")
	}
	zeps := make([]zsock.Endpoint, len(eps))
	for i, e := range eps {
		zeps[i] = zsock.Endpoint{Name: e.Name, Addr: e.Address}
	}
	if p.zctx, err = zsock.NewContext(cfg.IOThreads); err != nil {
		pub.Close()
		return nil, fmt.Errorf("ack: %w", err)
	}
	p.listener, err = zsock.NewSub(p.zctx, zsock.SubConfig{
		Endpoints: zeps,
		Prefixes:  []string{p.ackTopic},
		Options:   wiring.SocketOptions(cfg),
		OnEvent: func(e zsock.Event) {
			log.Debug("ACK listener "+e.Kind.String(), "endpoint", e.Endpoint.Name, "addr", e.Endpoint.Addr)
			if o.events != nil {
				o.events(Event{Kind: EventKind(e.Kind), Endpoint: e.Endpoint.Name, Addr: e.Endpoint.Addr}) // the kinds have zsock's values
			}
		},
	})
	if err != nil {
		p.zctx.Term()
		pub.Close()
		return nil, fmt.Errorf("ack: ACK listener: %w", err)
	}
	p.wg.Add(3)
	go p.settle()
	go p.run()
	go p.listen(min(runtime.GOMAXPROCS(0), maxVerifiers) - 1)
	return p, nil
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

// Future is the result of PublishAsync.
type Future struct {
	w *waiter
}

// Done is closed when every recipient has ACKed, or the publish failed.
func (f *Future) Done() <-chan struct{} { return f.w.done }

// Err returns nil once every recipient ACKed, the failure (a *TimeoutError, ErrClosed) once Done
// is closed, and ErrPending before.
func (f *Future) Err() error {
	select {
	case <-f.w.done:
		return f.w.err
	default:
		return ErrPending
	}
}

// Wait waits for Done or ctx and returns Err.
func (f *Future) Wait(ctx context.Context) error {
	select {
	case <-f.w.done:
		return f.w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Message is the envelope as sent.
func (f *Future) Message() *message.Message { return f.w.msg }

// Acked lists the recipients whose ACK counted, in arrival order. Read it after Done.
func (f *Future) Acked() []string {
	<-f.w.done
	return slices.Clone(f.w.acked)
}

// Attempts is how many times the message was sent, the first included. Read it after Done.
func (f *Future) Attempts() int {
	<-f.w.done
	return f.w.attempts
}

// ErrPending is returned by Future.Err before the publish finished.
var ErrPending = errors.New("ack: still waiting for ACKs")

// Publish sends a message and returns once every recipient has ACKed it, or fails with a
// *TimeoutError naming the missing recipients. Recipients come from To, else from the
// configuration's recipients for the full topic. With none, the message goes out as a plain
// publish, with a warning once per topic (counted in Stats.NoRecipients), or Publish fails with
// ErrNoRecipients when ack_require_recipients is set. The wait ends at the earlier of ctx's
// deadline and Within (default ack_timeout); cancelling ctx ends it too. In development mode
// and on the log sink the message is sent and Publish returns nil at once (see the package
// documentation).
func (p *Publisher) Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	f, err := p.PublishAsync(ctx, topic, body, opts...)
	if err != nil {
		return nil, err
	}
	<-f.Done()
	return f.Message(), f.Err()
}

// maxWarnedTopics bounds the topics remembered for the once-per-topic warning about missing
// recipients; beyond it the warning is rate-limited instead.
const maxWarnedTopics = 1024

// warnNoRecipients warns once per topic that an acked publish had no recipients.
func (p *Publisher) warnNoRecipients(topic string) {
	p.wmu.Lock()
	_, seen := p.warned[topic]
	full := len(p.warned) >= maxWarnedTopics
	if !seen && !full {
		p.warned[topic] = struct{}{}
	}
	p.wmu.Unlock()
	const msg = "acked publish without recipients (none given with ack.To, none configured in recipients): " +
		"sent as a plain publish, nobody ACKs it; set ack_require_recipients = true to make this an error"
	switch {
	case seen:
	case full:
		p.unwarned.Warn("no_recipients", msg, "topic", topic)
	default:
		p.log.Warn(msg+" (logged once for this topic)", "topic", topic)
	}
}

// finished is a Future that is already done, with no ACK to wait for.
func finished(m *message.Message) *Future {
	w := &waiter{msg: m, done: make(chan struct{}), index: -1, attempts: 1}
	close(w.done)
	return &Future{w: w}
}

// PublishAsync sends a message and returns a Future without waiting for ACKs, so one goroutine
// can keep many acked messages in flight (at most ack_max_in_flight; beyond that it waits for a
// slot until the deadline, then fails with ErrInFlightFull). Each message has the guarantees of
// Publish. ctx bounds the wait for ACKs as in Publish.
func (p *Publisher) PublishAsync(ctx context.Context, topic string, body any, opts ...PublishOption) (*Future, error) {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	full := p.pub.FullTopic(topic, po.pub...)
	recipients := p.recipients(full, po)
	if len(recipients) == 0 {
		if p.cfg.AckRequireRecipients {
			return nil, fmt.Errorf("%w for %s: none given with ack.To and none configured in recipients, "+
				"and ack_require_recipients is set", ErrNoRecipients, full)
		}
		if !po.explicit {
			p.stats.noRecipients.Add(1)
			p.warnNoRecipients(full)
		}
		p.stats.plain.Add(1)
		m, err := p.pub.Publish(ctx, topic, body, po.pub...)
		if err != nil {
			return nil, closedErr(err)
		}
		return finished(m), nil
	}
	if p.dev {
		m, err := p.pub.Publish(ctx, topic, body, append(po.pub, marked(recipients)...)...)
		if err != nil {
			return nil, closedErr(err)
		}
		p.stats.notAwaited.Add(1)
		p.log.Warn("acked publish sent without waiting for ACKs", "mode", p.cfg.Mode, "sink", p.cfg.Sink,
			"topic", m.Topic(), "msg_id", m.MsgID(), "recipients", recipients)
		return finished(m), nil
	}

	return p.launch(ctx, recipients, po.within, nil, true, func(extra ...publisher.PublishOption) (*message.Message, []byte, error) {
		m, err := p.pub.Build(topic, body, slices.Concat(po.pub, marked(recipients), extra)...)
		if err != nil {
			return nil, nil, err
		}
		frame, err := m.Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("ack: encoding: %w", err)
		}
		return m, frame, nil
	})
}

// launch sends the message build makes (called once a slot is taken and the listener is ready,
// so the envelope's timestamp is the send time) and returns the Future waiting for recipients.
// onAck, when set, is called with each recipient whose ACK counted, outside the lock.
//
// With number set, build is given the seq_id option when the publisher keeps a history (persistent_store): the
// message is then numbered, recorded and sent in seq_id order. The outbox's stored frames are
// launched without number: they are sent as stored.
func (p *Publisher) launch(ctx context.Context, recipients []string, within time.Duration, onAck func(string), number bool,
	build func(extra ...publisher.PublishOption) (*message.Message, []byte, error)) (*Future, error) {
	start := time.Now()
	timeout := p.timeout
	if within > 0 {
		timeout = within
	}
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := p.acquire(ctx, deadline); err != nil {
		return nil, err
	}
	release := func() { <-p.slots }
	// An endpoint behind a partition neither connects nor refuses, and waiting cannot prove
	// anything about it: give the listener at most half the budget, so that the message is still
	// sent and a missing recipient ends as a *TimeoutError naming it.
	readyBy := start.Add(min(listenerReadyCap, deadline.Sub(start)/2))
	if err := p.awaitListener(ctx, readyBy); err != nil {
		release()
		return nil, err
	}
	var fut *Future
	send := func(m *message.Message, frame []byte) error {
		var err error
		fut, err = p.registerAndSend(ctx, m, frame, recipients, start, deadline, onAck, release)
		return err
	}
	if !number || !p.pub.Numbered() {
		m, frame, err := build()
		if err != nil {
			release()
			return nil, err
		}
		if err := send(m, frame); err != nil {
			return nil, err
		}
		return fut, nil
	}
	sent := false
	_, err := p.pub.Sequence(func(extra publisher.PublishOption) (*message.Message, []byte, error) {
		return build(extra)
	}, func(m *message.Message, frame []byte) error {
		sent = true
		return send(m, frame)
	})
	if err != nil {
		if !sent {
			release() // registerAndSend releases on its own failures
		}
		return nil, err
	}
	return fut, nil
}

// registerAndSend registers the waiter of an acked message, then sends it (register before
// send); on failure the slot is released.
func (p *Publisher) registerAndSend(ctx context.Context, m *message.Message, frame []byte, recipients []string,
	start, deadline time.Time, onAck func(string), release func()) (*Future, error) {
	var err error
	w := &waiter{msg: m, frame: frame, missing: make(map[string]struct{}, len(recipients)),
		start: start, deadline: deadline, attempts: 1, done: make(chan struct{}), onAck: onAck}
	for _, r := range recipients {
		w.missing[r] = struct{}{}
	}

	// Register before send: an ACK can never arrive for a message nobody waits for.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		release()
		return nil, ErrClosed
	}
	w.rto = p.est.rto()
	w.queued = p.est.queueDelay(len(p.waiters))
	w.next = start.Add(w.rto + w.queued)
	if _, dup := p.waiters[m.MsgID()]; dup {
		p.mu.Unlock()
		release()
		return nil, fmt.Errorf("ack: msg_id %s is already waiting for ACKs", m.MsgID())
	}
	p.waiters[m.MsgID()] = w
	heap.Push(&p.queue, w)
	// The clock needs a nudge only if this message is due before the time it is armed for; a
	// timer armed for a message that has finished since just fires early and re-arms.
	nudge := p.armed.IsZero() || w.wake().Before(p.armed)
	p.mu.Unlock()
	if nudge {
		p.nudge()
	}
	p.stats.published.Add(1)

	sendCtx, cancel := context.WithDeadline(ctx, deadline)
	err = p.pub.SendRaw(sendCtx, m.Topic(), frame)
	cancel()
	if err != nil {
		err = closedErr(err)
		p.finish(w, err, nil)
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { p.finish(w, nil, ctx.Err()) })
	p.mu.Lock()
	w.sent = time.Now()
	if w.index >= 0 {
		w.stopWatch = stop
	} else {
		stop() // already finished (all ACKs in, or closed) while we were sending
	}
	p.mu.Unlock()
	return &Future{w: w}, nil
}

func (p *Publisher) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: %d messages already wait for ACKs (ack_max_in_flight)", ErrInFlightFull, cap(p.slots))
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrInFlightFull, ctx.Err())
	case <-p.quit:
		return ErrClosed
	}
}

func (p *Publisher) awaitListener(ctx context.Context, by time.Time) error {
	select {
	case <-p.ready:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(by))
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-t.C:
		return nil // send anyway: retransmission covers endpoints that connect later
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return ErrClosed
	}
}

// finish ends w once: with err (a send failure or ErrClosed), with a *TimeoutError when the
// deadline passed or cause (the context's error) ended it, or with success when neither is set
// and nothing is missing.
func (p *Publisher) finish(w *waiter, err, cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked(w, err, cause, time.Now())
}

func (p *Publisher) finishLocked(w *waiter, err, cause error, now time.Time) {
	if w.index < 0 {
		return // already finished
	}
	heap.Remove(&p.queue, w.index)
	delete(p.waiters, w.msg.MsgID())
	switch {
	case err != nil:
		w.err = err
	case len(w.missing) == 0:
		p.stats.succeeded.Add(1)
		p.est.completed(now, len(p.waiters) > 0)
	default:
		w.err = &TimeoutError{MsgID: w.msg.MsgID(), Topic: w.msg.Topic(), Missing: w.missingList(),
			Acked: slices.Clone(w.acked), Others: slices.Clone(w.others), Waited: now.Sub(w.start), Attempts: w.attempts, Cause: cause}
		if errors.Is(w.err, ErrTimeout) {
			p.stats.timedOut.Add(1)
		} else {
			p.stats.cancelled.Add(1)
		}
	}
	if w.stopWatch != nil {
		w.stopWatch()
	}
	w.frame = nil
	close(w.done)
	<-p.slots
}

func (p *Publisher) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// maxVerifiers bounds the goroutines that verify ACKs.
const maxVerifiers = 4

// listen reads ACKs and counts them, until the listener is closed. One ACK at a time is verified
// right here, with no hand-off; when several are already waiting (many recipients answering at
// once) the others go to the verify goroutines, so their checks use every core.
func (p *Publisher) listen(verifiers int) {
	defer p.wg.Done()
	var work chan zsock.Inbound
	if verifiers > 0 {
		work = make(chan zsock.Inbound, 64)
		var vwg sync.WaitGroup
		vwg.Add(verifiers)
		for range verifiers {
			go func() {
				defer vwg.Done()
				for in := range work {
					p.handleAck(in)
				}
			}()
		}
		defer vwg.Wait()
		defer close(work)
	}
	for {
		in, err := p.listener.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, zsock.ErrClosed) {
				p.log.Error("ACK listener stopped", "error", err)
			}
			return
		}
		for work != nil {
			more, ok := p.listener.TryRecv()
			if !ok {
				break
			}
			work <- more
		}
		p.handleAck(in)
	}
}

// run is the engine's clock: it retransmits and enforces deadlines.
func (p *Publisher) run() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		var wake time.Time
		if len(p.queue) > 0 {
			wake = p.queue[0].wake()
		}
		p.armed = wake
		p.mu.Unlock()
		if wake.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(wake))
		}
		select {
		case <-p.quit:
			return
		case now := <-timer.C:
			p.fire(now)
		case <-p.kick:
		}
	}
}

// fire retransmits what is due and fails what is past its deadline.
func (p *Publisher) fire(now time.Time) {
	type resend struct {
		topic string
		frame []byte
	}
	var due []resend
	p.mu.Lock()
	for len(p.queue) > 0 && !p.queue[0].wake().After(now) {
		w := p.queue[0]
		if !w.deadline.After(now) {
			p.finishLocked(w, nil, nil, now)
			continue
		}
		w.attempts++
		w.rto = clampRTO(2 * w.rto)
		w.next = now.Add(w.rto)
		heap.Fix(&p.queue, 0)
		due = append(due, resend{w.msg.Topic(), w.frame})
	}
	if len(due) > 0 {
		p.est.backoff() // once per round of expiries, not once per message
	}
	p.mu.Unlock()
	for _, r := range due {
		p.stats.retransmits.Add(1)
		if err := p.pub.Resend(r.topic, r.frame); err != nil {
			p.log.Warn("retransmission failed", "topic", r.topic, "error", err)
		}
	}
}

// handleAck counts a verified ACK from a recipient that is still missing.
func (p *Publisher) handleAck(in zsock.Inbound) {
	p.stats.acksReceived.Add(1)
	reject := func(reason string, err error) {
		p.rejects.Warn(reason, "ACK not counted", "endpoint", in.Endpoint.Name, "error", err)
	}
	if p.notWaitedFor(in.Frames) {
		p.stats.acksSkipped.Add(1)
		p.stats.acksOther.Add(1)
		return
	}
	p.stats.acksDecoded.Add(1)
	id, m, reason, err := parseAck(in.Frames, p.ackTopic, p.cfg.MaxFrameSize)
	if err != nil {
		reject(reason, err)
		return
	}
	p.mu.Lock()
	w := p.waiters[id]
	p.mu.Unlock()
	if w == nil {
		p.stats.acksOther.Add(1) // another publisher's message, or one already finished
		return
	}
	p.stats.acksVerified.Add(1)
	who, err := p.verifier.Verify(m)
	if err != nil {
		reject(rejectReason(err), fmt.Errorf("ACK for %s: %w", id, err))
		return
	}
	if cn, ok := p.count(w, who); ok && w.onAck != nil {
		w.onAck(cn)
	}
}

// notWaitedFor reports whether an ACK frame can be dropped unread: it is on the ACK topic (frame
// 1; anything else is left to parseAck to reject) and either nothing waits here for ACKs, or the
// msg_id its envelope names (found without decoding it, see peekAckID) is not waiting. On a bus
// where many consumers ACK many publishers' messages, most ACKs a listener hears are for
// someone else; they cost a map lookup instead of a JSON decode.
func (p *Publisher) notWaitedFor(frames [][]byte) bool {
	if len(frames) != 2 || string(frames[0]) != p.ackTopic {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) == 0 {
		return true
	}
	id, ok := peekAckID(frames[1])
	if !ok {
		return false
	}
	_, waiting := p.waiters[id]
	return !waiting
}

// count records who's verified ACK for w and reports whether it counted (who was missing).
func (p *Publisher) count(w *waiter, who *certs.Identity) (string, bool) {
	id := w.msg.MsgID()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.index < 0 {
		p.stats.acksOther.Add(1) // finished while we verified
		return "", false
	}
	if _, missing := w.missing[who.CN]; !missing {
		if slices.Contains(w.acked, who.CN) {
			p.stats.acksDuplicate.Add(1)
		} else {
			// Every subscriber ACKs every marked message it gets (gilmsg's rule), so a genuine
			// ACK from a trusted certificate that is not a recipient is ordinary traffic (a
			// bridge ACKs the messages it brings to the bus itself, an ackmsg-tail --ack ACKs
			// messages meant for others): counted, not logged at warn level. A recipient
			// misnamed in To shows where it matters, in the TimeoutError's Others.
			p.rejects.Count("not_recipient")
			p.log.Debug("ACK not counted: signer is not a recipient", "msg_id", id, "signer", who.CN)
			if len(w.others) < maxOthers && !slices.Contains(w.others, who.CN) {
				w.others = append(w.others, who.CN)
			}
		}
		return "", false
	}
	delete(w.missing, who.CN)
	w.acked = append(w.acked, who.CN)
	p.stats.acksCounted.Add(1)
	if w.attempts == 1 && !w.sent.IsZero() {
		p.est.sample(max(now.Sub(w.sent)-w.queued, 0)) // the round trip, not the queueing
	}
	if len(w.missing) == 0 {
		p.finishLocked(w, nil, nil, now)
	}
	return who.CN, true
}

// parseAck checks the shape of an ACK, without its signature: two frames, frame 1 and the
// envelope's topic equal to ackTopic, frame 2 at most maxFrame bytes (0: no limit) and a JSON
// envelope whose body has a string ack_msg_id. It returns that msg_id and the envelope, or the
// reason (a Stats.AcksRejected key) and the error.
func parseAck(frames [][]byte, ackTopic string, maxFrame int) (id string, m *message.Message, reason string, err error) {
	if len(frames) != 2 {
		return "", nil, "frames", fmt.Errorf("%d frames", len(frames))
	}
	if string(frames[0]) != ackTopic {
		return "", nil, "topic", fmt.Errorf("topic %q is not %q", frames[0], ackTopic)
	}
	if maxFrame > 0 && len(frames[1]) > maxFrame {
		return "", nil, "oversize", fmt.Errorf("%d bytes", len(frames[1]))
	}
	m, err = message.Decode(frames[1])
	if err != nil {
		return "", nil, "envelope", err
	}
	if m.Topic() != ackTopic {
		return "", nil, "topic", fmt.Errorf("envelope topic %q is not %q", m.Topic(), ackTopic)
	}
	body, _ := m.Body().(map[string]any)
	id, ok := body["ack_msg_id"].(string)
	if !ok {
		return "", nil, "body", errors.New(`body has no string "ack_msg_id"`)
	}
	return id, m, "", nil
}

func rejectReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{certs.ErrUnsigned, "unsigned"}, {certs.ErrCrypto, "crypto"}, {certs.ErrEncoding, "encoding"},
		{certs.ErrUntrusted, "untrusted"}, {certs.ErrExpired, "expired"}, {certs.ErrRevoked, "revoked"},
		{certs.ErrCRL, "crl"}, {certs.ErrSignature, "tampered"}, {certs.ErrPolicy, "policy"},
		{certs.ErrSigner, "signer"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "invalid"
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Stats are a Publisher's counters.
type Stats struct {
	InFlight      int               // messages waiting for ACKs now
	Published     uint64            // acked messages sent
	Plain         uint64            // messages published without recipients
	NoRecipients  uint64            // of Plain, those that had none given and none configured (not To() with no names)
	NotAwaited    uint64            // acked messages sent without waiting for ACKs (development mode, log sink)
	Succeeded     uint64            // every recipient ACKed
	TimedOut      uint64            // deadline passed with recipients missing
	Cancelled     uint64            // the caller's context ended the wait
	Retransmits   uint64            // re-sends of the same signed frames
	AcksReceived  uint64            // frames the ACK listener handled; each is in exactly one of the next four
	AcksCounted   uint64            // ACKs that counted for a missing recipient
	AcksDuplicate uint64            // a recipient ACKed again (after a retransmission)
	AcksOther     uint64            // ACKs for messages not waiting here
	AcksSkipped   uint64            // of AcksOther, those dropped before decoding (their msg_id read from the raw frame)
	AcksDecoded   uint64            // frames whose envelope was decoded (AcksReceived minus AcksSkipped)
	AcksVerified  uint64            // ACKs whose signature was checked: only those for a message waiting here
	AcksRejected  map[string]uint64 // ACKs that failed a check, by reason
	RTO           time.Duration     // the current retransmission timeout
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	inflight, rto := len(p.waiters), p.est.rto()
	p.mu.Unlock()
	return Stats{
		InFlight: inflight, Published: p.stats.published.Load(), Plain: p.stats.plain.Load(),
		NoRecipients: p.stats.noRecipients.Load(), NotAwaited: p.stats.notAwaited.Load(),
		Succeeded: p.stats.succeeded.Load(), TimedOut: p.stats.timedOut.Load(), Cancelled: p.stats.cancelled.Load(),
		Retransmits: p.stats.retransmits.Load(), AcksCounted: p.stats.acksCounted.Load(),
		AcksDuplicate: p.stats.acksDuplicate.Load(), AcksOther: p.stats.acksOther.Load(), AcksReceived: p.stats.acksReceived.Load(),
		AcksSkipped: p.stats.acksSkipped.Load(), AcksDecoded: p.stats.acksDecoded.Load(), AcksVerified: p.stats.acksVerified.Load(),
		AcksRejected: p.rejects.Counts(), RTO: rto,
	}
}

// Publisher returns the underlying base-bus publisher (for plain messages on the same socket).
func (p *Publisher) Publisher() *publisher.Publisher { return p.pub }

// Numbered reports whether messages get a seq_id and are recorded (persistent_store): plain and
// acked ones alike.
func (p *Publisher) Numbered() bool { return p.pub.Numbered() }

// ReplayAddr is the address of the replay endpoint this Publisher serves, "" when none.
func (p *Publisher) ReplayAddr() string { return p.pub.ReplayAddr() }

// ReplayStats are the counters of the replay endpoint (zero when there is none).
func (p *Publisher) ReplayStats() replay.ServerStats { return p.pub.ReplayStats() }

// AckTopic is the topic ACKs are expected on: <topic_prefix>.<environment>.gilmsg.ack.
func (p *Publisher) AckTopic() string { return p.ackTopic }

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

// recipients resolves who must ACK a message on the full topic: To's names, else the configured
// ones; sorted, without repeats.
func (p *Publisher) recipients(full string, po publishOptions) []string {
	if po.explicit {
		return uniq(po.recipients)
	}
	return uniq(p.cfg.RecipientsFor(full))
}

// Build makes the envelope Publish would send for topic and body, signed, without sending it:
// with the gilmsg_version marker and ack_recipients when the message has recipients (as
// publisher.Publisher.Build, plus those fields). Sending it through Publisher().SendRaw would
// not wait for ACKs.
func (p *Publisher) Build(topic string, body any, opts ...PublishOption) (*message.Message, error) {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	if r := p.recipients(p.pub.FullTopic(topic, po.pub...), po); len(r) > 0 {
		po.pub = append(po.pub, marked(r)...)
	}
	return p.pub.Build(topic, body, po.pub...)
}

// FullTopic returns the full topic a message on topic gets with these options, as
// publisher.Publisher.FullTopic.
func (p *Publisher) FullTopic(topic string, opts ...PublishOption) string {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	return p.pub.FullTopic(topic, po.pub...)
}

// WaitSubscribed waits until some subscriber's subscription covers topic, as
// publisher.Publisher.WaitSubscribed: a recipient that subscribed before the first publish gets
// it at once rather than from a retransmission. Without a deadline on ctx it waits at most
// DefaultSubscribeWait.
func (p *Publisher) WaitSubscribed(ctx context.Context, topic string) error {
	return closedErr(p.pub.WaitSubscribed(ctx, topic))
}

// Addr is the address the publisher's socket bound (passive) or connected to (active).
func (p *Publisher) Addr() string { return p.pub.Addr() }

// Signer returns the signer of the messages, or nil when they are not signed.
func (p *Publisher) Signer() certs.Signer { return p.pub.Signer() }

// Config returns the configuration the Publisher was built from. Do not modify it.
func (p *Publisher) Config() *config.Config { return p.cfg }

// Sent counts the messages handed to the socket: plain and acked ones, retransmissions included.
func (p *Publisher) Sent() uint64 { return p.pub.Sent() }

// Subscriptions counts the live subscriptions the publisher's socket has seen, as
// publisher.Publisher.Subscriptions.
func (p *Publisher) Subscriptions() int { return p.pub.Subscriptions() }
