package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/bridge/broker"
)

// sessionLasting is how long a session must have run for its loss to count as the loss of a
// working node (fail over at once) rather than one more failure in a row (back off).
const sessionLasting = 10 * time.Second

// nodes is one direction's way through the broker's nodes: it dials them in the bridge's
// shuffled order, moving to the next one after each failure or lost connection, and tells the
// caller to back off only when a whole round of them failed in a row.
type nodes struct {
	b         *Bridge
	direction string
	urls      []string
	next      int    // index of the node to dial next
	dialled   string // the URL dialled last
	strikes   int    // failures in a row: dials failed and sessions lost before sessionLasting
	node      *atomic.Pointer[string]
	failovers *atomic.Uint64
	refusals  *atomic.Uint64
	refused   map[string]error // by URL: the nodes that refused since the last lasting session
	last      string           // the node of the last connection
}

func (b *Bridge) nodes(direction string, offset int, node *atomic.Pointer[string], failovers, refusals *atomic.Uint64) *nodes {
	return &nodes{b: b, direction: direction, urls: b.urls, next: offset % len(b.urls), node: node, failovers: failovers,
		refusals: refusals, refused: make(map[string]error)}
}

// dial connects to the next node.
func (n *nodes) dial() (*amqp.Connection, error) {
	u := n.urls[n.next]
	n.next = (n.next + 1) % len(n.urls)
	n.dialled = u
	conn, err := n.b.dialURL(u, n.direction)
	if err != nil {
		n.strikes++
		return nil, err
	}
	node := broker.Node(u)
	if n.last != "" && n.last != node {
		n.failovers.Add(1)
		n.b.log.Warn("failed over to another broker node", "direction", n.direction, "from", n.last, "to", node)
	}
	n.last = node
	n.node.Store(&node)
	return conn, nil
}

// lost records the end of a session that ran for d.
func (n *nodes) lost(d time.Duration) {
	n.node.Store(nil)
	if d >= sessionLasting {
		n.strikes = 0
		clear(n.refused)
	} else {
		n.strikes++
	}
}

// refusal records that the node dialled last refused the bridge (err is refused: a TLS
// handshake refused on the certificates, a login, a permission), at connection or later. It
// returns what Run ends with once every node has refused since the last lasting session: a
// refusal by the only node, or by all of them, is a configuration to fix. Until then the bridge
// logs the refusal as an error, counts it, and goes on with the other nodes, coming back to this
// one only when its turn comes again: one node with a stale CA or a missing user must not take
// the bridge down while the others accept it.
func (n *nodes) refusal(err error) error {
	n.refusals.Add(1)
	n.refused[n.dialled] = err
	if len(n.refused) < len(n.urls) {
		n.b.log.Error("a broker node refused the bridge: using the other nodes (fix this node's TLS, CA, CRL or user)",
			"direction", n.direction, "node", broker.Node(n.dialled), "error", err,
			"refused_by", len(n.refused), "nodes", len(n.urls))
		return nil
	}
	errs := make([]error, 0, len(n.urls))
	for _, u := range n.urls {
		e := n.refused[u]
		if len(n.urls) > 1 && !strings.Contains(e.Error(), broker.Redact(u)) {
			e = fmt.Errorf("%s: %w", broker.Node(u), e)
		}
		errs = append(errs, e)
	}
	clear(n.refused)
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("every broker node refused the bridge: %w", errors.Join(errs...))
}

// pause reports whether every node failed since the last lasting session: then the caller backs
// off before the next round (and a round starts again). Otherwise the next node is dialled at
// once: failing over from a dead node takes no pause.
func (n *nodes) pause() bool {
	if n.strikes >= len(n.urls) {
		n.strikes = 0
		return true
	}
	return false
}

// dialURL connects to one node, naming the connection after the bridge and the direction.
func (b *Bridge) dialURL(u, direction string) (*amqp.Connection, error) {
	return dialNode(b.broker, b.tls, u, "ackmsg-bridge "+b.name+" "+direction)
}

