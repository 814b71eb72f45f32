package consumer

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/ratelog"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/message"
)

// Consumer processes the messages of its topics; a Hub runs it. Consume is called from the
// consumer's workers, so concurrently when it has more than one.
type Consumer interface {
	// Topics are the topic patterns the consumer wants (see config.TopicMatches): exact topics,
	// fedmsg's trailing "*" (a prefix) and AMQP-style "*" (one word) and "#" (zero or more words).
	Topics() []string
	// Consume processes one valid message. nil means processed: an acking hub may then ACK it.
	// An error means not processed: no ACK, and a retransmission brings the message back. ctx is
	// cancelled at the consumer's timeout and when the hub gives up on in-flight work at
	// shutdown; Consume should return promptly then. m belongs to this call: Consume may keep
	// it, and must not change the values inside it (they are shared).
	Consume(ctx context.Context, m *message.Message) error
}

// PreConsumer is a Consumer with a hook run before each Consume. An error skips Consume and counts
// as a failed attempt.
type PreConsumer interface {
	PreConsume(ctx context.Context, m *message.Message) error
}

// PostConsumer is a Consumer with a hook run after each Consume (or failed PreConsume) with its
// error. Returning an error turns a success into a failure (a commit that failed, say); it cannot
// turn a failure into a success.
type PostConsumer interface {
	PostConsume(ctx context.Context, m *message.Message, err error) error
}

// Func is a Consumer made of a function and its topics.
func Func(fn func(ctx context.Context, m *message.Message) error, topics ...string) Consumer {
	return funcConsumer{fn: fn, topics: topics}
}

type funcConsumer struct {
	fn     func(context.Context, *message.Message) error
	topics []string
}

func (f funcConsumer) Topics() []string { return f.topics }
func (f funcConsumer) Consume(ctx context.Context, m *message.Message) error {
	return f.fn(ctx, m)
}

// Info is what the Hub knows about the message being consumed beyond the envelope: its
// delivery (endpoint, topic, signer, raw bytes), the consumer and the attempt.
type Info struct {
	// Consumer is the name the consumer was added under.
	Consumer string
	// Attempt counts the runs of this consumer for this msg_id, this one included: 1 the first
	// time, more when a retransmission follows a failure (as long as the hub remembers the
	// msg_id, see dedupe_window).
	Attempt int
	// Delivery is the message as received.
	Delivery Delivery
}

type infoKey struct{}

// InfoFrom returns the Info of the message a Hub is consuming with ctx.
func InfoFrom(ctx context.Context) (Info, bool) {
	i, ok := ctx.Value(infoKey{}).(Info)
	return i, ok
}

// ContextWithInfo returns ctx carrying info, as a Hub passes it to Consume: for calling a
// consumer outside a Hub, in tests.
func ContextWithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// Errors a Hub reports to its Source as a message's outcome (and logs).
var (
	// ErrNoConsumer: the topic passed the subscription prefix but matches no consumer's
	// patterns. Nothing processed it, so it is not ACKed.
	ErrNoConsumer = errors.New("consumer: no consumer for the topic")
	// ErrPoison: the msg_id failed max_attempts times and is no longer processed.
	ErrPoison = errors.New("consumer: poison message: failed too many times, no longer processed")
	// ErrNotProcessed: a consumer's inbox was full (overflow "drop"), or the hub shut down before
	// the message was processed.
	ErrNotProcessed = errors.New("consumer: not processed")
)

// Incoming is a message a Source hands to a Hub, with the way to report its outcome.
type Incoming struct {
	Delivery
	// Done, when not nil, is called exactly once, from any goroutine, with the outcome: nil once
	// every consumer the outcome waits for has processed the message, otherwise an error. An
	// acking source ACKs on nil.
	Done func(err error)
}

// Source is where a Hub's messages come from. A Hub calls Next from one goroutine, and Close
// once every outcome has been reported.
type Source interface {
	// Next returns the next valid message. It returns ctx's error when ctx ends first.
	Next(ctx context.Context) (Incoming, error)
	Close() error
}

// SourceSpec is what a Hub asks of the Source it opens.
type SourceSpec struct {
	// Prefixes are the ZeroMQ subscriptions that cover every consumer's topics.
	Prefixes []string
	// Logger is the hub's logger.
	Logger *slog.Logger
	// Options are those given with WithSubscriberOptions, for a Source built on a Subscriber.
	Options []Option
}

