package bridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
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
	next      int // index of the node to dial next
	strikes   int // failures in a row: dials failed and sessions lost before sessionLasting
	node      *atomic.Pointer[string]
	failovers *atomic.Uint64
	last      string // the node of the last connection
}

func (b *Bridge) nodes(direction string, offset int, node *atomic.Pointer[string], failovers *atomic.Uint64) *nodes {
	return &nodes{b: b, direction: direction, urls: b.urls, next: offset % len(b.urls), node: node, failovers: failovers}
}

// dial connects to the next node.
func (n *nodes) dial() (*amqp.Connection, error) {
	u := n.urls[n.next]
	n.next = (n.next + 1) % len(n.urls)
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
	} else {
		n.strikes++
	}
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
	cfg := amqp.Config{
		Heartbeat:  10 * time.Second,
		Properties: props,
		Dial:       amqp.DefaultDial(10 * time.Second), // the TCP connect and the TLS and AMQP handshakes
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
	return conn, nil
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
