package transport

import (
	"errors"
	"fmt"
)

// Security modes.
const (
	// SecurityNone is ZeroMQ's NULL mechanism: no encryption, no authentication, wire-compatible
	// with Python fedmsg. It is the zero value.
	SecurityNone = "none"
	// SecurityCurve runs CurveZMQ (RFC 26) on every socket: traffic is encrypted, a binding
	// socket authenticates every client through ZAP (RFC 27) with Keys.Authenticate, and a
	// connecting socket accepts only the server whose public key is Keys.ServerKey.
	SecurityCurve = "curve"
)

// Security says how a socket secures its connections. The zero value is SecurityNone.
type Security struct {
	// Mode is SecurityNone ("" means the same) or SecurityCurve.
	Mode string
	// Keys supplies the key material; required with SecurityCurve, ignored otherwise.
	Keys Keys
}

// Curve reports whether the sockets run CurveZMQ.
func (s Security) Curve() bool { return s.Mode == SecurityCurve }

// Validate reports a mode that does not exist, or CURVE without keys.
func (s Security) Validate() error {
	switch s.Mode {
	case "", SecurityNone:
		return nil
	case SecurityCurve:
		if s.Keys == nil {
			return errors.New("transport: security curve needs Keys")
		}
		return nil
	}
	return fmt.Errorf("transport: security mode %q (want %q or %q)", s.Mode, SecurityNone, SecurityCurve)
}

// Keys is where CURVE sockets find their keys and who may connect to them. Keys are Z85 text
// (40 characters for 32 bytes), as libzmq takes them. Implementations must be safe for
// concurrent use: Authenticate is called for every handshake, from the ZAP handler's goroutine,
// while others may reload what it consults. Package certs provides one bound to the bus's PKI.
type Keys interface {
	// KeyPair returns this process's own public and secret key. It is called once per socket.
	KeyPair() (public, secret string, err error)
	// ServerKey returns the public key of the server a socket connects to at addr. An error
	// makes the connect fail: a client never talks to a server it cannot authenticate.
	ServerKey(addr string) (string, error)
	// Authenticate decides whether the client with publicKey may complete a handshake with a
	// binding socket. It returns the client's identity, which receivers see as the message
	// property "User-Id", or an error saying why it is refused (logged, and reported to the
	// client as the ZAP status text).
	Authenticate(publicKey string) (userID string, err error)
}

// HandshakeObserver may be implemented by Keys to hear of clients that failed a binding socket's
// handshake before ZAP was asked: a client without CURVE (a plaintext fedmsg peer, a scanner) or
// one that broke the protocol. endpoint is the bound address; reason says what failed.
// Refusals decided by Authenticate are not reported again. It must not block.
type HandshakeObserver interface {
	HandshakeFailed(endpoint, reason string)
}
