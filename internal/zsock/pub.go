package zsock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

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
	// MaxQueueBytes bounds the messages Enqueue may hold before the owner sends them; Enqueue
	// blocks while the queue is over it. 0 means 32 MiB.
	MaxQueueBytes int
}

const defaultMaxQueueBytes = 32 << 20

// Pub owns one XPUB socket. Subscribers see a plain PUB; the X lets Pub see their
// subscriptions. Send and WaitSubscribed are safe for concurrent use.
type Pub struct {
	o    *owner
	addr string
	sent atomic.Uint64

	// The send queue: callers append under qmu, the owner drains it in batches.
	qmu        sync.Mutex
	qspace     *sync.Cond // signalled when the owner drained the queue, or on close
	queue      [][][]byte
	queued     int // bytes in queue
	maxQueued  int
	qscheduled bool // a drain is posted and has not run yet
	qclosed    bool
	sendErrs   atomic.Uint64

	// Owner goroutine only.
	sock    *zmq.Socket
	subs    map[string]int // subscribed prefix -> live subscription count
	waiters []subWaiter
}

type subWaiter struct {
	topic string
	ch    chan struct{}
}

// NewPub creates the socket, binds or connects it, and starts its owner.
func NewPub(zctx *zmq.Context, cfg PubConfig) (*Pub, error) {
	if (len(cfg.Bind) == 0) == (cfg.Connect == "") {
		return nil, errors.New("zsock: PubConfig needs exactly one of Bind and Connect")
	}
	p := &Pub{subs: make(map[string]int), maxQueued: cfg.MaxQueueBytes}
	if p.maxQueued <= 0 {
		p.maxQueued = defaultMaxQueueBytes
	}
	p.qspace = sync.NewCond(&p.qmu)
	ready := make(chan error, 1)
	go p.run(zctx, cfg, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return p, nil
}

// Addr is the address the socket bound or connected to.
func (p *Pub) Addr() string { return p.addr }

// Sent counts the messages handed to libzmq.
func (p *Pub) Sent() uint64 { return p.sent.Load() }

// Send hands one multipart message to libzmq and returns once it has. Like any PUB socket, the
// message is dropped for subscribers that are not connected or whose queue is at the
// high-water mark; use WaitSubscribed to know someone is listening.
func (p *Pub) Send(frames ...[]byte) error {
	return p.o.call(func() error {
		parts := make([]interface{}, len(frames))
		for i, f := range frames {
			parts[i] = f
		}
		if _, err := p.sock.SendMessageDontwait(parts...); err != nil {
			return fmt.Errorf("zsock: send on %s: %w", p.addr, err)
		}
		p.sent.Add(1)
		return nil
	})
}

// Enqueue queues one multipart message for the owner to send and returns without waiting for
// it: the owner sends queued messages in batches, in the order they were queued, and sends what
// is still queued when the Pub is closed. Enqueue blocks while MaxQueueBytes are already queued
// (back-pressure), and fails with ErrClosed after Close. Delivery is as for Send; a send error
// is counted (SendErrors) instead of returned.
func (p *Pub) Enqueue(frames ...[]byte) error {
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	p.qmu.Lock()
	for p.queued > 0 && p.queued+size > p.maxQueued && !p.qclosed {
		p.qspace.Wait()
	}
	if p.qclosed {
		p.qmu.Unlock()
		return ErrClosed
	}
	p.queue = append(p.queue, frames)
	p.queued += size
	schedule := !p.qscheduled
	p.qscheduled = true
	p.qmu.Unlock()
	if schedule {
		if err := p.o.post(p.drain); err != nil {
			return err
		}
	}
	return nil
}

// SendErrors counts queued messages libzmq refused.
func (p *Pub) SendErrors() uint64 { return p.sendErrs.Load() }

// drain sends everything queued. It runs on the owner.
func (p *Pub) drain() {
	p.qmu.Lock()
	batch := p.queue
	p.queue, p.queued, p.qscheduled = nil, 0, false
	p.qspace.Broadcast()
	p.qmu.Unlock()
	for _, frames := range batch {
		parts := make([]interface{}, len(frames))
		for i, f := range frames {
			parts[i] = f
		}
		if _, err := p.sock.SendMessageDontwait(parts...); err != nil {
			p.sendErrs.Add(1)
			continue
		}
		p.sent.Add(1)
	}
}

// WaitSubscribed returns nil once some connected subscriber's subscription matches topic, or
// ctx's error. Subscriptions reach a PUB asynchronously after a subscriber connects; a message
// sent before that is silently dropped for that subscriber.
func (p *Pub) WaitSubscribed(ctx context.Context, topic string) error {
	ch := make(chan struct{})
	if err := p.o.post(func() {
		if p.subscribedLocked(topic) {
			close(ch)
			return
		}
		p.waiters = append(p.waiters, subWaiter{topic: topic, ch: ch})
	}); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		_ = p.o.post(func() { p.waiters = removeWaiter(p.waiters, ch) })
		return ctx.Err()
	case <-p.o.done:
		return ErrClosed
	}
}