// OpenSource opens a Hub's Source once the consumers are known.
type OpenSource func(ctx context.Context, spec SourceSpec) (Source, error)

// ConsumerConfig says how a Hub runs one consumer.
type ConsumerConfig struct {
	// Name identifies the consumer in logs and statistics; unique within a Hub. Required.
	Name string
	// Topics replace the consumer's own Topics() when not empty. Default: none.
	Topics []string
	// Workers is how many messages the consumer processes at once. Default 1.
	Workers int
	// Inbox is how many messages may wait for a worker. Default 100.
	Inbox int
	// DropWhenFull skips this consumer for a message that finds its inbox full (counted, and the
	// message is not ACKed) instead of waiting for room, which stops the hub from reading the bus
	// (back-pressure). Default false.
	DropWhenFull bool
	// OnReceipt makes the message's outcome not wait for this consumer: an acking hub ACKs once
	// the message is in the inbox (gilmsg's behaviour), and this consumer's failures are logged
	// and counted but withhold nothing. Default false: the ACK waits for this consumer's success.
	OnReceipt bool
	// Timeout bounds one Consume (hooks included): its ctx is cancelled then, and an error
	// returned after that is reported as a timeout. 0 means no limit. Default 60 s.
	Timeout time.Duration
}

// DefaultConsumerConfig returns the defaults written in the [ConsumerConfig] field comments:
// those of a [[hub.consumers]] table that names only name and kind.
func DefaultConsumerConfig(name string) ConsumerConfig {
	return ConsumerConfigFrom(config.DefaultHubConsumer(name, config.HubKindGo))
}

// ConsumerConfigFrom translates a [[hub.consumers]] table.
func ConsumerConfigFrom(hc config.HubConsumer) ConsumerConfig {
	return ConsumerConfig{
		Name:         hc.Name,
		Topics:       slices.Clone(hc.Topics),
		Workers:      hc.Workers,
		Inbox:        hc.Inbox,
		DropWhenFull: hc.Overflow == config.HubOverflowDrop,
		OnReceipt:    hc.Ack == config.HubAckReceipt,
		Timeout:      hc.Timeout.Duration(),
	}
}

// Validate reports what is wrong with c, naming the consumer.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("empty name"))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: want at least 1", c.Workers))
	}
	if c.Inbox < 1 {
		errs = append(errs, fmt.Errorf("inbox %d: want at least 1 (the inbox is bounded)", c.Inbox))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: want 0 (none) or more", c.Timeout))
	}
	for _, p := range c.Topics {
		if err := config.CheckTopicPattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consumer: hub consumer %q: %w", c.Name, err)
	}
	return nil
}

// HubOption configures a Hub.
type HubOption func(*Hub)

// WithHubLogger sets the logger. Default: slog.Default().
func WithHubLogger(l *slog.Logger) HubOption { return func(h *Hub) { h.log = l } }

// WithSource makes the Hub read from the Source open returns instead of a plain Subscriber on
// the configured endpoints. Package ack uses it to build an acking hub.
func WithSource(open OpenSource) HubOption { return func(h *Hub) { h.open = open } }

// WithSubscriberOptions passes options to the hub's Subscriber (through SourceSpec.Options).
func WithSubscriberOptions(opts ...Option) HubOption {
	return func(h *Hub) { h.subOpts = append(h.subOpts, opts...) }
}

// WithObserver calls fn after every run of a consumer, from its worker, with how long it took
// and its error: for metrics. fn must not block.
func WithObserver(fn func(consumer string, took time.Duration, err error)) HubOption {
	return func(h *Hub) { h.observe = fn }
}

// Hub runs consumers: it reads valid messages from one subscription covering every consumer's
// topics, routes each to the consumers whose patterns match it exactly, and runs each consumer's
// bounded inbox with its workers. See the package documentation for the guarantees.
type Hub struct {
	cfg     *config.Config
	log     *slog.Logger
	open    OpenSource
	subOpts []Option
	observe func(string, time.Duration, error)

	maxAttempts int
	shutdown    time.Duration

	consumers []*hubConsumer
	limit     *ratelog.Limiter

	mu      sync.Mutex // guards window and the per-msg_id progress in it
	window  *progressWindow
	started bool

	ready     atomic.Bool
	readyOnce sync.Once
	readyCh   chan struct{}

	stats struct {
		received, unmatched, duplicates, completed, incomplete, poison, rejected atomic.Uint64
	}
}

