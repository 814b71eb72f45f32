// Command ackmsg-relay forwards messages from active publishers (ackmsg-logger, scripts), which
// connect to relay_inbound, to the subscribers of endpoints.relay_outbound.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/relay"
)

func main() {
	c := cli.New("ackmsg-relay",
		"forward messages from relay_inbound to endpoints.relay_outbound",
		"[flags]", `
Binds a SUB socket on relay_inbound (default tcp://127.0.0.1:2001) and a PUB socket on the first
free address of endpoints.relay_outbound (default tcp://127.0.0.1:4001), and forwards every
two-frame message unchanged, byte for byte, so signatures survive. Messages with another frame
count, or a frame above max_frame_size, are dropped and logged. Stops cleanly on SIGINT or SIGTERM.
--http-address (relay.http_address) serves /live, /ready (sockets bound, not stopping) and
/metrics (ackmsg_relay_messages_forwarded_total, ackmsg_relay_messages_dropped_total{reason}).
With transport_security = "curve" both sockets run CurveZMQ with the key pair of the relay's
certificate (--certname): only peers with a valid certificate of the CA connect (curve_allow
narrows them), refused handshakes are logged and counted
(ackmsg_relay_handshakes_refused_total{reason}), and an inbound message whose topic
routing_policy does not allow its sender is dropped as "unauthorized" before fan-out.
relay.inbound_security = "none" keeps relay_inbound plaintext for Python publishers.`)
	httpAddr := c.Flags.String("http-address", "", "serve /live, /ready and /metrics on this host:port (config relay.http_address; default off)")
	c.Main(os.Args[1:], func(ctx context.Context, cfg *config.Config) error {
		if c.Flags.Changed("http-address") {
			cfg.Relay.HTTPAddress = *httpAddr
			if err := cfg.Validate(); err != nil {
				return cli.Usage("--http-address: %v", err)
			}
		}
		rc, err := relayConfig(cfg)
		if err != nil {
			return cli.Runtime(err)
		}
		r, err := relay.New(rc, c.Log())
		if err != nil {
			return cli.Runtime(err)
		}
		return r.Run(ctx)
	})
}

// relayConfig maps the configuration onto the relay's, checking its addresses with the
// configuration's texts.
func relayConfig(cfg *config.Config) (relay.Config, error) {
	outs, err := cfg.PublishEndpoints(config.RelayOutboundKey)
	if err != nil {
		return relay.Config{}, err
	}
	for _, a := range outs {
		if _, err := config.BindAddress(a); err != nil {
			return relay.Config{}, err
		}
	}
	if _, err := config.BindAddress(cfg.RelayInbound); err != nil {
		return relay.Config{}, fmt.Errorf("relay_inbound: %w", err)
	}
	return relay.Config{Inbound: cfg.RelayInbound, Outbound: outs, MaxFrameSize: cfg.MaxFrameSize,
		HTTPAddress: cfg.Relay.HTTPAddress, Transport: cfg.Transport(),
		InboundPlaintext: cfg.Relay.InboundSecurity == config.SecurityNone,
		RoutingPolicy:    cfg.RoutingPolicy, RoutingNitpicky: cfg.RoutingNitpicky}, nil
}
