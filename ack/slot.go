package ack

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// slot is one of the ack_max_in_flight places a message holds from acquire until it is
// finished. release gives it back once, however often it is called: a failed publish releases
// it whether or not its waiter was registered (and finished, which released it already).
type slot struct {
	free chan struct{} // the Publisher's slots; a token in it is a slot held
	held atomic.Bool
}

// release gives the slot back, the first time it is called.
func (s *slot) release() {
	if s.held.CompareAndSwap(true, false) {
		<-s.free
	}
}

// taken returns the slot for the token just put into p.slots.
func (p *Publisher) taken() *slot {
	s := &slot{free: p.slots}
	s.held.Store(true)
	return s
}

// acquire takes a slot, waiting for one until deadline.
func (p *Publisher) acquire(ctx context.Context, deadline time.Time) (*slot, error) {
	select {
	case p.slots <- struct{}{}:
		return p.taken(), nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return p.taken(), nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d messages already wait for ACKs (ack_max_in_flight)", ErrInFlightFull, cap(p.slots))
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrInFlightFull, ctx.Err())
	case <-p.quit:
		return nil, ErrClosed
	}
}