// Subscriptions returns the live subscription count per prefix (for diagnostics).
func (p *Pub) Subscriptions() map[string]int {
	out := make(map[string]int)
	_ = p.o.call(func() error {
		for k, v := range p.subs {
			out[k] = v
		}
		return nil
	})
	return out
}

// Close sends what is queued, stops the owner and closes the socket. Unsent messages are
// flushed according to the linger option when the context is terminated.
func (p *Pub) Close() error {
	p.qmu.Lock()
	p.qclosed = true
	p.qspace.Broadcast()
	p.qmu.Unlock()
	p.o.shutdown()
	return nil
}

func (p *Pub) subscribedLocked(topic string) bool {
	for prefix, n := range p.subs {
		if n > 0 && strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}

func (p *Pub) run(zctx *zmq.Context, cfg PubConfig, ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	o, err := newOwner(zctx)
	if err != nil {
		ready <- err
		return
	}
	p.o = o
	defer close(o.done)
	defer o.stop()

	sock, err := p.open(zctx, cfg)
	if err != nil {
		ready <- err
		return
	}
	p.sock = sock
	defer sock.Close()
	defer p.drain() // what was queued before Close still goes out

	poller := zmq.NewPoller()
	poller.Add(o.r, zmq.POLLIN)
	poller.Add(sock, zmq.POLLIN)
	ready <- nil

	for !o.closing() {
		polled, err := poller.Poll(-1)
		if err != nil {
			return // ETERM: the context is being torn down under us
		}
		for _, pl := range polled {
			switch pl.Socket {
			case o.r:
				o.drain()
			case sock:
				p.readSubscriptions()
			}
		}
	}
}

func (p *Pub) open(zctx *zmq.Context, cfg PubConfig) (*zmq.Socket, error) {
	sock, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		return nil, fmt.Errorf("zsock: new XPUB: %w", err)
	}
	if err := cfg.Options.apply(sock); err != nil {
		sock.Close()
		return nil, err
	}
	// Verbose: report every subscriber's subscription, not only the first for each prefix.
	if err := sock.SetXpubVerbose(1); err != nil {
		sock.Close()
		return nil, fmt.Errorf("zsock: xpub verbose: %w", err)
	}
	if cfg.Connect != "" {
		if err := sock.Connect(cfg.Connect); err != nil {
			sock.Close()
			return nil, fmt.Errorf("zsock: connect %s: %w", cfg.Connect, err)
		}
		p.addr = cfg.Connect
		return sock, nil
	}
	var errs []string
	for _, addr := range cfg.Bind {
		if err := sock.Bind(addr); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
			continue
		}
		p.addr = addr
		if last, err := sock.GetLastEndpoint(); err == nil && last != "" {
			p.addr = last
		}
		return sock, nil
	}
	sock.Close()
	return nil, fmt.Errorf("zsock: no address could be bound (%s)", strings.Join(errs, "; "))
}

// readSubscriptions drains subscription messages: a first byte of 1 subscribes, 0 unsubscribes.
func (p *Pub) readSubscriptions() {
	for {
		msg, err := p.sock.RecvBytes(zmq.DONTWAIT)
		if err != nil {
			break
		}
		if len(msg) == 0 {
			continue
		}
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
