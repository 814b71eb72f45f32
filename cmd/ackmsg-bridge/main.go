// Command ackmsg-bridge is the guaranteed bridge between the bus and an AMQP 0-9-1 broker
// (RabbitMQ), configured by the [bridge] table (see package bridge).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/ops"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const details = `
Bus → AMQP (bridge.topics): every valid bus message on those topic patterns is published to
bridge.exchange (default amq.topic) with its full topic as routing key, persistent, mandatory,
with publisher confirms; the body is the signed envelope as received, message_id the msg_id,
with fedora-messaging's headers. The bridge is a named recipient (the CN of its own
certificate: --certname, or certname, cert_prefix or name in the configuration; without one it
refuses to start, exit 2): it ACKs a message only after the broker confirmed it. A message no queue is bound for is
returned by the broker and not ACKed; the publisher's retransmission tries again.

AMQP → bus (bridge.queue, a quorum queue unless bridge.queue_type is classic): each message of
the queue (a JSON object) is published on the bus,
signed by the bridge, with the routing key as topic, to bridge.recipients when set (an acked
publish); it is acked to the broker only after that publish succeeded and every recipient
ACKed, else requeued. With bridge.dead_letter_exchange, a message that failed
bridge.max_attempts times, or is not a JSON object, goes to that exchange (and the queue
<queue>.dead); without it nothing is ever dropped. fedora-messaging's severity, sent-at and
priority headers become the envelope fields severity, sent_at and priority.

With bridge.urls naming a cluster's nodes, the bridge connects to one of them (shuffled once at
start) and, when it is lost, fails over to the next at once, publishing again what the lost
node had not confirmed; after a whole round of nodes failed it backs off (up to
bridge.reconnect_max). It stops cleanly on SIGTERM. Only connection failures are retried: a
broker that refuses the bridge (wrong user or password, no permission, unknown vhost), or a
TLS handshake refused on the certificates (the broker refuses the client certificate, or its
own is not trusted or not for its name), ends it at once with exit 1 and the reason. With
several nodes, a node that refuses is logged as an error and counted, and the bridge uses the
others; it ends (exit 1, each node's reason) once every node has refused it.
--http-address (bridge.http_address) serves /live, /ready (200 when both directions are
connected, 503 otherwise; either way the body names each direction's node and its failover
count: "ready: bus → AMQP: connected to mq1:5671, 0 failovers; AMQP → bus: ...") and /metrics
(with ackmsg_bridge_broker_node and the failover counts).`

func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-bridge", "guaranteed bridge between the bus and RabbitMQ (AMQP 0-9-1)", "[flags] | "+tools.Names()+" ...", details+toolDetails+tools.Help())
	c.Stdout, c.Stderr = stdout, stderr
	url := c.Flags.String("url", "", "the broker's AMQP URL, in place of bridge.url or bridge.urls")
	topics := c.Flags.StringSlice("topics", nil, "bus topic patterns to send to the broker, comma-separated (config bridge.topics)")
	queue := c.Flags.String("queue", "", "the broker queue to bring to the bus (config bridge.queue)")
	recipients := c.Flags.StringSlice("recipients", nil, "recipients that must ACK what comes from the broker (config bridge.recipients)")
	httpAddr := c.Flags.String("http-address", "", "serve /live, /ready and /metrics on this host:port (config bridge.http_address)")
	// A tool's name may follow global flags (ackmsg-bridge --url X queue q --bind k).
	if sub, rest := tools.Split(args, c.Flags); sub != "" {
		if _, ok := tools.Lookup(sub); ok {
			return tool(sub, rest, stdout, stderr)
		}
	}
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if len(c.Args()) > 0 {
			return cli.Usage("unexpected arguments %q", c.Args())
		}
		b := &cfg.Bridge
		if c.Flags.Changed("url") {
			b.URL, b.URLs = *url, nil // one node, in place of the configured ones
		}
		if c.Flags.Changed("topics") {
			b.Topics = *topics
		}
		if c.Flags.Changed("queue") {
			b.Queue = *queue
		}
		if c.Flags.Changed("recipients") {
			b.Recipients = *recipients
		}
		if c.Flags.Changed("http-address") {
			b.HTTPAddress = *httpAddr
		}
		if err := cfg.Validate(); err != nil {
			return cli.Usage("%v", err)
		}
		if err := c.RequireIdentity(cfg, "its ACKs and the messages it brings from the broker"); err != nil {
			return err
		}
		return serve(ctx, c, cfg)
	})
}

func serve(ctx context.Context, c *cli.Command, cfg *config.Config) error {
	log := c.Log()
	br, err := config.NewBridge(ctx, cfg, bridge.WithLogger(log))
	if err != nil {
		if errors.Is(err, bridge.ErrNothingToBridge) {
			return cli.Usage("nothing to bridge: set bridge.topics (bus → AMQP) and/or bridge.queue (AMQP → bus)")
		}
		return cli.Runtime(err)
	}
	defer br.Close()

	if addr := cfg.Bridge.HTTPAddress; addr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(br.Metrics(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		srv, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: log, Ready: func(context.Context) error {
			if ctx.Err() != nil || !br.Ready() {
				return fmt.Errorf("not connected to the broker (%s)", br.Status())
			}
			return nil
		}, ReadyDetail: func(context.Context) string { return br.Status() }})
		if err != nil {
			return cli.Runtime(fmt.Errorf("bridge.http_address: %w", err))
		}
		defer srv.Close()
		log.Info("http endpoint ready", "addr", srv.Addr().String())
	}
	log.Info("bridge running", "name", br.Name(), "topics", cfg.Bridge.Topics, "queue", cfg.Bridge.Queue)
	if err := br.Run(ctx); err != nil {
		return cli.Runtime(err)
	}
	log.Info("bridge stopped", "stats", fmt.Sprintf("%+v", br.Stats()))
	return nil
}
