package zsock

import (
	"context"
	"fmt"

	zmq "github.com/pebbe/zmq4"
)

// EventKind says what happened to a Sub's connection.
type EventKind int

// Connection events reported through SubConfig.OnEvent.
const (
	Connected    EventKind = iota + 1 // ZMTP handshake completed; subscriptions are on their way
	Disconnected                      // the connection dropped; libzmq reconnects by itself
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a connection change on one endpoint.
type Event struct {
	Kind     EventKind
	Endpoint Endpoint
}

type readyWaiter struct {
	ch      chan struct{}
	settled bool // wait for settled (every endpoint connected or refused) instead of connected
}

// WaitConnected returns nil once every endpoint has completed its handshake, or ctx's error.
// After a handshake the subscription travels to the publisher ahead of anything the
// subscriber sends, but the publisher applies it asynchronously: a caller that must not lose
// the first message still needs an acknowledgement or a retransmission.
func (s *Sub) WaitConnected(ctx context.Context) error { return s.wait(ctx, false) }

// WaitSettled returns nil once every endpoint has either completed a handshake or had a
// connection attempt fail (nothing listening there yet), or ctx's error. It is how a listener
// knows it has done what it can before relying on the endpoints that are up.
func (s *Sub) WaitSettled(ctx context.Context) error { return s.wait(ctx, true) }

func (s *Sub) wait(ctx context.Context, settled bool) error {
	ch := make(chan struct{})
	if err := s.o.post(func() {
		if s.ready(settled) {
			close(ch)
			return
		}
		s.waiters = append(s.waiters, readyWaiter{ch: ch, settled: settled})
	}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		_ = s.o.post(func() {
			for i, w := range s.waiters {
				if w.ch == ch {
					s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
					break
				}
			}
		})
		return ctx.Err()
	case <-s.o.done:
		return ErrClosed
	}
}

// ConnectedEndpoints returns the endpoints whose connection is currently up.
func (s *Sub) ConnectedEndpoints() []Endpoint {
	var out []Endpoint
	_ = s.o.call(func() error {
		for i, ok := range s.connected {
			if ok {
				out = append(out, s.eps[i])
			}
		}
		return nil
	})
	return out
}

func (s *Sub) ready(settled bool) bool {
	for i, ok := range s.connected {
		if !ok && !(settled && s.tried[i]) {
			return false
		}
	}
	return true
}

func (s *Sub) readEvents(i int) {
	for {
		ev, addr, value, err := s.mons[i].RecvEvent(zmq.DONTWAIT)
		if err != nil {
			break
		}
		if g := s.guards[i]; g != nil {
			g.observe(ev, addr, value)
		}
		var kind EventKind
		switch {
		case ev&zmq.EVENT_HANDSHAKE_SUCCEEDED != 0:
			kind = Connected
			s.connected[i] = true
		case ev&zmq.EVENT_DISCONNECTED != 0:
			kind = Disconnected
			s.connected[i] = false
		case ev&zmq.EVENT_CONNECT_RETRIED != 0:
			s.tried[i] = true
			s.wakeWaiters()
			continue
		default:
			continue
		}
		s.tried[i] = true
		if s.onEvent != nil {
			s.onEvent(Event{Kind: kind, Endpoint: s.eps[i]})
		}
	}
	s.wakeWaiters()
}

func (s *Sub) wakeWaiters() {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if s.ready(w.settled) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	s.waiters = kept
}
