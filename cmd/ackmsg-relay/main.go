// Command ackmsg-relay forwards messages from active publishers (ackmsg-logger, scripts), which
// connect to relay_inbound, to the subscribers of endpoints.relay_outbound.
package main

import (
	"context"
	"os"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/cli"
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
		r, err := relay.New(cfg, c.Log())
		if err != nil {
			return cli.Runtime(err)
		}
		return r.Run(ctx)
	})
}
