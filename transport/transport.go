// Package transport holds the settings of the ZeroMQ sockets every ackmsg component opens: the
// high-water mark, linger, reconnect back-off, TCP keepalive, the size backstop and the security
// mechanism (plaintext, or CurveZMQ with keys from a Keys implementation). A component's
// Config carries one Options value; package config maps fedmsg's zmq_* keys onto it. It also
// holds the addresses' vocabulary: an [Endpoint] (an address under its endpoints key) and the
// rule of what a component binds for an address peers connect to ([BindAddress]).
//
// It is plain data with no I/O, at the bottom floor next to package message.
package transport

import (
	"errors"
	"time"
)

// Options are the socket options ackmsg applies. The zero value is valid: see each field.
type Options struct {
	// HWM is both SNDHWM and RCVHWM in messages. 0 means unlimited, as in libzmq.
	HWM int
	// Linger bounds how long Close waits to flush unsent messages. Negative means forever.
	Linger time.Duration
	// ReconnectIvl and ReconnectIvlMax set the reconnect backoff of connecting sockets.
	// Zero keeps libzmq's defaults (100 ms, no backoff).
	ReconnectIvl, ReconnectIvlMax time.Duration
	// TCPKeepalive turns TCP keepalive on (1) or off (0); -1 keeps the OS default.
	TCPKeepalive int
	// TCPKeepaliveCnt, TCPKeepaliveIdle (s) and TCPKeepaliveIntvl (s); 0 or -1 keep the OS default.
	TCPKeepaliveCnt, TCPKeepaliveIdle, TCPKeepaliveIntvl int
	// MaxMsgSize makes libzmq drop a connection whose peer sends a larger message. 0 means no limit.
	// Receivers enforce their own, smaller frame limit in software so that oversized frames are
	// counted; this is only the backstop against memory exhaustion.
	MaxMsgSize int64
	// IOThreads is the number of I/O threads of the ZeroMQ context a component creates for its
	// sockets. 0 means 1.
	IOThreads int
	// Security is the mechanism every socket runs: none (the zero value, plaintext as in
	// fedmsg) or CURVE bound to the bus's PKI. See docs/security.md.
	Security Security
}

// Validate reports settings no socket can take.
func (o Options) Validate() error {
	switch {
	case o.HWM < 0:
		return errors.New("transport: HWM must not be negative")
	case o.ReconnectIvl < 0 || o.ReconnectIvlMax < 0:
		return errors.New("transport: reconnect intervals must not be negative")
	case o.MaxMsgSize < 0:
		return errors.New("transport: MaxMsgSize must not be negative")
	case o.IOThreads < 0:
		return errors.New("transport: IOThreads must not be negative")
	}
	return o.Security.Validate()
}
