// Package faultproxy is a TCP proxy that injects network faults between two ackmsg processes on
// loopback, without root: cutting every connection (peers see a reset and reconnect, and ZeroMQ
// drops what was queued), stalling them (bytes stop flowing while the connections stay open, as in
// a partition that TCP rides out), and adding latency. It is for tests only.
package faultproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections accepted on Addr to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	stalled bool
	resume  chan struct{} // closed when a stall ends
	closed  bool

	latency atomic.Int64 // nanoseconds added before forwarding each chunk
	cuts    atomic.Uint64
	accepts atomic.Uint64
	wg      sync.WaitGroup
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to target ("127.0.0.1:4001").
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	close(p.resume)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection; new ones are accepted as usual.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.cuts.Add(1)
}

// Accepted counts the connections accepted (and forwarded, or stalled).
func (p *Proxy) Accepted() uint64 { return p.accepts.Load() }

// Cuts counts the calls to Cut.
func (p *Proxy) Cuts() uint64 { return p.cuts.Load() }

// Stall stops or resumes forwarding. While stalled, connections stay open and nothing flows in
// either direction; new connections are accepted but stall too.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.stalled {
		return
	}
	p.stalled = on
	if on {
		p.resume = make(chan struct{})
	} else {
		close(p.resume)
	}
}

// SetLatency delays every forwarded chunk by d.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Close stops accepting, closes every connection and waits for the forwarding goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.stalled {
		p.stalled = false
		close(p.resume)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close() // nothing listens behind us: the peer sees a refused-like reset
			continue
		}
		if !p.track(in, out) {
			in.Close()
			out.Close()
			return
		}
		p.accepts.Add(1)
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// pipe copies src to dst, honouring stalls and latency, until either side fails.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer p.untrack(src, dst)
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		resume := p.resume
		p.mu.Unlock()
		<-resume
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d) // the fault being injected
			}
			p.mu.Lock()
			resume = p.resume
			p.mu.Unlock()
			<-resume // a stall that began while reading holds this chunk too
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, a cut, or Close: untrack closes the other side too
		}
	}
}