// NewHub returns a Hub for cfg: max_attempts and shutdown_timeout come from cfg.Hub, the size of
// its msg_id memory from dedupe_window, and, unless WithSource is given, the endpoints and
// validation settings of its Subscriber from the rest. Add consumers, then Run it.
func NewHub(cfg *config.Config, opts ...HubOption) (*Hub, error) {
	if cfg == nil {
		return nil, errors.New("consumer: nil config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, maxAttempts: cfg.Hub.MaxAttempts, shutdown: cfg.Hub.ShutdownTimeout.Duration(),
		window: newProgressWindow(cfg.DedupeWindow), readyCh: make(chan struct{})}
	for _, o := range opts {
		o(h)
	}
	h.log = wiring.Logger(h.log)
	h.limit = ratelog.New(h.log, 5*time.Second)
	if h.open == nil {
		h.open = func(_ context.Context, spec SourceSpec) (Source, error) {
			s, err := NewSubscriber(cfg, "", append([]Option{WithLogger(spec.Logger), WithPrefixes(spec.Prefixes...)}, spec.Options...)...)
			if err != nil {
				return nil, err
			}
			return plainSource{s}, nil
		}
	}
	return h, nil
}

// plainSource feeds a Hub from a Subscriber, with no outcome to report.
type plainSource struct{ *Subscriber }

func (p plainSource) Next(ctx context.Context) (Incoming, error) {
	d, err := p.Subscriber.Next(ctx)
	return Incoming{Delivery: d}, err
}

// hubConsumer is a Consumer with its configuration, inbox and counters.
type hubConsumer struct {
	index    int
	c        Consumer
	cfg      ConsumerConfig
	patterns []config.TopicPattern
	inbox    chan *task

	busy  atomic.Int64
	stats struct {
		received, processed, failed, dropped, abandoned, inboxFull atomic.Uint64
	}
}

func (c *hubConsumer) matches(topic string) bool {
	for _, p := range c.patterns {
		if p.Match(topic) {
			return true
		}
	}
	return false
}

// Add registers c under cc (see [DefaultConsumerConfig]). It must be called before Run.
func (h *Hub) Add(c Consumer, cc ConsumerConfig) error {
	if c == nil {
		return fmt.Errorf("consumer: hub consumer %q: nil Consumer", cc.Name)
	}
	if err := cc.Validate(); err != nil {
		return err
	}
	topics := cc.Topics
	if len(topics) == 0 {
		topics = c.Topics()
	}
	if len(topics) == 0 {
		return fmt.Errorf("consumer: hub consumer %q has no topics", cc.Name)
	}
	hc := &hubConsumer{c: c, cfg: cc, inbox: make(chan *task, cc.Inbox)}
	hc.cfg.Topics = slices.Clone(topics)
	for _, t := range topics {
		p, err := config.ParseTopicPattern(t)
		if err != nil {
			return fmt.Errorf("consumer: hub consumer %q: %w", cc.Name, err)
		}
		hc.patterns = append(hc.patterns, p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return fmt.Errorf("consumer: hub consumer %q: the hub is already running", cc.Name)
	}
	for _, o := range h.consumers {
		if o.cfg.Name == cc.Name {
			return fmt.Errorf("consumer: hub consumer %q: added twice", cc.Name)
		}
	}
	hc.index = len(h.consumers)
	h.consumers = append(h.consumers, hc)
	return nil
}

// Prefixes returns the ZeroMQ subscription prefixes that cover every added consumer's topics,
// without redundancy ("" when one consumer wants everything).
func (h *Hub) Prefixes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []string
	for _, c := range h.consumers {
		for _, p := range c.patterns {
			all = append(all, p.Prefix())
		}
	}
	slices.Sort(all)
	var out []string
	for _, p := range all {
		// Sorted, so a prefix of p (if kept) is the last one kept.
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Ready reports whether the hub is subscribed, its workers are running and it is not shutting
// down: the meaning of /ready.
func (h *Hub) Ready() bool { return h.ready.Load() }

// WaitReady waits until the hub is ready for the first time, or ctx ends.
func (h *Hub) WaitReady(ctx context.Context) error {
	select {
	case <-h.readyCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run opens the source, starts every consumer's workers and routes messages until ctx ends or
// the source fails. Then it shuts down: it stops reading, lets queued and in-flight work finish
// for up to shutdown_timeout, then cancels what is left (its ctx is cancelled; queued messages
// are not started), waits for every worker, reports every outcome (unfinished work as
// ErrNotProcessed, so it is never ACKed) and closes the source. It returns nil after a shutdown
// caused by ctx, and the error otherwise. A Hub runs once.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.started {
		h.mu.Unlock()
		return errors.New("consumer: hub: Run called twice")
	}
	h.started = true
	consumers := h.consumers
	h.mu.Unlock()
	if len(consumers) == 0 {
		return errors.New("consumer: hub: no consumers to run")
	}
	prefixes := h.Prefixes()
	// The Subscriber's state file must not count a message as delivered while it waits in an
	// inbox: the hub says when every consumer finished it.
	src, err := h.open(ctx, SourceSpec{Prefixes: prefixes, Logger: h.log, Options: append(slices.Clone(h.subOpts), finishExplicitly())})
	if err != nil {
		return fmt.Errorf("consumer: hub: %w", err)
	}

	// Work outlives ctx (the shutdown signal) by up to the shutdown timeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	names := make([]string, len(consumers))
	for i, c := range consumers {
		names[i] = c.cfg.Name
		for range c.cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.worker(work, c)
			}()
		}
	}
	h.ready.Store(true)
	h.readyOnce.Do(func() { close(h.readyCh) })
	h.log.Info("hub ready", "consumers", strings.Join(names, ","), "subscribed", strings.Join(quoteAll(prefixes), ","))

	runErr := h.dispatch(ctx, src)

	h.ready.Store(false)
	queued := 0
	for _, c := range consumers {
		queued += len(c.inbox) + int(c.busy.Load())
		close(c.inbox) // the dispatcher, the only sender, has returned
	}
	h.log.Info("hub stopping: no new messages; finishing the work in progress", "in_progress", queued, "deadline", h.shutdown)
	idle := make(chan struct{})
	go func() {
		wg.Wait()
		close(idle)
	}()
	timer := time.NewTimer(h.shutdown)
	select {
	case <-idle:
		timer.Stop()
	case <-timer.C:
		left := 0
		for _, c := range consumers {
			left += len(c.inbox) + int(c.busy.Load())
		}
		h.log.Warn("shutdown deadline passed: cancelling unfinished work, which is not ACKed", "deadline", h.shutdown, "unfinished", left)
		cancelWork()
		<-idle
	}
	if err := src.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("consumer: hub: closing the source: %w", err)
	}
	st := h.Stats()
	h.log.Info("hub stopped", "received", st.Received, "completed", st.Completed, "incomplete", st.Incomplete)
	return runErr
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func (h *Hub) dispatch(ctx context.Context, src Source) error {
	for {
		in, err := src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consumer: hub: reading messages: %w", err)
		}
		h.stats.received.Add(1)
		h.route(ctx, in)
	}
}

