package ack

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

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
	s, err := p.acquire(ctx, deadline)
	if err != nil {
		return nil, err
	}
	fut, err := p.send(ctx, s, recipients, start, deadline, onAck, number, build)
	if err != nil {
		// A no-op when registerAndSend failed after registering the waiter: finishing it released
		// the slot (Sequence returns send's error as it is).
		s.release()
		return nil, err
	}
	return fut, nil
}

// send waits for the ACK listener, then builds the message and registers and sends it, holding
// s: numbered through the publisher's history when number is set and it keeps one.
func (p *Publisher) send(ctx context.Context, s *slot, recipients []string, start, deadline time.Time, onAck func(string),
	number bool, build func(extra ...publisher.PublishOption) (*message.Message, []byte, error)) (*Future, error) {
	// An endpoint behind a partition neither connects nor refuses, and waiting cannot prove
	// anything about it: give the listener at most half the budget, so that the message is still
	// sent and a missing recipient ends as a *TimeoutError naming it.
	readyBy := start.Add(min(listenerReadyCap, deadline.Sub(start)/2))
	if err := p.awaitListener(ctx, readyBy); err != nil {
		return nil, err
	}
	if !number || !p.pub.Numbered() {
		m, frame, err := build()
		if err != nil {
			return nil, err
		}
		return p.registerAndSend(ctx, m, frame, recipients, start, deadline, onAck, s)
	}
	var fut *Future
	_, err := p.pub.Sequence(ctx, func(extra publisher.PublishOption) (*message.Message, []byte, error) {
		return build(extra)
	}, func(m *message.Message, frame []byte) (err error) {
		fut, err = p.registerAndSend(ctx, m, frame, recipients, start, deadline, onAck, s)
		return err
	})
	return fut, err
}

// registerAndSend registers the waiter of an acked message, then sends it (register before
// send). The waiter holds s from then on: finishing it, on a failed send too, releases s.
func (p *Publisher) registerAndSend(ctx context.Context, m *message.Message, frame []byte, recipients []string,
	start, deadline time.Time, onAck func(string), s *slot) (*Future, error) {
	var err error
	w := &waiter{msg: m, frame: frame, missing: make(map[string]struct{}, len(recipients)),
		start: start, deadline: deadline, attempts: 1, done: make(chan struct{}), onAck: onAck, slot: s}
	for _, r := range recipients {
		w.missing[r] = struct{}{}
	}

	// Register before send: an ACK can never arrive for a message nobody waits for.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	w.rto = p.est.rto() + sizeAllowance(len(frame))
	w.queued = p.est.queueDelay(len(p.waiters))
	w.next = start.Add(w.rto + w.queued)
	if _, dup := p.waiters[m.MsgID()]; dup {
		p.mu.Unlock()
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
	w.slot.release()
}

func (p *Publisher) nudge() {
	select {
	case p.kick <- struct{}{}:
	default:
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
