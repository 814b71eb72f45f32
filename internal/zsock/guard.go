package zsock

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/transport"
)

// recheckInterval is how often a CURVE server socket asks its Keys again about the clients it
// let in: ZAP runs only at the handshake, so this is what turns a revocation (a refreshed CRL)
// into closed connections.
const recheckInterval = time.Second

// guardEvents are the monitor events a curveGuard needs.
const guardEvents = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL

// curveGuard watches the connections of one CURVE server socket. It tracks the descriptors of
// the connections libzmq accepted (monitor events), reports handshakes that failed before ZAP
// (a client without CURVE) to the Keys when they implement transport.HandshakeObserver, and
// every recheckInterval asks the Keys again about each key its ZAP domain let in. When one is
// refused now (its certificate was revoked), every connection of the socket is shut down:
// libzmq cannot tell which connection carries which key, so all peers reconnect and handshake
// again, and the revoked one is refused. The shutdown(2) goes to libzmq's own descriptor, which
// libzmq then sees fail and closes as it would a dropped peer.
type curveGuard struct {
	keys   transport.Keys
	domain string
	h      *zapHandler
	mon    *zmq.Socket // the monitor's reader when the guard owns it (Pub, Rep); nil for Sub

	mu   sync.Mutex
	fds  map[int]bool
	next time.Time
}

// observe records one monitor event.
func (g *curveGuard) observe(ev zmq.Event, addr string, value int) {
	switch {
	case ev&zmq.EVENT_ACCEPTED != 0:
		g.mu.Lock()
		g.fds[value] = true
		g.mu.Unlock()
	case ev&zmq.EVENT_DISCONNECTED != 0:
		g.mu.Lock()
		delete(g.fds, value)
		g.mu.Unlock()
	case ev&(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL|zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0:
		if o, ok := g.keys.(transport.HandshakeObserver); ok {
			o.HandshakeFailed(addr, handshakeFailure(ev, value))
		}
	}
}

func handshakeFailure(ev zmq.Event, value int) string {
	if ev&zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL != 0 {
		// ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: the client does not speak CURVE.
		if value == 0x11000002 {
			return "the client does not use CURVE (mechanism mismatch)"
		}
		return fmt.Sprintf("protocol error 0x%x", value)
	}
	return "handshake failed before authentication (a client without CURVE keys, or one that gave up)"
}

// drain reads the monitor's pending events. It runs where the owner uses the socket.
func (g *curveGuard) drain() {
	for g.mon != nil {
		ev, addr, value, err := g.mon.RecvEvent(zmq.DONTWAIT)
		if err != nil {
			return
		}
		g.observe(ev, addr, value)
	}
}

// recheck asks the Keys again about the keys let in, once per recheckInterval, and shuts every
// connection down when one of them is refused now. It does not touch the zmq socket.
func (g *curveGuard) recheck(now time.Time) {
	g.mu.Lock()
	due := !now.Before(g.next)
	if due {
		g.next = now.Add(recheckInterval)
	}
	g.mu.Unlock()
	if !due {
		return
	}
	revoked := false
	for _, key := range g.h.acceptedKeys(g.domain) {
		if _, err := g.keys.Authenticate(key); err != nil {
			g.h.forget(g.domain, key)
			revoked = true
		}
	}
	if !revoked {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for fd := range g.fds {
		_ = syscall.Shutdown(fd, syscall.SHUT_RDWR)
	}
}

// timeout is how long the owner may wait before the next recheck is due.
func (g *curveGuard) timeout(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(g.next.Sub(now), time.Millisecond)
}

// stop ends the monitor of sock (the guarded socket, about to be closed) and closes its reader.
func (g *curveGuard) stop(sock *zmq.Socket) {
	if g == nil || g.mon == nil {
		return
	}
	_ = sock.Monitor("", 0)
	g.mon.Close()
	g.mon = nil
}

// monitor makes g read sock's monitor itself.
func (g *curveGuard) monitor(zctx *zmq.Context, sock *zmq.Socket) error {
	addr := inprocAddr("guard")
	if err := sock.Monitor(addr, guardEvents); err != nil {
		return fmt.Errorf("zsock: monitor: %w", err)
	}
	mon, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		return fmt.Errorf("zsock: monitor socket: %w", err)
	}
	if err := mon.SetLinger(0); err != nil {
		mon.Close()
		return fmt.Errorf("zsock: linger: %w", err)
	}
	if err := mon.Connect(addr); err != nil {
		mon.Close()
		return fmt.Errorf("zsock: monitor connect: %w", err)
	}
	g.mon = mon
	return nil
}