// job is one delivery of a message to the consumers that had not processed it yet. pending counts
// the outcomes it waits for, plus one held by the dispatcher until every task is queued.
type job struct {
	in      Incoming
	id      string
	pending atomic.Int32
	// left counts the consumers that have not finished the message (OnReceipt ones included),
	// plus one held by the dispatcher; at zero the source's state may record it, unless cut.
	left atomic.Int32
	cut  atomic.Bool // a consumer never got to it because the hub shut down

	mu         sync.Mutex
	errs       *multierror.Error // failures of consumers the outcome waits for, as *ConsumerError
	succeeded  []string          // consumers the outcome waits for that processed it
	awaited    int               // consumers the outcome waits for
	incomplete bool              // a consumer the outcome waits for never ran (dropped, shutdown)
}

// ConsumerError is one consumer's failure to process a message. When several consumers fail
// one message, a Source's Done gets a *multierror.Error of them, whose text also names the
// consumers that succeeded.
type ConsumerError struct {
	Consumer string
	Attempt  int // deliveries of this msg_id to this consumer, this one included
	Err      error
}

func (e *ConsumerError) Error() string { return fmt.Sprintf("consumer %s: %v", e.Consumer, e.Err) }

func (e *ConsumerError) Unwrap() error { return e.Err }

