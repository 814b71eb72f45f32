package zsock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// PubConfig says where a Pub sends from.
type PubConfig struct {
	// Bind lists candidate addresses; the first one that binds wins (fedmsg's passive mode).
	Bind []string
	// Connect is the address to connect to instead (active mode, e.g. a relay). Exactly one of
	// Bind and Connect must be set.
	Connect string
	Options Options
}

// Pub owns one XPUB socket. Subscribers see a plain PUB; the X lets Pub see their
// subscriptions. Every method is safe for concurrent use.
//
// Senders use the socket directly, one at a time under a mutex, from their own goroutine: a send
// costs one libzmq call and no goroutine hand-off. Subscriptions are read under the same mutex by
// whoever needs them (WaitSubscribed, Subscriptions) and by a watcher goroutine that waits on Go's
// poller (fdWait) for the socket's ZMQ_FD, which libzmq signals when commands (such as a new
// subscriber's pipe) reach the socket. The watcher never touches the socket outside the mutex.
type Pub struct {
	addr     string
	sent     atomic.Uint64
	sendErrs atomic.Uint64

	mu      sync.Mutex // guards everything below, and every use of sock
	sock    *zmq.Socket
	closed  bool
	subs    map[string]int // subscribed prefix -> live subscription count
	waiters []subWaiter

	wait  *fdWait       // the watcher's: the XPUB's ZMQ_FD, and wake-ups (a new waiter, or Close)
	done  chan struct{} // closed when the watcher has exited
	guard *curveGuard   // a bound CURVE socket's; its monitor is read under mu; nil otherwise
}

type subWaiter struct {
	topic string
	ch    chan struct{}
}

// Watcher poll intervals: libzmq's ZMQ_FD is edge-triggered and a sender may consume the edge
// that announced a subscription, so the watcher re-reads on a short interval while somebody
// waits for a subscription, and on a long one otherwise (to keep libzmq's queue of
// subscription messages short).
const (
	watchWaiting = 2 * time.Millisecond
	watchIdle    = 500 * time.Millisecond
)

// NewPub creates the socket, binds or connects it, and starts its watcher.
func NewPub(zctx *zmq.Context, cfg PubConfig) (*Pub, error) {
	if (len(cfg.Bind) == 0) == (cfg.Connect == "") {
		return nil, errors.New("zsock: PubConfig needs exactly one of Bind and Connect")
	}
	p := &Pub{subs: make(map[string]int), done: make(chan struct{})}
	sock, err := p.open(zctx, cfg)
	if err != nil {
		return nil, err
	}
	fd, err := sock.GetFd()
	if err != nil {
		p.guard.stop(sock)
		sock.Close()
		return nil, fmt.Errorf("zsock: ZMQ_FD: %w", err)
	}
	fds := []int{fd}
	if p.guard != nil && p.guard.mon != nil {
		mfd, err := p.guard.mon.GetFd()
		if err != nil {
			p.guard.stop(sock)
			sock.Close()
			return nil, fmt.Errorf("zsock: monitor ZMQ_FD: %w", err)
		}
		fds = append(fds, mfd)
	}
	w, err := newFDWait(fds...)
	if err != nil {
		p.guard.stop(sock)
		sock.Close()
		return nil, err
	}
	p.sock, p.wait = sock, w
	go p.watch()
	return p, nil
}

// Addr is the address the socket bound or connected to.
func (p *Pub) Addr() string { return p.addr }

// Sent counts the messages handed to libzmq.
func (p *Pub) Sent() uint64 { return p.sent.Load() }

// SendErrors counts messages libzmq refused.
func (p *Pub) SendErrors() uint64 { return p.sendErrs.Load() }

// Send hands one multipart message to libzmq and returns once it has; it never blocks on the
// network. Like any PUB socket, the message is dropped for subscribers that are not connected or
// whose queue is at the high-water mark; use WaitSubscribed to know someone is listening. After
// Close it fails with ErrClosed; a refusal by libzmq is counted (SendErrors) and returned.
func (p *Pub) Send(frames ...[]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for i, f := range frames {
		flags := zmq.DONTWAIT
		if i < len(frames)-1 {
			flags |= zmq.SNDMORE
		}
		if _, err := p.sock.SendBytes(f, flags); err != nil {
			// A PUB never refuses the later frames of a message whose first frame it took.
			p.sendErrs.Add(1)
			return fmt.Errorf("zsock: send on %s: %w", p.addr, err)
		}
	}
	p.sent.Add(1)
	return nil
}

