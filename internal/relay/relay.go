// Package relay forwards messages from publishers that connect to relay_inbound (shell tools,
// scripts: fedmsg's active mode) to subscribers of endpoints.relay_outbound.
//
// Frames are forwarded byte for byte: unlike fedmsg's relay, nothing is re-serialized, so
// signatures and exact encodings survive. A message that is not exactly two frames, or has a frame
// above max_frame_size, is dropped and counted rather than passed on to every subscriber. With
// transport_security = "curve" every inbound connection is authenticated (ZAP maps its key to a
// certificate CN, curve_allow narrows who may connect) and a message whose topic routing_policy
// does not allow its sender is dropped as "unauthorized" before fan-out (see Authorizer). With
// relay.inbound_security = "none" the inbound side alone stays plaintext (Python publishers on
// the host) while the subscribers get CURVE; nobody is authenticated there, so nothing is
// authorized at the relay.
//
// Its Config is plain data; ackmsg-relay maps the configuration onto it. With HTTPAddress
// (relay.http_address) set, the relay serves /live, /ready (its sockets are bound and it is
// not stopping) and /metrics (internal/ops), counting ackmsg_relay_messages_forwarded_total and
// ackmsg_relay_messages_dropped_total{reason}, and with CURVE ackmsg_relay_handshakes_refused_total{reason}.
package relay

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ackmsg/ackmsg/internal/forward"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/transport"
)

// Relay is a running relay: a forwarder (internal/forward) from the inbound SUB to the outbound
// PUB, whose check authorizes senders.
type Relay struct {
	*forward.Forwarder
	maxFrame int
	authz    *Authorizer // nil without transport_security curve: no identity to authorize
	outAddr  string
}

// Config is what a relay is. The command maps relay_inbound, endpoints.relay_outbound,
// max_frame_size, relay.http_address and the zmq_* keys onto it.
type Config struct {
	// Inbound is the address active publishers connect to (relay_inbound), bound as
	// transport.BindAddress says. Required.
	Inbound string
	// Outbound lists the addresses subscribers connect to (endpoints.relay_outbound); the first
	// free one is bound. Required.
	Outbound []string
	// MaxFrameSize drops a message with a larger frame (max_frame_size). Default 0: no limit.
	MaxFrameSize int
	// HTTPAddress serves /live, /ready and /metrics (relay.http_address). Default "": off.
	HTTPAddress string
	// Transport are the socket options. Default: the zero value (see transport.Options).
	Transport transport.Options
	// InboundPlaintext keeps the inbound side plaintext while Transport.Security is CURVE
	// (relay.inbound_security = "none"): a segment for Python publishers on the host. Nobody is
	// authenticated there, so nothing is authorized at the relay. Default false.
	InboundPlaintext bool
	// RoutingPolicy (topic → certificate names allowed to publish it) and RoutingNitpicky
	// (a topic not in the policy is refused) authorize inbound messages by their authenticated
	// sender when the inbound side runs CURVE. Default: no policy, every sender allowed.
	RoutingPolicy   map[string][]string
	RoutingNitpicky bool
}

// Validate reports a Config no relay can run on.
func (c Config) Validate() error {
	switch {
	case c.Inbound == "":
		return errors.New("relay: Inbound (relay_inbound) must be set")
	case len(c.Outbound) == 0:
		return errors.New("relay: Outbound (endpoints.relay_outbound) must list an address")
	case c.MaxFrameSize < 0:
		return errors.New("relay: MaxFrameSize must not be negative")
	}
	return c.Transport.Validate()
}

// New binds the inbound SUB on cfg.Inbound and the outbound PUB on the first free address of
// cfg.Outbound, then serves cfg.HTTPAddress when it is set.
func New(cfg Config, log *slog.Logger) (*Relay, error) {
	log = cmp.Or(log, slog.Default())
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var binds []string
	for _, a := range cfg.Outbound {
		b, err := transport.BindAddress(a)
		if err != nil {
			return nil, err
		}
		binds = append(binds, b)
	}
	inbound, err := transport.BindAddress(cfg.Inbound)
	if err != nil {
		return nil, fmt.Errorf("relay_inbound: %w", err)
	}
	zctx, err := zsock.NewContext(cfg.Transport.IOThreads)
	if err != nil {
		return nil, err
	}
	opts := cfg.Transport
	inOpts := opts
	if cfg.InboundPlaintext {
		inOpts.Security = transport.Security{} // a plaintext segment
	}
	out, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: binds, Options: opts})
	if err != nil {
		zctx.Term()
		return nil, fmt.Errorf("relay_outbound: %w", err)
	}
	in, err := zsock.NewSub(zctx, zsock.SubConfig{
		Endpoints: []zsock.Endpoint{{Name: "relay_inbound", Addr: inbound}},
		Bind:      true,
		UserID:    inOpts.Security.Curve(),
		Options:   inOpts,
		OnEvent: func(e zsock.Event) {
			log.Debug("inbound publisher "+e.Kind.String(), "addr", e.Endpoint.Addr)
		},
	})
	if err != nil {
		out.Close()
		zctx.Term()
		return nil, fmt.Errorf("relay_inbound: %w", err)
	}
	r := &Relay{maxFrame: cfg.MaxFrameSize, outAddr: out.Addr()}
	if inOpts.Security.Curve() {
		r.authz = NewAuthorizer(cfg.RoutingPolicy, cfg.RoutingNitpicky)
	}
	spec := spec
	spec.Check = r.check
	if opts.Security.Curve() {
		spec.Keys = opts.Security.Keys
	}
	r.Forwarder = forward.New(spec, log, zctx, in, out)
	if addr := cfg.HTTPAddress; addr != "" {
		if err := r.Serve(addr, "relay.http_address"); err != nil {
			r.Close()
			return nil, err
		}
	}
	log.Info("relay ready", "inbound", inbound, "outbound", out.Addr())
	return r, nil
}

// spec is the relay's forwarder without its check and keys, set per relay.
var spec = forward.Spec{
	Name: "relay", Side: "inbound",
	ForwardedHelp: "Messages forwarded from relay_inbound to relay_outbound.",
	DroppedHelp: "Inbound messages not forwarded, by reason (frames: not two frames; oversize: a frame above max_frame_size; " +
		"unauthorized: routing_policy does not allow the CURVE-authenticated sender this topic).",
	RefusedHelp: "CURVE handshakes refused on the relay's sockets, by reason (unknown_key, untrusted, revoked, expired, crl, " +
		"not_allowed, no_keys; handshake: the client does not speak CURVE).",
	Reasons: []string{"frames", "oversize", "unauthorized"},
}

// check returns why a message must not be forwarded (a counter key and a detail), or "".
func (r *Relay) check(msg zsock.Inbound) (reason, detail string) {
	if reason, detail := forward.CheckFrames(msg.Frames, r.maxFrame); reason != "" {
		return reason, detail
	}
	if r.authz != nil {
		if err := r.authz.Allow(msg.UserID, string(msg.Frames[0])); err != nil {
			return "unauthorized", err.Error()
		}
	}
	return "", ""
}

// OutboundAddr is the address the outbound socket bound.
func (r *Relay) OutboundAddr() string { return r.outAddr }