// consumersFailed formats the failures of one message's consumers with the partial success:
// "consumer: 2 of 3 consumers failed msg M (done: c): consumer a: ...; consumer b: ...". A single
// consumer's failure, with no other consumer waited for, reads as that failure alone.
func consumersFailed(id string, awaited int, succeeded []string) multierror.ErrorFormatFunc {
	return func(es []error) string {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Error()
		}
		if len(es) == 1 && awaited <= 1 {
			return parts[0]
		}
		done := ""
		if len(succeeded) > 0 {
			done = " (done: " + strings.Join(succeeded, ", ") + ")"
		}
		return fmt.Sprintf("consumer: %d of %d consumers failed msg %s%s: %s", len(es), awaited, id, done, strings.Join(parts, "; "))
	}
}

// task is one consumer's share of a job.
type task struct {
	job *job
	msg *message.Message
}

func (h *Hub) route(ctx context.Context, in Incoming) {
	if in.Message == nil {
		finish(in, ErrNotProcessed)
		in.finished()
		return
	}
	id, topic := in.Message.MsgID(), in.Topic
	var matched []*hubConsumer
	for _, c := range h.consumers {
		if c.matches(topic) {
			matched = append(matched, c)
		}
	}
	if len(matched) == 0 {
		h.stats.unmatched.Add(1)
		h.log.Debug("no consumer for the topic: not processed", "msg_id", id, "topic", topic)
		finish(in, ErrNoConsumer)
		in.finished()
		return
	}

	h.mu.Lock()
	p := h.window.get(id, len(h.consumers))
	poison := p.poison
	var todo []*hubConsumer
	for _, c := range matched {
		if !p.done[c.index] {
			todo = append(todo, c)
		}
	}
	h.mu.Unlock()
	switch {
	case poison:
		h.stats.rejected.Add(1)
		h.log.Debug("poison message seen again: not processed", "msg_id", id, "topic", topic)
		finish(in, ErrPoison)
		in.finished()
		return
	case len(todo) == 0:
		// Every matching consumer processed it already (a retransmission whose ACK was lost, or
		// a duplicate): report success again, process nothing.
		h.stats.duplicates.Add(1)
		finish(in, nil)
		in.finished()
		return
	}

	j := &job{in: in, id: id}
	j.pending.Store(1)
	j.left.Store(int32(len(todo)) + 1)
	msgs := make([]*message.Message, len(todo))
	for i := range todo {
		// Each consumer may keep and annotate its own copy, while the source still reads the
		// original.
		msgs[i] = in.Message.Clone()
	}
	for _, c := range todo {
		if !c.cfg.OnReceipt {
			j.awaited++
		}
	}
	for i, c := range todo {
		if !c.cfg.OnReceipt {
			j.pending.Add(1)
		}
		if !h.enqueue(ctx, c, &task{job: j, msg: msgs[i]}) {
			// Not even received: withhold the outcome, whatever the consumer's ack mode.
			j.mu.Lock()
			j.incomplete = true
			j.mu.Unlock()
			if ctx.Err() != nil {
				j.cut.Store(true) // shutting down, not dropped: the restarted hub must see it
			}
			h.settle(j)
			if !c.cfg.OnReceipt {
				h.release(j)
			}
		}
	}
	h.release(j)
	h.settle(j)
}

// settle counts one consumer (or the dispatcher) done with j; after the last, the source's
// state records the message, unless the shutdown kept a consumer from it.
func (h *Hub) settle(j *job) {
	if j.left.Add(-1) == 0 && !j.cut.Load() {
		j.in.finished()
	}
}

// enqueue puts t in c's inbox. When it is full it waits (back-pressure), unless c drops, or ctx
// ends; it reports whether t was queued.
func (h *Hub) enqueue(ctx context.Context, c *hubConsumer, t *task) bool {
	select {
	case c.inbox <- t:
		c.stats.received.Add(1)
		return true
	default:
	}
	c.stats.inboxFull.Add(1)
	if c.cfg.DropWhenFull {
		c.stats.dropped.Add(1)
		h.limit.Warn("drop:"+c.cfg.Name, "inbox full: message dropped for this consumer, not ACKed",
			"consumer", c.cfg.Name, "inbox", cap(c.inbox), "msg_id", t.job.id)
		return false
	}
	h.limit.Warn("full:"+c.cfg.Name, "inbox full: waiting for a worker before reading more (back-pressure)",
		"consumer", c.cfg.Name, "inbox", cap(c.inbox))
	select {
	case c.inbox <- t:
		c.stats.received.Add(1)
		return true
	case <-ctx.Done():
		c.stats.abandoned.Add(1)
		return false
	}
}

