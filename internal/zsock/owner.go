package zsock

import (
	"fmt"
	"sync"
	"syscall"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/message"
)

// ErrClosed is returned by calls on a Pub or Sub that is closed or closing. It wraps
// message.ErrClosed, the module's one root of "closed" errors.
var ErrClosed = fmt.Errorf("zsock: %w", message.ErrClosed)

// owner is the mailbox of one owner goroutine: other goroutines post closures, the owner runs
// them. The owner polls the read end of an inproc PAIR next to its own sockets; a post writes one
// byte to the write end only when the owner has not already been signalled, so a burst of posts
// costs one wake-up.
type owner struct {
	mu       sync.Mutex
	w        *zmq.Socket // write end; used only under mu
	pending  []func()
	signaled bool
	stopped  bool

	r    *zmq.Socket   // read end; owner goroutine only
	quit chan struct{} // closed when Close begins; lets a blocked owner give up at once
	done chan struct{} // closed when the owner goroutine has exited
	once sync.Once
}

// newOwner creates the wake-up pair. It runs on the owner goroutine.
func newOwner(zctx *zmq.Context) (*owner, error) {
	addr := inprocAddr("wake")
	r, err := pairEnd(zctx, addr, true)
	if err != nil {
		return nil, err
	}
	w, err := pairEnd(zctx, addr, false)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &owner{w: w, r: r, quit: make(chan struct{}), done: make(chan struct{})}, nil
}

// pairEnd opens one end of an inproc PAIR: bound (the reader) or connected (the writer).
func pairEnd(zctx *zmq.Context, addr string, bind bool) (*zmq.Socket, error) {
	s, err := zctx.NewSocket(zmq.PAIR)
	if err != nil {
		return nil, fmt.Errorf("zsock: wake socket: %w", err)
	}
	err = s.SetLinger(0)
	if err == nil && bind {
		err = s.Bind(addr)
	} else if err == nil {
		err = s.Connect(addr)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("zsock: wake pair %s: %w", addr, err)
	}
	return s, nil
}

// post queues fn to run on the owner goroutine.
func (o *owner) post(fn func()) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return ErrClosed
	}
	o.pending = append(o.pending, fn)
	if !o.signaled {
		o.signaled = true
		if _, err := o.w.SendBytes([]byte{0}, zmq.DONTWAIT); err != nil {
			// An inproc PAIR with an idle reader only refuses when its queue is full of
			// wake-ups, in which case the owner is due to wake anyway.
			if zmq.AsErrno(err) != zmq.Errno(syscall.EAGAIN) {
				return fmt.Errorf("zsock: wake: %w", err)
			}
		}
	}
	return nil
}

// call runs fn on the owner goroutine and waits for its result.
func (o *owner) call(fn func() error) error {
	res := make(chan error, 1)
	if err := o.post(func() { res <- fn() }); err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-o.done:
		// The owner may have run fn just before exiting.
		select {
		case err := <-res:
			return err
		default:
			return ErrClosed
		}
	}
}

// drain runs on the owner: it consumes wake bytes and runs what was posted.
func (o *owner) drain() {
	for {
		if _, err := o.r.RecvBytes(zmq.DONTWAIT); err != nil {
			break
		}
	}
	o.mu.Lock()
	fns := o.pending
	o.pending = nil
	o.signaled = false
	o.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// stop runs on the owner as it exits: later posts fail with ErrClosed, pending ones are dropped
// (their callers are released by done), and the pair is closed.
func (o *owner) stop() {
	o.mu.Lock()
	o.stopped = true
	o.pending = nil
	o.w.Close()
	o.mu.Unlock()
	o.r.Close()
}

// closing reports whether Close has begun.
func (o *owner) closing() bool {
	select {
	case <-o.quit:
		return true
	default:
		return false
	}
}

// shutdown asks the owner to exit and waits for it.
func (o *owner) shutdown() {
	o.once.Do(func() {
		close(o.quit)
		_ = o.post(func() {}) // wake the poller; ErrClosed means it already exited
	})
	<-o.done
}