func dialNode(bc broker.Config, tc *tls.Config, u, connName string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(connName)
	var raw *setupConn
	cfg := amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := amqp.DefaultDial(10*time.Second)(network, addr) // the TCP connect and the TLS and AMQP handshakes
			if err != nil || tc == nil {
				return c, err
			}
			raw = &setupConn{Conn: c}
			return raw, nil
		},
	}
	if tc != nil {
		cfg.TLSClientConfig = tc.Clone() // DialConfig writes the server name into it
	}
	if bc.Login == broker.LoginExternal {
		cfg.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
	}
	conn, err := amqp.DialConfig(u, cfg)
	if err != nil {
		return nil, fmt.Errorf("bridge: connecting to %s: %w", broker.Redact(u), explain(u, err))
	}
	if raw != nil {
		raw.established()
	}
	return conn, nil
}

// setupConn is the TCP connection under an amqps:// connection, which keeps a broker's refusal
// of the client certificate readable. In TLS 1.3 the server checks the client's certificate
// after the client's side of the handshake is complete: a broker that refuses it sends its
// alert and closes, and the client's first write (the AMQP protocol header) may meet the reset
// before anything is read; the error would then be "connection reset by peer", retried as a
// node that is down, instead of the broker's reason (a refusal). Until the AMQP connection is
// established, a write that fails with a reset is reported by the next read instead, which
// first returns what the broker sent before the reset: its alert. Nothing is lost by it, since
// the connection is unusable either way and nothing was published yet.
type setupConn struct {
	net.Conn
	mu    sync.Mutex
	done  bool  // established: errors pass through
	reset error // the reset a write met during the setup
}

func (c *setupConn) established() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
}

func (c *setupConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	done, reset := c.done, c.reset
	c.mu.Unlock()
	if reset != nil {
		return 0, reset
	}
	n, err := c.Conn.Write(p)
	if err != nil && !done && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		c.mu.Lock()
		c.reset = err
		c.mu.Unlock()
		return len(p), nil
	}
	return n, err
}

func (c *setupConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n == 0 && err != nil {
		c.mu.Lock()
		if c.reset != nil {
			err = c.reset
		}
		c.mu.Unlock()
	}
	return n, err
}

// Dial connects to the first of bc's nodes that answers, in their order, as the bridge does
// (TLS, login), and returns the connection and the node's host:port. It is for tools; the
// bridge itself fails over between the nodes. The error names every node tried and why it
// failed; it is errors.Is [ErrTLS] when a TLS handshake was refused.
func Dial(bc broker.Config, connName string) (*amqp.Connection, string, error) {
	if err := bc.Validate(); err != nil {
		return nil, "", err
	}
	var tc *tls.Config
	for _, u := range bc.URLs {
		if strings.HasPrefix(u, "amqps://") {
			var err error
			if tc, err = bc.TLSConfig(); err != nil {
				return nil, "", err
			}
			break
		}
	}
	var errs []error
	for _, u := range bc.URLs {
		conn, err := dialNode(bc, tc, u, connName)
		if err == nil {
			return conn, broker.Node(u), nil
		}
		errs = append(errs, err)
	}
	return nil, "", errors.Join(errs...)
}

// ErrTLS is wrapped by the errors of a TLS handshake that failed on the certificates: the broker
// refused the bridge's (another CA, revoked, expired: a TLS alert from the broker), or the
// broker's is not trusted or not for the name dialled. Run stops on it, as on [ErrRefused]:
// retrying would not help.
var ErrTLS = errors.New("bridge: TLS handshake refused")

// explain adds what an operator needs to an error of amqp.DialConfig: the TLS failures that are
// a refusal, and the hint that a plaintext connection closed at once is probably talking to a
// TLS-only listener.
func explain(u string, err error) error {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return fmt.Errorf("%w: the broker's certificate: %w", ErrTLS, err)
	case strings.Contains(err.Error(), "remote error: tls:"):
		return fmt.Errorf("%w: the broker refused the bridge's client certificate: %w", ErrTLS, err)
	}
	var aerr *amqp.Error
	frame := errors.As(err, &aerr) && aerr.Code == amqp.FrameError // a TLS alert read as an AMQP frame
	if strings.HasPrefix(u, "amqp://") && (frame || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, amqp.ErrSyntax)) {
		return fmt.Errorf("%w (the broker closed the connection during the AMQP handshake: is this a TLS-only port? use amqps://)", err)
	}
	var nerr net.Error
	if strings.HasPrefix(u, "amqps://") && errors.As(err, &nerr) && nerr.Timeout() {
		return fmt.Errorf("%w (no TLS handshake: is this a plaintext port? use amqp://)", err)
	}
	return err
}
