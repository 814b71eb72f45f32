package zsock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// RepConfig describes a REP server socket.
type RepConfig struct {
	// Bind is the address to bind (tcp://*:port or a concrete address).
	Bind string
	// Options apply to the socket.
	Options Options
	// Handle answers one request (its frames) with the reply frames (at least one). It runs on
	// the server's goroutine, one request at a time.
	Handle func(request [][]byte) [][]byte
}

// Rep serves a REP socket on a goroutine of its own, the only one that touches the socket.
type Rep struct {
	o    *owner
	addr string
}

// NewRep binds the socket and starts serving.
func NewRep(zctx *zmq.Context, cfg RepConfig) (*Rep, error) {
	if cfg.Handle == nil {
		return nil, errors.New("zsock: rep without a handler")
	}
	r := &Rep{}
	ready := make(chan error, 1)
	go r.run(zctx, cfg, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return r, nil
}

// Addr is the bound address (the port resolved when it was 0 or *).
func (r *Rep) Addr() string { return r.addr }

// Close stops serving and closes the socket. A request being handled is answered first.
func (r *Rep) Close() error {
	r.o.shutdown()
	return nil
}

func (r *Rep) run(zctx *zmq.Context, cfg RepConfig, ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o, err := newOwner(zctx)
	if err != nil {
		ready <- err
		return
	}
	r.o = o
	defer close(o.done)
	defer o.stop()
	sock, err := zctx.NewSocket(zmq.REP)
	if err != nil {
		ready <- fmt.Errorf("zsock: rep socket: %w", err)
		return
	}
	defer sock.Close()
	if err := apply(cfg.Options, sock); err != nil {
		ready <- err
		return
	}
	guard, err := secureServer(zctx, cfg.Options, sock, true)
	if err != nil {
		ready <- err
		return
	}
	defer guard.stop(sock) // before sock.Close, deferred earlier
	if err := sock.Bind(cfg.Bind); err != nil {
		ready <- &EndpointError{Addr: cfg.Bind, Op: "bind", Err: err}
		return
	}
	r.addr = cfg.Bind
	if a, err := sock.GetLastEndpoint(); err == nil {
		r.addr = a
	}
	poller := zmq.NewPoller()
	poller.Add(o.r, zmq.POLLIN)
	poller.Add(sock, zmq.POLLIN)
	timeout := time.Duration(-1)
	if guard != nil {
		poller.Add(guard.mon, zmq.POLLIN)
	}
	ready <- nil
	for !o.closing() {
		if guard != nil {
			now := time.Now()
			guard.recheck(now)
			timeout = guard.timeout(now)
		}
		polled, err := poller.Poll(timeout)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
				continue
			}
			return
		}
		for _, pl := range polled {
			if pl.Socket == o.r {
				o.drain()
				continue
			}
			if guard != nil && pl.Socket == guard.mon {
				guard.drain()
				continue
			}
			serve(o, sock, cfg.Handle)
		}
	}
}

// serve answers the requests that have arrived, until none is left or the Rep closes.
func serve(o *owner, sock *zmq.Socket, handle func([][]byte) [][]byte) {
	for !o.closing() {
		req, err := sock.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		reply := handle(req)
		if len(reply) == 0 {
			reply = [][]byte{{}}
		}
		parts := make([]any, len(reply))
		for i, f := range reply {
			parts[i] = f
		}
		// A REP socket whose peer went away drops the reply; nothing to do about it.
		_, _ = sock.SendMessageDontwait(parts...)
	}
}

// ErrTimeout is Request's error when no reply came in time.
var ErrTimeout = errors.New("zsock: request timed out")

// Request sends one request frame to a REP socket at addr on a REQ socket of its own (opened,
// used and closed by the calling goroutine) and returns the reply frames. It waits until ctx
// ends or timeout passes, whichever is first; without a reply it returns ErrTimeout (or ctx's
// error).
func Request(ctx context.Context, zctx *zmq.Context, addr string, opts Options, request []byte, timeout time.Duration) ([][]byte, error) {
	sock, err := zctx.NewSocket(zmq.REQ)
	if err != nil {
		return nil, fmt.Errorf("zsock: req socket: %w", err)
	}
	defer sock.Close()
	opts.Linger = 0 // an unanswered request must not hold the context's Term
	if err := apply(opts, sock); err != nil {
		return nil, err
	}
	if err := secureClient(opts, sock, addr); err != nil {
		return nil, err
	}
	if err := sock.Connect(addr); err != nil {
		return nil, &EndpointError{Addr: addr, Op: "connect", Err: err}
	}
	if _, err := sock.SendBytes(request, zmq.DONTWAIT); err != nil {
		// A REQ socket queues the request until the peer connects; EAGAIN only when the
		// connection cannot even be queued.
		return nil, fmt.Errorf("zsock: request to %s: %w", addr, err)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: %s did not answer within %s", ErrTimeout, addr, timeout)
		}
		// Poll in slices so a cancelled ctx is noticed; the slice bounds only that latency.
		polled, err := poller.Poll(min(left, requestPollSlice))
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
				continue
			}
			return nil, fmt.Errorf("zsock: poll: %w", err)
		}
		if len(polled) > 0 {
			reply, err := sock.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				return nil, fmt.Errorf("zsock: reply from %s: %w", addr, err)
			}
			return reply, nil
		}
	}
}

const requestPollSlice = 50 * time.Millisecond
