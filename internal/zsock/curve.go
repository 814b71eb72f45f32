package zsock

import (
	"fmt"

	zmq "github.com/pebbe/zmq4"
)

// secureServer makes s, about to bind, a CURVE server whose clients the context's ZAP handler
// authenticates with o.Security.Keys, and returns the guard of its connections (see curveGuard):
// with ownMonitor the guard reads a monitor of its own, else the caller, which monitors s
// already, feeds it guardEvents. With SecurityNone it does nothing and returns nil.
func secureServer(zctx *zmq.Context, o Options, s *zmq.Socket, ownMonitor bool) (*curveGuard, error) {
	if !o.Security.Curve() {
		return nil, nil
	}
	if err := o.Security.Validate(); err != nil {
		return nil, err
	}
	_, secret, err := o.Security.Keys.KeyPair()
	if err != nil {
		return nil, fmt.Errorf("zsock: curve key pair: %w", err)
	}
	if len(secret) != 40 {
		return nil, fmt.Errorf("zsock: curve secret key: %d characters, want 40 (Z85)", len(secret))
	}
	// The handler must be listening before the socket accepts anyone: without one, libzmq lets
	// every CURVE client in.
	h, err := zapFor(zctx)
	if err != nil {
		return nil, err
	}
	g := &curveGuard{keys: o.Security.Keys, domain: h.register(o.Security.Keys), h: h, fds: map[int]bool{}}
	if err := s.SetZapDomain(g.domain); err != nil {
		return nil, fmt.Errorf("zsock: ZAP domain: %w", err)
	}
	if err := s.SetCurveServer(1); err != nil {
		return nil, fmt.Errorf("zsock: curve server: %w", err)
	}
	if err := s.SetCurveSecretkey(secret); err != nil {
		return nil, fmt.Errorf("zsock: curve secret key: %w", err)
	}
	if ownMonitor {
		if err := g.monitor(zctx, s); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// secureClient makes s, about to connect to addr, a CURVE client that talks only to the server
// whose public key o.Security.Keys gives for addr. With SecurityNone it does nothing.
func secureClient(o Options, s *zmq.Socket, addr string) error {
	if !o.Security.Curve() {
		return nil
	}
	if err := o.Security.Validate(); err != nil {
		return err
	}
	public, secret, err := o.Security.Keys.KeyPair()
	if err != nil {
		return fmt.Errorf("zsock: curve key pair: %w", err)
	}
	server, err := o.Security.Keys.ServerKey(addr)
	if err != nil {
		return fmt.Errorf("zsock: curve server key for %s: %w", addr, err)
	}
	steps := []struct {
		name, key string
		set       func(string) error
	}{
		{"server key", server, s.SetCurveServerkey},
		{"public key", public, s.SetCurvePublickey},
		{"secret key", secret, s.SetCurveSecretkey},
	}
	for _, st := range steps {
		if len(st.key) != 40 {
			return fmt.Errorf("zsock: curve %s for %s: %d characters, want 40 (Z85)", st.name, addr, len(st.key))
		}
		if err := st.set(st.key); err != nil {
			return fmt.Errorf("zsock: curve %s for %s: %w", st.name, addr, err)
		}
	}
	return nil
}
