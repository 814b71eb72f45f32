package config

import (
	"time"

	"github.com/ackmsg/ackmsg/transport"
)

// Transport maps the zmq_* settings (and io_threads, max_frame_size, and transport_security with
// the curve_* keys: see Security) onto the socket options every component's Config carries.
func (c *Config) Transport() transport.Options {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	linger := ms(c.ZMQLinger)
	if c.ZMQLinger < 0 {
		linger = -1
	}
	var maxMsg int64
	if c.MaxFrameSize > 0 {
		// The software limit drops and counts oversized frames; libzmq's limit, which drops the
		// whole connection, is only a backstop far above it.
		maxMsg = 16 * int64(c.MaxFrameSize)
	}
	return transport.Options{
		HWM:               c.HighWaterMark,
		Linger:            linger,
		ReconnectIvl:      ms(c.ZMQReconnectIvl),
		ReconnectIvlMax:   ms(c.ZMQReconnectIvlMax),
		TCPKeepalive:      c.ZMQTCPKeepalive,
		TCPKeepaliveCnt:   c.ZMQTCPKeepaliveCnt,
		TCPKeepaliveIdle:  c.ZMQTCPKeepaliveIdle,
		TCPKeepaliveIntvl: c.ZMQTCPKeepaliveIntvl,
		MaxMsgSize:        maxMsg,
		IOThreads:         c.IOThreads,
		Security:          c.Security(),
	}
}
