package zsock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Endpoint is one address a Sub connects to, with the name it has in the configuration.
type Endpoint struct {
	Name string
	Addr string
}

// Inbound is one multipart message and the endpoint it arrived from.
type Inbound struct {
	Endpoint Endpoint
	Frames   [][]byte
	// UserID is the sender's identity as the ZAP handler established it at the handshake (the
	// message property "User-Id"): set only with SubConfig.UserID on a CURVE socket.
	UserID string
}

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

// SubConfig says what a Sub connects and subscribes to.
type SubConfig struct {
	Endpoints []Endpoint
	// Bind makes each socket bind its endpoint's address instead of connecting to it (the relay's
	// inbound side); peers then connect to it. Connected/Disconnected events report peers.
	Bind bool
	// Prefixes are the byte-prefix subscriptions set on every socket; empty means everything.
	Prefixes []string
	Options  Options
	// OnEvent, if set, is called on the owner goroutine for every connection change. It must
	// not block.
	OnEvent func(Event)
	// UserID makes Recv fill Inbound.UserID (one more libzmq call per message).
	UserID bool
}

// Sub owns one SUB socket per endpoint (so every message carries the endpoint it came from) and a
// monitor per socket.
//
// Messages are read by the goroutine that calls Recv, straight from libzmq, and it waits for them
// itself on Go's poller (fdWait), so a message costs no goroutine hand-off and a waiting reader
// holds no thread. Recv callers take turns on a mutex,
// which is also what makes the sockets safe to use from whichever thread the caller runs on. The
// monitors are served by an owner goroutine, which tracks connection state (WaitConnected,
// WaitSettled, ConnectedEndpoints, OnEvent) whether or not anyone is reading. While nobody
// reads, messages wait in libzmq up to the high-water mark.
type Sub struct {
	o        *owner
	eps      []Endpoint // fixed after NewSub
	received atomic.Uint64
	closed   atomic.Bool
	once     sync.Once

	// The reader side: the data sockets, used by one Recv caller at a time.
	rmu   sync.Mutex
	socks []*zmq.Socket
	// readable is false for a socket that returned EAGAIN and whose ZMQ_FD has not signalled
	// since: it cannot have a message, so nobody asks it (each attempt on an empty socket is a
	// poll(2) in libzmq, and a Sub has one socket per endpoint).
	readable   []bool
	mark       func(i int) // sets readable[i]; given to rwait
	cur        int         // the socket being read
	burst      int         // messages read from it in a row
	terminated bool        // a socket reported ETERM: nothing will ever arrive
	retry      bool        // a socket failed with EINTR: read again before waiting
	attempts   int         // reads asked of libzmq (for tests)

	wmu     sync.Mutex // guards rwait.Wake against rwait.Close
	rwait   *fdWait    // the data sockets' ZMQ_FDs; Wake ends a Recv's wait (ctx ended, or Close)
	wclosed bool

	userID bool // fixed after NewSub

	// Owner goroutine only.
	mons      []*zmq.Socket
	guards    []*curveGuard // per socket: a bound CURVE socket's, fed from its monitor; else nil
	connected []bool
	tried     []bool // connected once, or a connection attempt failed
	onEvent   func(Event)
	waiters   []readyWaiter
}

type readyWaiter struct {
	ch      chan struct{}
	settled bool // wait for settled (every endpoint connected or refused) instead of connected
}

// NewSub creates and connects the sockets and starts the owner.
func NewSub(zctx *zmq.Context, cfg SubConfig) (*Sub, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("zsock: no endpoints to subscribe to")
	}
	s := &Sub{onEvent: cfg.OnEvent, userID: cfg.UserID}
	ready := make(chan error, 1)
	go s.run(zctx, cfg, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// maxBurst bounds how many messages one socket may deliver in a row while others have some.
const maxBurst = 64

// Recv returns the next message from any endpoint, waiting until one arrives, ctx ends (ctx's
// error) or the Sub is closed (ErrClosed). Concurrent callers take turns. Endpoints are served
// in turn, at most maxBurst messages from one while others have some, and each endpoint's
// messages come in the order they arrived.
func (s *Sub) Recv(ctx context.Context) (Inbound, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	armed := false
	for {
		if s.closed.Load() {
			return Inbound{}, ErrClosed
		}
		if in, ok := s.tryRecv(); ok {
			return in, nil
		}
		if s.terminated {
			return Inbound{}, ErrClosed // the context was terminated under an open Sub
		}
		if err := ctx.Err(); err != nil {
			return Inbound{}, err
		}
		if !armed && ctx.Done() != nil {
			armed = true
			defer context.AfterFunc(ctx, s.wakeReader)()
		}
		// tryRecv found every socket it asked empty (EAGAIN), so each one's ZMQ_FD will signal
		// again. After an EINTR that is not certain: wait at most a moment, then read again.
		var timeout time.Duration
		if s.retry {
			timeout = time.Millisecond
		}
		if err := s.rwait.Wait(timeout, s.mark); err != nil && !errors.Is(err, errWaitTimeout) {
			if s.closed.Load() {
				return Inbound{}, ErrClosed
			}
			return Inbound{}, err
		}
	}
}

// TryRecv returns a message that has already arrived, without waiting; false when there is none,
// when another goroutine is reading, or after Close.
func (s *Sub) TryRecv() (Inbound, bool) {
	if !s.rmu.TryLock() {
		return Inbound{}, false
	}
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return Inbound{}, false
	}
	if in, ok := s.tryRecv(); ok {
		return in, true
	}
	// What signalled since the last Wait is still in the epoll set: take it and look again.
	if err := s.rwait.Collect(s.mark); err != nil {
		return Inbound{}, false
	}
	return s.tryRecv()
}

