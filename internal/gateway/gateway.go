// Package gateway hands the bus to the outside on one port: fedmsg-gateway's job. A gateway
// subscribes to the bus's endpoints (every message, or the topics its Config lists) and
// re-publishes each message, byte for byte, on one bound PUB socket, so outside subscribers never
// connect to an internal endpoint.
//
// The outward socket has its own high-water mark (fedmsg_gateway_high_water_mark): a slow outside
// subscriber loses messages at the gateway once its queue is full, and never slows the gateway's
// reading of the bus, so it cannot push back on the bus's publishers or inside consumers. It has
// its own security too: plaintext for the public, or CURVE with an allowlist of its own, while the
// inward side follows transport_security. A message that is not exactly two frames, has a frame
// above max_frame_size, or whose topic the Config's patterns do not match is dropped and counted,
// as the relay does; with a Verifier, so is one whose signature does not validate.
//
// Its Config is plain data; ackmsg-gateway maps the configuration onto it. With HTTPAddress
// (gateway.http_address) set, it serves /live, /ready (its sockets are bound and it is not
// stopping) and /metrics (internal/ops): ackmsg_gateway_messages_forwarded_total,
// ackmsg_gateway_messages_dropped_total{reason} and, with an outward CURVE side,
// ackmsg_gateway_handshakes_refused_total{reason}.
//
// It is an internal package, like internal/relay, because it is a command's library: nothing but
// ackmsg-gateway runs it, and a program that wants the bus in-process subscribes with package
// consumer instead.
package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/forward"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/transport"
)

// Defaults fedmsg's gateway uses: fedmsg_gateway_port 9940, fedmsg_gateway_high_water_mark 1000.
const (
	DefaultBind = "tcp://*:9940"
	DefaultHWM  = 1000
)

// Config is what a gateway is. The command maps the endpoints, [gateway] and the zmq_* keys onto
// it.
type Config struct {
	// Endpoints are the bus addresses the gateway subscribes to (every endpoints key but
	// relay_inbound). Required.
	Endpoints []transport.Endpoint
	// Topics are topic patterns (message.TopicMatches syntax) the gateway re-publishes; a
	// message matching none is not subscribed to or, when a pattern's ZeroMQ prefix lets it
	// through, dropped as "topic". Default: none, every message.
	Topics []string
	// Bind is the one outward address outside subscribers connect to (gateway.bind). Default
	// DefaultBind.
	Bind string
	// HWM is the outward socket's high-water mark, per outside subscriber (gateway.hwm,
	// fedmsg_gateway_high_water_mark). 0 means unlimited, as in libzmq. Default DefaultHWM.
	HWM int
	// MaxFrameSize drops a message with a larger frame (max_frame_size). Default 0: no limit.
	MaxFrameSize int
	// HTTPAddress serves /live, /ready and /metrics (gateway.http_address). Default "": off.
	HTTPAddress string
	// Transport are the inward (bus) sockets' options, transport_security included. Default:
	// the zero value (see transport.Options).
	Transport transport.Options
	// Outward is the outward socket's security (gateway.security): plaintext, or CURVE whose
	// Keys authenticate outside subscribers with the gateway's own allowlist. Default: the zero
	// value, plaintext.
	Outward transport.Security
	// Verifier, when set, validates every message before it is forwarded (gateway.validate_signatures):
	// one whose body is not an envelope of the topic frame's topic is dropped as "invalid", one
	// the verifier refuses as "signature", so outside subscribers get only what validates.
	// Default nil: forwarded unchecked (outside consumers validate themselves).
	Verifier certs.Verifier
}

// DefaultConfig returns the defaults written in the Config field comments.
func DefaultConfig() Config { return Config{Bind: DefaultBind, HWM: DefaultHWM} }

// Validate reports a Config no gateway can run on.
func (c Config) Validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return errors.New("gateway: Endpoints must list a bus address to subscribe to")
	case c.Bind == "":
		return errors.New("gateway: Bind (gateway.bind) must be set")
	case c.HWM < 0:
		return errors.New("gateway: HWM (gateway.hwm) must not be negative")
	case c.MaxFrameSize < 0:
		return errors.New("gateway: MaxFrameSize must not be negative")
	}
	for _, p := range c.Topics {
		if err := message.CheckTopicPattern(p); err != nil {
			return fmt.Errorf("gateway: Topics: %w", err)
		}
	}
	if err := c.Outward.Validate(); err != nil {
		return fmt.Errorf("gateway: Outward: %w", err)
	}
	return c.Transport.Validate()
}