func (h *Hub) worker(ctx context.Context, c *hubConsumer) {
	for t := range c.inbox {
		if ctx.Err() != nil {
			// The shutdown deadline passed before this message was started.
			c.stats.abandoned.Add(1)
			h.report(c, t, nil, false)
			continue
		}
		h.process(ctx, c, t)
	}
}

func (h *Hub) process(ctx context.Context, c *hubConsumer, t *task) {
	j := t.job
	h.mu.Lock()
	attempt := 1
	if p := h.window.peek(j.id); p != nil {
		p.runs[c.index]++
		attempt = int(p.runs[c.index])
	}
	h.mu.Unlock()

	c.busy.Add(1)
	defer c.busy.Add(-1)
	cctx := ctx
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	d := j.in.Delivery
	d.Message = t.msg
	cctx = ContextWithInfo(cctx, Info{Consumer: c.cfg.Name, Attempt: attempt, Delivery: d})
	start := time.Now()
	err := call(cctx, c.c, t.msg)
	took := time.Since(start)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			j.cut.Store(true) // not processed: the restarted hub must see it again
			err = fmt.Errorf("cancelled at the shutdown deadline: %w", err)
		case errors.Is(cctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out after %s: %w", c.cfg.Timeout, err)
		}
	}
	if h.observe != nil {
		h.observe(c.cfg.Name, took, err)
	}
	args := []any{"consumer", c.cfg.Name, "msg_id", j.id, "topic", j.in.Topic, "attempt", attempt, "took", took.Round(time.Microsecond)}
	if err != nil {
		c.stats.failed.Add(1)
		h.log.Warn("processing failed", append(args, "error", err)...)
	} else {
		c.stats.processed.Add(1)
		h.log.Debug("processed", args...)
	}
	h.report(c, t, err, true)
}

// call runs the hooks and Consume, turning a panic into an error.
func call(ctx context.Context, c Consumer, m *message.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	if pre, ok := c.(PreConsumer); ok {
		err = pre.PreConsume(ctx, m)
	}
	if err == nil {
		err = c.Consume(ctx, m)
	}
	if post, ok := c.(PostConsumer); ok {
		if perr := post.PostConsume(ctx, m, err); err == nil {
			err = perr
		}
	}
	return err
}

// report records c's outcome for t (ran is false when it was never started).
func (h *Hub) report(c *hubConsumer, t *task, err error, ran bool) {
	j := t.job
	if !ran {
		j.cut.Store(true)
	}
	defer h.settle(j)
	if ran && err == nil {
		h.mu.Lock()
		if p := h.window.peek(j.id); p != nil {
			p.done[c.index] = true
		}
		h.mu.Unlock()
	}
	if c.cfg.OnReceipt {
		return
	}
	attempt := 0
	if err != nil {
		h.mu.Lock()
		if p := h.window.peek(j.id); p != nil {
			attempt = int(p.runs[c.index])
		}
		h.mu.Unlock()
	}
	j.mu.Lock()
	switch {
	case !ran:
		j.incomplete = true
	case err != nil:
		j.errs = multierror.Append(j.errs, &ConsumerError{Consumer: c.cfg.Name, Attempt: attempt, Err: err})
	default:
		j.succeeded = append(j.succeeded, c.cfg.Name)
	}
	j.mu.Unlock()
	h.release(j)
}

// release drops one pending outcome of j, and reports j's outcome when it was the last.
func (h *Hub) release(j *job) {
	if j.pending.Add(-1) != 0 {
		return
	}
	j.mu.Lock()
	errs, incomplete := j.errs, j.incomplete
	if errs != nil {
		errs.ErrorFormat = consumersFailed(j.id, j.awaited, slices.Clone(j.succeeded))
	}
	j.mu.Unlock()
	var err error
	switch {
	case errs != nil:
		err = errs
		h.mu.Lock()
		poisoned, failures := false, 0
		if p := h.window.peek(j.id); p != nil {
			p.failures++
			failures = p.failures
			if p.failures >= h.maxAttempts && !p.poison {
				p.poison, poisoned = true, true
			}
		}
		h.mu.Unlock()
		if poisoned {
			h.stats.poison.Add(1)
			h.log.Error("poison message: failed max_attempts times; no longer processed or ACKed",
				"msg_id", j.id, "topic", j.in.Topic, "failures", failures, "max_attempts", h.maxAttempts, "error", err)
			err = fmt.Errorf("%w: %w", ErrPoison, err)
		}
	case incomplete:
		err = ErrNotProcessed
	}
	if err != nil {
		h.stats.incomplete.Add(1)
	} else {
		h.stats.completed.Add(1)
	}
	finish(j.in, err)
}

