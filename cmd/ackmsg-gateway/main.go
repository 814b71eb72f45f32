// Command ackmsg-gateway hands the bus to the outside on one port: it subscribes to every
// endpoints address (or the [gateway] topics) and re-publishes on gateway.bind, fedmsg-gateway's
// job.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/gateway"
)

func main() {
	c := cli.New("ackmsg-gateway",
		"re-publish the bus (or some topics) on one outward port for outside subscribers",
		"[flags]", `
Subscribes to every address of every endpoints key (but relay_inbound), or only to the topic
patterns of gateway.topics (--topic), and re-publishes every two-frame message unchanged, byte for
byte, on one PUB socket bound on gateway.bind (--bind, default tcp://*:9940, fedmsg-gateway's
port), so outside subscribers never connect to an internal endpoint. The outward socket has its
own high-water mark, gateway.hwm (--hwm, default 1000): a slow outside subscriber loses messages
at the gateway and never slows the bus. Messages with another frame count, a frame above
max_frame_size, or a topic no pattern matches are dropped and counted; with
gateway.validate_signatures = true, so is a message whose signature does not validate.
The bus side follows transport_security. The outward side follows gateway.security: "" (as
transport_security), "none" (plaintext for the public) or "curve" (CurveZMQ with this program's
certificate, --certname; only certificates of the CA whose CN is in gateway.curve_allow, or any
when it is empty, may subscribe; refused handshakes are logged and counted).
--http-address (gateway.http_address) serves /live, /ready (sockets bound, not stopping) and
/metrics (ackmsg_gateway_messages_forwarded_total, ackmsg_gateway_messages_dropped_total{reason},
ackmsg_gateway_handshakes_refused_total{reason}). Stops cleanly on SIGINT or SIGTERM.`)
	bind := c.Flags.String("bind", "", "outward address outside subscribers connect to (config gateway.bind; default "+config.DefaultGatewayBind+")")
	hwm := c.Flags.Int("hwm", 0, "outward high-water mark per outside subscriber, 0 unlimited (config gateway.hwm; default 1000)")
	topics := c.Flags.StringArray("topic", nil, "re-publish only topics matching this pattern, repeatable (config gateway.topics; default every topic)")
	httpAddr := c.Flags.String("http-address", "", "serve /live, /ready and /metrics on this host:port (config gateway.http_address; default off)")
	c.Main(os.Args[1:], func(ctx context.Context, cfg *config.Config) error {
		if err := applyFlags(c, cfg, *bind, *hwm, *topics, *httpAddr); err != nil {
			return err
		}
		gc, err := gatewayConfig(cfg)
		if err != nil {
			return cli.Runtime(err)
		}
		if cfg.Gateway.ValidateSignatures {
			if gc.Verifier, err = cfg.Verifier(false, c.Log()); err != nil {
				return cli.Runtime(fmt.Errorf("gateway.validate_signatures: %w", err))
			}
		}
		g, err := gateway.New(gc, c.Log())
		if err != nil {
			return cli.Runtime(err)
		}
		return g.Run(ctx)
	})
}

// applyFlags sets the [gateway] keys the flags given override, and checks the result.
func applyFlags(c *cli.Command, cfg *config.Config, bind string, hwm int, topics []string, httpAddr string) error {
	changed := false
	if c.Flags.Changed("bind") {
		cfg.Gateway.Bind, changed = bind, true
	}
	if c.Flags.Changed("hwm") {
		cfg.Gateway.HWM, changed = hwm, true
	}
	if c.Flags.Changed("topic") {
		cfg.Gateway.Topics, changed = topics, true
	}
	if c.Flags.Changed("http-address") {
		cfg.Gateway.HTTPAddress, changed = httpAddr, true
	}
	if !changed {
		return nil
	}
	if err := cfg.Validate(); err != nil {
		return cli.Usage("%v", err)
	}
	return nil
}

// gatewayConfig maps the configuration onto the gateway's.
func gatewayConfig(cfg *config.Config) (gateway.Config, error) {
	gc := gateway.Config{Endpoints: cfg.SubscribeEndpoints(), Topics: cfg.Gateway.Topics, Bind: cfg.Gateway.Bind,
		HWM: cfg.Gateway.HWM, MaxFrameSize: cfg.MaxFrameSize, HTTPAddress: cfg.Gateway.HTTPAddress,
		Transport: cfg.Transport(), Outward: cfg.GatewayOutward()}
	return gc, gc.Validate()
}