// Pending reports whether a message has arrived that no reader is about to take: false while
// another goroutine is in Recv (it takes what arrives), and after Close.
func (s *Sub) Pending() bool {
	if !s.rmu.TryLock() {
		return false
	}
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return false
	}
	if err := s.rwait.Collect(s.mark); err != nil {
		return false
	}
	for i, sock := range s.socks {
		if !s.readable[i] {
			continue // empty until its ZMQ_FD signals
		}
		if ev, err := sock.GetEvents(); err == nil && ev&zmq.POLLIN != 0 {
			return true
		}
	}
	return false
}

// tryRecv reads one message without waiting, starting with the socket that delivered last.
func (s *Sub) tryRecv() (Inbound, bool) {
	n := len(s.socks)
	if s.burst >= maxBurst {
		s.cur, s.burst = (s.cur+1)%n, 0
		// While this socket kept delivering nobody waited, so what the others signalled is
		// still in the epoll set: take it, or a socket that said EAGAIN once would starve
		// behind a busy one. (An error here comes back from the next Wait.)
		_ = s.rwait.Collect(s.mark)
	}
	s.retry = false
	for k := range n {
		i := (s.cur + k) % n
		if !s.readable[i] {
			continue
		}
		s.attempts++
		frames, user, err := s.recvFrom(s.socks[i])
		if err != nil {
			switch zmq.AsErrno(err) {
			case zmq.Errno(syscall.EAGAIN):
				s.readable[i] = false // libzmq signals its ZMQ_FD before it has more
			case zmq.ETERM:
				s.terminated = true
			case zmq.Errno(syscall.EINTR):
				s.retry = true // its command signal may still be unread: no wake-up would come
			}
			continue
		}
		if i != s.cur {
			s.cur, s.burst = i, 0
		}
		s.burst++
		s.received.Add(1)
		return Inbound{Endpoint: s.eps[i], Frames: frames, UserID: user}, true
	}
	s.burst = 0
	return Inbound{}, false
}

// recvFrom reads one multipart message without waiting, with its User-Id when asked for.
func (s *Sub) recvFrom(sock *zmq.Socket) ([][]byte, string, error) {
	if !s.userID {
		frames, err := sock.RecvMessageBytes(zmq.DONTWAIT)
		return frames, "", err
	}
	frames, md, err := sock.RecvMessageBytesWithMetadata(zmq.DONTWAIT, "User-Id")
	return frames, md["User-Id"], err
}

// wakeReader makes a waiting Recv look at its context and the closed flag. A wake-up nobody was
// waiting for only costs the next Recv one extra loop.
func (s *Sub) wakeReader() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.wclosed && s.rwait != nil {
		s.rwait.Wake()
	}
}

// Received counts the messages read from the sockets.
func (s *Sub) Received() uint64 { return s.received.Load() }

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

// Close makes a blocked Recv return ErrClosed, closes every socket and stops the owner. It is
// safe to call more than once.
func (s *Sub) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.wakeReader()
		s.rmu.Lock() // a Recv in progress has returned
		s.closeReader()
		s.rmu.Unlock()
		s.wmu.Lock()
		s.wclosed = true
		s.rwait.Close()
		s.wmu.Unlock()
		s.o.shutdown()
	})
	return nil
}

// closeReader stops the monitors and closes the data sockets.
func (s *Sub) closeReader() {
	for i, sock := range s.socks {
		if i < len(s.mons) {
			_ = sock.Monitor("", 0) // stop the monitor before its reader is closed
		}
		sock.Close()
	}
	s.socks = nil
}

