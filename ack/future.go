package ack

import (
	"context"
	"errors"
	"slices"

	"github.com/ackmsg/ackmsg/message"
)

// Future is the result of PublishAsync.
type Future struct {
	w *waiter
}

// Finished is closed when every recipient has ACKed, or the publish failed.
func (f *Future) Finished() <-chan struct{} { return f.w.done }

// Done is Finished.
//
// Deprecated: use Finished. In this package Done(err) reports an outcome (Delivery.Done, as
// consumer.Incoming.Done); Future.Done goes in the next release.
func (f *Future) Done() <-chan struct{} { return f.w.done }

// Err returns nil once every recipient ACKed, the failure (a *TimeoutError, ErrClosed) once
// Finished is closed, and ErrPending before.
func (f *Future) Err() error {
	select {
	case <-f.w.done:
		return f.w.err
	default:
		return ErrPending
	}
}

// Wait waits for Finished or ctx and returns Err.
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

// Acked lists the recipients whose ACK counted, in arrival order. Read it after Finished.
func (f *Future) Acked() []string {
	<-f.w.done
	return slices.Clone(f.w.acked)
}

// Attempts is how many times the message was sent, the first included. Read it after Finished.
func (f *Future) Attempts() int {
	<-f.w.done
	return f.w.attempts
}

// ErrPending is returned by Future.Err before the publish finished.
var ErrPending = errors.New("ack: still waiting for ACKs")

// finished is a Future that is already done, with no ACK to wait for.
func finished(m *message.Message) *Future {
	w := &waiter{msg: m, done: make(chan struct{}), index: -1, attempts: 1}
	close(w.done)
	return &Future{w: w}
}