// Gateway is a running gateway: a forwarder (internal/forward) from the bus to the outward PUB,
// whose check applies the topics and the verifier.
type Gateway struct {
	*forward.Forwarder
	maxFrame int
	topics   []message.TopicPattern // empty: every topic
	verifier certs.Verifier         // nil: no validation
	out      *zsock.Pub             // the outward socket, the Forwarder's
}

// New binds the outward PUB on cfg.Bind, connects to the bus, then serves cfg.HTTPAddress when
// it is set.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	log = cmp.Or(log, slog.Default())
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bind, err := transport.BindAddress(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gateway.bind: %w", err)
	}
	g := &Gateway{maxFrame: cfg.MaxFrameSize, verifier: cfg.Verifier}
	var prefixes []string
	for _, p := range cfg.Topics {
		tp, _ := message.ParseTopicPattern(p) // checked by Validate
		g.topics = append(g.topics, tp)
		prefixes = append(prefixes, tp.Prefix())
	}
	zctx, err := zsock.NewContext(cfg.Transport.IOThreads)
	if err != nil {
		return nil, err
	}
	outOpts := cfg.Transport
	outOpts.HWM = cfg.HWM
	outOpts.Security = cfg.Outward
	out, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: []string{bind}, Options: outOpts})
	if err != nil {
		zctx.Term()
		return nil, fmt.Errorf("gateway.bind: %w", err)
	}
	eps := make([]zsock.Endpoint, len(cfg.Endpoints))
	for i, e := range cfg.Endpoints {
		eps[i] = zsock.Endpoint{Name: e.Name, Addr: e.Address}
	}
	in, err := zsock.NewSub(zctx, zsock.SubConfig{Endpoints: eps, Prefixes: prefixes, Options: cfg.Transport,
		OnEvent: func(e zsock.Event) { log.Debug("bus endpoint "+e.Kind.String(), "addr", e.Endpoint.Addr) }})
	if err != nil {
		out.Close()
		zctx.Term()
		return nil, fmt.Errorf("gateway: bus: %w", err)
	}
	spec := spec
	spec.Check = g.check
	if cfg.Outward.Curve() {
		spec.Keys = cfg.Outward.Keys
	}
	g.out = out
	g.Forwarder = forward.New(spec, log, zctx, in, out)
	if addr := cfg.HTTPAddress; addr != "" {
		if err := g.Serve(addr, "gateway.http_address"); err != nil {
			g.Close()
			return nil, err
		}
	}
	log.Info("gateway ready", "outward", out.Addr(), "endpoints", len(eps), "topics", cfg.Topics, "hwm", cfg.HWM)
	return g, nil
}

// spec is the gateway's forwarder without its check and keys, set per gateway.
var spec = forward.Spec{
	Name: "gateway", Side: "bus",
	ForwardedHelp: "Bus messages re-published on the gateway's outward socket.",
	DroppedHelp: "Bus messages not re-published, by reason (frames: not two frames; oversize: a frame above max_frame_size; " +
		"topic: matches no gateway.topics pattern; invalid: not an envelope of its topic and signature: does not validate, " +
		"with gateway.validate_signatures).",
	RefusedHelp: "CURVE handshakes refused on the gateway's outward socket, by reason (unknown_key, untrusted, revoked, " +
		"expired, crl, not_allowed, no_keys; handshake: the client does not speak CURVE).",
	Reasons: []string{"frames", "oversize", "topic", "invalid", "signature"},
}

// check returns why a message must not be forwarded (a counter key and a detail), or "".
func (g *Gateway) check(msg zsock.Inbound) (reason, detail string) {
	frames := msg.Frames
	if reason, detail := forward.CheckFrames(frames, g.maxFrame); reason != "" {
		return reason, detail
	}
	if len(g.topics) > 0 && !g.matches(string(frames[0])) {
		return "topic", fmt.Sprintf("topic %q matches no gateway.topics pattern", frames[0])
	}
	if g.verifier != nil {
		m, err := message.Decode(frames[1])
		if err != nil {
			return "invalid", err.Error()
		}
		if m.Topic() != string(frames[0]) {
			return "invalid", fmt.Sprintf("frame topic %q, envelope topic %q", frames[0], m.Topic())
		}
		if _, err := g.verifier.Verify(m); err != nil {
			return "signature", err.Error()
		}
	}
	return "", ""
}

func (g *Gateway) matches(topic string) bool {
	for _, p := range g.topics {
		if p.Match(topic) {
			return true
		}
	}
	return false
}

// Addr is the address the outward socket bound.
func (g *Gateway) Addr() string { return g.out.Addr() }
