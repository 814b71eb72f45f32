package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/ratelog"
)

// Hub runs consumers: it reads valid messages from one subscription covering every consumer's
// topics, routes each to the consumers whose patterns match it exactly, and runs each consumer's
// bounded inbox with its workers. See the package documentation for the guarantees.
type Hub struct {
	cfg HubConfig
	hubOptions

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

// NewHub returns a Hub for cfg: its attempts, shutdown timeout and msg_id memory, and, unless
// WithSource is given, its Subscriber's Config (a verifier comes in through
// WithSubscriberOptions(WithVerifier(v))). It opens nothing: Run opens the source. Add
// consumers, then Run it.
func NewHub(cfg HubConfig, opts ...HubOption) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, maxAttempts: cfg.MaxAttempts, shutdown: cfg.ShutdownTimeout,
		window: newProgressWindow(cfg.DedupeWindow), readyCh: make(chan struct{})}
	for _, o := range opts {
		o(&h.hubOptions)
	}
	h.log = cmp.Or(h.log, slog.Default())
	h.limit = ratelog.New(h.log, 5*time.Second)
	if h.open == nil {
		h.open = func(_ context.Context, spec SourceSpec) (Source, error) {
			s, err := NewSubscriber(cfg.Subscriber, "", append([]Option{WithLogger(spec.Logger), WithPrefixes(spec.Prefixes...)}, spec.Options...)...)
			if err != nil {
				return nil, err
			}
			return plainSource{s}, nil
		}
	}
	return h, nil
}

// hubConsumer is a Consumer with its configuration, inbox and counters.
type hubConsumer struct {
	index    int
	c        Consumer
	cfg      ConsumerConfig
	patterns []message.TopicPattern
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
		p, err := message.ParseTopicPattern(t)
		if err != nil {
			return fmt.Errorf("consumer: hub consumer %q: invalid value: %w", cc.Name, err)
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
