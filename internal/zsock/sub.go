package zsock

import (
	"cmp"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
	// handles are the libzmq sockets behind socks, read by reader in one cgo call per message;
	// nil where the handle could not be checked (pebbe/zmq4's receive is used there).
	handles []unsafe.Pointer
	reader  *msgReader
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
	if s.reader != nil {
		s.reader.free()
	}
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

// newSocket makes one endpoint's SUB socket with the options and subscriptions.
func (s *Sub) newSocket(zctx *zmq.Context, opts Options, prefixes []string) (*zmq.Socket, error) {
	sock, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		return nil, fmt.Errorf("zsock: new SUB: %w", err)
	}
	s.socks = append(s.socks, sock)
	if err := apply(opts, sock); err != nil {
		return nil, err
	}
	// Closing a SUB must never wait: there is nothing of ours to flush.
	if err := sock.SetLinger(0); err != nil {
		return nil, fmt.Errorf("zsock: linger: %w", err)
	}
	for _, p := range prefixes {
		if err := sock.SetSubscribe(p); err != nil {
			return nil, fmt.Errorf("zsock: subscribe %q: %w", p, err)
		}
	}
	return sock, nil
}

// monitor attaches the monitor of one endpoint's socket (connection events; with guard, the
// CURVE guard's handshake events too, as libzmq allows one monitor per socket).
func (s *Sub) monitor(zctx *zmq.Context, sock *zmq.Socket, guard *curveGuard) error {
	events := zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
	if guard != nil {
		events |= guardEvents
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
	return nil
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
		sock, err := s.newSocket(zctx, cfg.Options, prefixes)
		if err != nil {
			return err
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
		if err := s.monitor(zctx, sock, guard); err != nil {
			return err
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
	s.reader = newMsgReader()
	s.handles = make([]unsafe.Pointer, len(s.socks))
	for i, sock := range s.socks {
		s.handles[i], _ = handle(sock, zmq.SUB)
	}
	return nil
}
