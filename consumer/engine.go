package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/ackmsg/ackmsg/message"
)

// The hub engine: dispatch reads the Source, route turns each message into a job with a task per
// consumer still to process it, workers run the tasks, and report/release/settle gather the
// outcomes into the one Done of the message and the point where the source may record it.

// dispatch routes the source's messages until ctx ends (nil) or the source fails.
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

// task is one consumer's share of a job.
type task struct {
	job *job
	msg *message.Message
}

// route hands in to the consumers whose patterns match its topic and that have not processed
// its msg_id yet, or reports at once why none will.
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
	h.fanOut(ctx, j, todo)
	h.release(j)
	h.settle(j)
}

// fanOut queues j to each consumer of todo, each with its own copy of the message. A consumer
// that does not get it is settled at once, and its outcome marks j incomplete.
func (h *Hub) fanOut(ctx context.Context, j *job, todo []*hubConsumer) {
	msgs := make([]*message.Message, len(todo))
	for i := range todo {
		// Each consumer may keep and annotate its own copy, while the source still reads the
		// original.
		msgs[i] = j.in.Message.Clone()
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