func (s *Sub) ready(settled bool) bool {
	for i, ok := range s.connected {
		if !ok && !(settled && s.tried[i]) {
			return false
		}
	}
	return true
}

func (s *Sub) run(zctx *zmq.Context, cfg SubConfig, ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	o, err := newOwner(zctx)
	if err != nil {
		ready <- err
		return
	}
	s.o = o
	defer close(o.done)
	defer o.stop()
	defer func() {
		for _, mon := range s.mons {
			mon.Close()
		}
	}()

	if err := s.open(zctx, cfg); err != nil {
		s.closeReader()
		ready <- err
		return
	}
	poller := zmq.NewPoller()
	poller.Add(o.r, zmq.POLLIN)
	index := make(map[*zmq.Socket]int, len(s.mons))
	for i, mon := range s.mons {
		poller.Add(mon, zmq.POLLIN)
		index[mon] = i
	}
	ready <- nil // hands the reader side to Recv callers

	for !o.closing() {
		timeout := time.Duration(-1)
		for _, g := range s.guards {
			if g != nil {
				now := time.Now()
				g.recheck(now)
				timeout = g.timeout(now)
			}
		}
		polled, err := poller.Poll(timeout)
		if err != nil {
			return
		}
		for _, pl := range polled {
			if pl.Socket == o.r {
				o.drain()
				continue
			}
			s.readEvents(index[pl.Socket])
		}
	}
}

func (s *Sub) open(zctx *zmq.Context, cfg SubConfig) error {
	prefixes := cfg.Prefixes
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	var fds []int
	failed := endpointErrors{what: "endpoints could not be attached", total: len(cfg.Endpoints)}
	var attached []string
	for _, ep := range cfg.Endpoints {
		sock, err := zctx.NewSocket(zmq.SUB)
		if err != nil {
			return fmt.Errorf("zsock: new SUB: %w", err)
		}
		s.socks = append(s.socks, sock)
		if err := apply(cfg.Options, sock); err != nil {
			return err
		}
		// Closing a SUB must never wait: there is nothing of ours to flush.
		if err := sock.SetLinger(0); err != nil {
			return fmt.Errorf("zsock: linger: %w", err)
		}
		for _, p := range prefixes {
			if err := sock.SetSubscribe(p); err != nil {
				return fmt.Errorf("zsock: subscribe %q: %w", p, err)
			}
		}
		var guard *curveGuard
		op, attach := "connect", sock.Connect
		if cfg.Bind {
			op, attach = "bind", sock.Bind
			guard, err = secureServer(zctx, cfg.Options, sock, false)
		} else {
			err = secureClient(cfg.Options, sock, ep.Addr)
		}
		if err != nil {
			// Like a failed connect: this endpoint is unusable, the others are still tried.
			failed.add(&EndpointError{Op: op, Name: ep.Name, Addr: ep.Addr, Err: err})
			continue
		}
		events := zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
		if guard != nil {
			events |= guardEvents // the guard is fed from this monitor (libzmq allows one)
		}
		monAddr := inprocAddr("mon")
		if err := sock.Monitor(monAddr, events); err != nil {
			return fmt.Errorf("zsock: monitor: %w", err)
		}
		mon, err := zctx.NewSocket(zmq.PAIR)
		if err != nil {
			return fmt.Errorf("zsock: monitor socket: %w", err)
		}
		s.mons = append(s.mons, mon)
		s.guards = append(s.guards, guard)
		if err := mon.SetLinger(0); err != nil {
			return fmt.Errorf("zsock: linger: %w", err)
		}
		if err := mon.Connect(monAddr); err != nil {
			return fmt.Errorf("zsock: monitor connect: %w", err)
		}
		if err := attach(ep.Addr); err != nil {
			// Independent of the other endpoints: try them all, and report every failure.
			failed.add(&EndpointError{Op: op, Name: ep.Name, Addr: ep.Addr, Err: err})
			continue
		}
		attached = append(attached, cmp.Or(ep.Name, ep.Addr))
		fd, err := sock.GetFd()
		if err != nil {
			return fmt.Errorf("zsock: ZMQ_FD: %w", err)
		}
		fds = append(fds, fd)
		s.eps = append(s.eps, ep)
		s.connected = append(s.connected, false)
		s.tried = append(s.tried, false)
	}
	if failed.m != nil {
		failed.ok = attached
		return failed.err()
	}
	w, err := newFDWait(fds...)
	if err != nil {
		return err
	}
	s.rwait = w
	s.readable = make([]bool, len(s.socks))
	for i := range s.readable {
		s.readable[i] = true // until a read says otherwise
	}
	s.mark = func(i int) { s.readable[i] = true }
	return nil
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