func finish(in Incoming, err error) {
	if in.Done != nil {
		in.Done(err)
	}
}

// HubStats are a Hub's counters.
type HubStats struct {
	Received   uint64 // valid messages read from the source
	Unmatched  uint64 // matched no consumer's topics: not processed
	Duplicates uint64 // already processed by every matching consumer: reported as a success, not processed again
	Completed  uint64 // deliveries processed by every awaited consumer (an acking hub ACKs them)
	Incomplete uint64 // deliveries with a failure, a drop or a shutdown in the way: not ACKed
	Poison     uint64 // msg_ids given up after max_attempts failures
	Rejected   uint64 // deliveries of poison msg_ids, not processed
	Consumers  []ConsumerStats
}

// ConsumerStats are one consumer's counters and gauges.
type ConsumerStats struct {
	Name       string
	Received   uint64 // messages put in its inbox
	Processed  uint64 // runs that succeeded
	Failed     uint64 // runs that failed (an error, a timeout, a panic, a hook)
	Dropped    uint64 // messages not queued because the inbox was full (DropWhenFull)
	Abandoned  uint64 // messages queued but not started when the hub shut down
	InboxFull  uint64 // messages that found the inbox full (then waited, or were dropped)
	InboxDepth int    // messages waiting now
	InboxCap   int
	Workers    int
	Busy       int // workers processing now
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	consumers := h.consumers
	h.mu.Unlock()
	s := HubStats{
		Received: h.stats.received.Load(), Unmatched: h.stats.unmatched.Load(), Duplicates: h.stats.duplicates.Load(),
		Completed: h.stats.completed.Load(), Incomplete: h.stats.incomplete.Load(), Poison: h.stats.poison.Load(),
		Rejected: h.stats.rejected.Load(),
	}
	for _, c := range consumers {
		s.Consumers = append(s.Consumers, ConsumerStats{
			Name: c.cfg.Name, Received: c.stats.received.Load(), Processed: c.stats.processed.Load(),
			Failed: c.stats.failed.Load(), Dropped: c.stats.dropped.Load(), Abandoned: c.stats.abandoned.Load(),
			InboxFull: c.stats.inboxFull.Load(), InboxDepth: len(c.inbox), InboxCap: cap(c.inbox),
			Workers: c.cfg.Workers, Busy: int(c.busy.Load()),
		})
	}
	return s
}

// progress is what a Hub remembers about one msg_id.
type progress struct {
	id       string
	done     []bool  // by consumer index: processed successfully
	runs     []int32 // by consumer index: times started
	failures int     // deliveries that ended with a failed consumer
	poison   bool
}

// progressWindow remembers the progress of the last n msg_ids, least recently seen evicted
// first: memory is bounded by n entries of a few bytes per consumer. Not safe for concurrent use.
type progressWindow struct {
	n     int
	order *list.List // front = most recent
	byID  map[string]*list.Element
}

func newProgressWindow(n int) *progressWindow {
	return &progressWindow{n: max(n, 1), order: list.New(), byID: make(map[string]*list.Element)}
}

// get returns id's progress, creating it (and evicting the oldest) when absent.
func (w *progressWindow) get(id string, consumers int) *progress {
	if e, ok := w.byID[id]; ok {
		w.order.MoveToFront(e)
		return e.Value.(*progress)
	}
	if w.order.Len() >= w.n {
		old := w.order.Back()
		w.order.Remove(old)
		delete(w.byID, old.Value.(*progress).id)
	}
	p := &progress{id: id, done: make([]bool, consumers), runs: make([]int32, consumers)}
	w.byID[id] = w.order.PushFront(p)
	return p
}

// peek returns id's progress, or nil when it was evicted.
func (w *progressWindow) peek(id string) *progress {
	if e, ok := w.byID[id]; ok {
		return e.Value.(*progress)
	}
	return nil
}