// WaitSubscribed returns nil once some connected subscriber's subscription matches topic, or
// ctx's error. Subscriptions reach a PUB asynchronously after a subscriber connects; a message
// sent before that is silently dropped for that subscriber.
func (p *Pub) WaitSubscribed(ctx context.Context, topic string) error {
	ch := make(chan struct{})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.readSubscriptionsLocked()
	if p.subscribedLocked(topic) {
		p.mu.Unlock()
		return nil
	}
	p.waiters = append(p.waiters, subWaiter{topic: topic, ch: ch})
	p.wait.Wake() // the watcher shortens its interval while someone waits
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		p.waiters = removeWaiter(p.waiters, ch)
		p.mu.Unlock()
		return ctx.Err()
	case <-p.done:
		return ErrClosed
	}
}

// Subscriptions returns the live subscription count per prefix (for diagnostics).
func (p *Pub) Subscriptions() map[string]int {
	out := make(map[string]int)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.readSubscriptionsLocked()
	}
	for k, v := range p.subs {
		out[k] = v
	}
	return out
}

// Close stops the watcher and closes the socket. Messages already sent are flushed according to
// the linger option when the context is terminated. It is safe to call more than once.
func (p *Pub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.wait.Wake()
	p.mu.Unlock()
	<-p.done
	p.mu.Lock()
	p.guard.stop(p.sock)
	p.sock.Close()
	p.wait.Close() // under mu: WaitSubscribed wakes the watcher only while not closed
	p.mu.Unlock()
	return nil
}

// watch reads subscriptions whenever libzmq signals the socket, until Close.
func (p *Pub) watch() {
	defer close(p.done)
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.readSubscriptionsLocked()
		interval := watchIdle
		if len(p.waiters) > 0 {
			interval = watchWaiting
		}
		if p.guard != nil {
			p.guard.drain()
		}
		p.mu.Unlock()
		if p.guard != nil {
			now := time.Now()
			p.guard.recheck(now)
			interval = min(interval, p.guard.timeout(now))
		}
		if err := p.wait.Wait(interval, nil); err != nil && !errors.Is(err, errWaitTimeout) {
			// Not expected from epoll; the interval still bounds how stale subscriptions get.
			time.Sleep(interval)
		}
	}
}

func (p *Pub) subscribedLocked(topic string) bool {
	for prefix, n := range p.subs {
		if n > 0 && strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}

func (p *Pub) open(zctx *zmq.Context, cfg PubConfig) (*zmq.Socket, error) {
	sock, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		return nil, fmt.Errorf("zsock: new XPUB: %w", err)
	}
	if err := apply(cfg.Options, sock); err != nil {
		sock.Close()
		return nil, err
	}
	// Verbose: report every subscriber's subscription, not only the first for each prefix.
	if err := sock.SetXpubVerbose(1); err != nil {
		sock.Close()
		return nil, fmt.Errorf("zsock: xpub verbose: %w", err)
	}
	if cfg.Connect != "" {
		err = secureClient(cfg.Options, sock, cfg.Connect)
	} else {
		p.guard, err = secureServer(zctx, cfg.Options, sock, true)
	}
	if err != nil {
		sock.Close()
		return nil, err
	}
	if cfg.Connect != "" {
		if err := sock.Connect(cfg.Connect); err != nil {
			sock.Close()
			return nil, fmt.Errorf("zsock: connect %s: %w", cfg.Connect, err)
		}
		p.addr = cfg.Connect
		return sock, nil
	}
	// The candidates are tried in turn (fedmsg's passive mode); only when none binds is it an
	// error, with every candidate's reason.
	errs := endpointErrors{what: "no address could be bound", total: len(cfg.Bind)}
	for _, addr := range cfg.Bind {
		if err := sock.Bind(addr); err != nil {
			errs.add(&EndpointError{Op: "bind", Addr: addr, Err: err})
			continue
		}
		p.addr = addr
		if last, err := sock.GetLastEndpoint(); err == nil && last != "" {
			p.addr = last
		}
		return sock, nil
	}
	p.guard.stop(sock)
	sock.Close()
	return nil, errs.err()
}

// readSubscriptionsLocked drains subscription messages (a first byte of 1 subscribes, 0
// unsubscribes) and releases the waiters they satisfy. The non-blocking reads also make libzmq
// process the socket's pending commands, which re-arms ZMQ_FD.
func (p *Pub) readSubscriptionsLocked() {
	changed := false
	for {
		msg, err := p.sock.RecvBytes(zmq.DONTWAIT)
		if err != nil {
			break
		}
		if len(msg) == 0 {
			continue
		}
		changed = true
		prefix := string(msg[1:])
		switch msg[0] {
		case 1:
			p.subs[prefix]++
		case 0:
			if p.subs[prefix]--; p.subs[prefix] <= 0 {
				delete(p.subs, prefix)
			}
		}
	}
	if !changed || len(p.waiters) == 0 {
		return
	}
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if p.subscribedLocked(w.topic) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	p.waiters = kept
}

func removeWaiter(ws []subWaiter, ch chan struct{}) []subWaiter {
	for i, w := range ws {
		if w.ch == ch {
			return append(ws[:i], ws[i+1:]...)
		}
	}
	return ws
}
