package zsock

import (
	"fmt"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/transport"
)

// Options are the socket options ackmsg applies (see package transport).
type Options = transport.Options

func apply(o Options, s *zmq.Socket) error {
	linger := o.Linger
	if linger < 0 {
		linger = -1
	}
	steps := []struct {
		name string
		skip bool
		set  func() error
	}{
		{"sndhwm", false, func() error { return s.SetSndhwm(o.HWM) }},
		{"rcvhwm", false, func() error { return s.SetRcvhwm(o.HWM) }},
		{"linger", false, func() error { return s.SetLinger(linger) }},
		{"reconnect_ivl", o.ReconnectIvl <= 0, func() error { return s.SetReconnectIvl(o.ReconnectIvl) }},
		{"reconnect_ivl_max", o.ReconnectIvlMax <= 0, func() error { return s.SetReconnectIvlMax(o.ReconnectIvlMax) }},
		{"tcp_keepalive", o.TCPKeepalive < 0, func() error { return s.SetTcpKeepalive(o.TCPKeepalive) }},
		{"tcp_keepalive_cnt", o.TCPKeepaliveCnt <= 0, func() error { return s.SetTcpKeepaliveCnt(o.TCPKeepaliveCnt) }},
		{"tcp_keepalive_idle", o.TCPKeepaliveIdle <= 0, func() error { return s.SetTcpKeepaliveIdle(o.TCPKeepaliveIdle) }},
		{"tcp_keepalive_intvl", o.TCPKeepaliveIntvl <= 0, func() error { return s.SetTcpKeepaliveIntvl(o.TCPKeepaliveIntvl) }},
		{"maxmsgsize", o.MaxMsgSize <= 0, func() error { return s.SetMaxmsgsize(o.MaxMsgSize) }},
	}
	for _, st := range steps {
		if st.skip {
			continue
		}
		if err := st.set(); err != nil {
			return fmt.Errorf("zsock: set %s: %w", st.name, err)
		}
	}
	return nil
}

// NewContext returns a new zmq context with ioThreads I/O threads (at least 1).
func NewContext(ioThreads int) (*zmq.Context, error) {
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("zsock: new context: %w", err)
	}
	if ioThreads < 1 {
		ioThreads = 1
	}
	if err := zctx.SetIoThreads(ioThreads); err != nil {
		zctx.Term()
		return nil, fmt.Errorf("zsock: io threads: %w", err)
	}
	return zctx, nil
}

var inprocSeq atomic.Uint64

// inprocAddr returns a process-unique inproc address for internal plumbing.
func inprocAddr(kind string) string {
	return fmt.Sprintf("inproc://ackmsg-%s-%d", kind, inprocSeq.Add(1))
}
