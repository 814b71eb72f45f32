package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

// tools are ackmsg-bridge's broker tools, its subcommands.
var tools = cli.Subs{Command: "ackmsg-bridge", List: []cli.Sub{
	{Name: "queue", Args: "NAME --bind KEY... [flags]", Help: `declare a durable queue NAME of bridge.queue_type (default quorum) with
		bridge.queue_arguments, bound to the exchange with the routing-key
		patterns of --bind (idempotent)`},
	{Name: "send", Args: "KEY JSON [flags]", Help: `publish JSON (an object) to the exchange with routing key KEY, persistent
		and mandatory, and wait for the broker's confirm: exit 1 when no queue is
		bound for KEY`},
	{Name: "get", Args: "NAME [--count N] [--timeout SECONDS] [flags]", Help: `print the bodies of NAME's messages, one per line, acking each after it
		is printed; exit 3 when fewer than --count came in --timeout`},
}}

const toolDetails = `

Broker tools, for shell scripts and a first look (they use bridge.url or the first node of
bridge.urls that answers, with the bridge's TLS and login, and bridge.exchange; the flags may
come before or after the tool's name):
`

func tool(sub string, args []string, stdout, stderr io.Writer) int {
	c := tools.New(sub, "broker tool of ackmsg-bridge", "")
	c.Stdout, c.Stderr = stdout, stderr
	url := c.Flags.String("url", "", "the broker's AMQP URL, in place of bridge.url or bridge.urls")
	exchange := c.Flags.String("exchange", "", "the topic exchange (config bridge.exchange)")
	var bind *[]string
	count, timeoutText := new(int), new(string)
	switch sub {
	case "queue":
		bind = c.Flags.StringArray("bind", nil, "a routing-key pattern to bind; repeat for several")
	case "get":
		count = c.Flags.Int("count", 1, "messages to get")
		timeoutText = c.Flags.String("timeout", "30", "give up after this long: seconds or a duration")
	}
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		b := cfg.Bridge
		if c.Flags.Changed("url") {
			b.URL, b.URLs = *url, nil // one node, in place of the configured ones
		}
		if c.Flags.Changed("exchange") {
			b.Exchange = *exchange
		}
		want := map[string]int{"queue": 1, "send": 2, "get": 1}[sub]
		if len(c.Args()) != want {
			return cli.Usage("want %s %s", sub, c.Usage)
		}
		var timeout time.Duration
		switch sub {
		case "send":
			v, err := message.Unmarshal([]byte(c.Args()[1]))
			if _, ok := v.(map[string]any); err != nil || !ok {
				return cli.Usage("the body must be a JSON object: %q", c.Args()[1])
			}
		case "get":
			t, err := cli.ParseSeconds(*timeoutText)
			if err != nil || t <= 0 {
				return cli.Usage("--timeout %s: want a positive number of seconds or a duration", *timeoutText)
			}
			if *count < 1 {
				return cli.Usage("--count %d: want at least 1", *count)
			}
			timeout = t
		}
		cfg.Bridge = b
		bc := cfg.BridgeBroker()
		conn, _, err := bridge.Dial(bc, "ackmsg-bridge "+sub)
		if err != nil {
			return cli.Runtime(fmt.Errorf("connecting to the broker: %w", err))
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return cli.Runtime(err)
		}
		defer ch.Close()
		switch sub {
		case "queue":
			return declare(ch, b.Exchange, c.Args()[0], *bind, bc.QueueArgs())
		case "send":
			return send(ctx, ch, b.Exchange, c.Args()[0], c.Args()[1])
		default:
			return get(ctx, ch, c.Args()[0], *count, timeout, stdout)
		}
	})
}

func declare(ch *amqp.Channel, exchange, queue string, keys []string, args amqp.Table) error {
	if len(keys) > 0 && (len(exchange) < 4 || exchange[:4] != "amq.") {
		if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return cli.Runtime(fmt.Errorf("declaring exchange %q: %w", exchange, err))
		}
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		return cli.Runtime(fmt.Errorf("declaring queue %q (%v): %w", queue, map[string]any(args), err))
	}
	for _, k := range keys {
		if err := ch.QueueBind(queue, k, exchange, false, nil); err != nil {
			return cli.Runtime(fmt.Errorf("binding %q to %q with %q: %w", queue, exchange, k, err))
		}
	}
	return nil
}

func send(ctx context.Context, ch *amqp.Channel, exchange, key, body string) error {
	if err := ch.Confirm(false); err != nil {
		return cli.Runtime(err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Timestamp: time.Now(),
		Headers:   bridge.FedoraMessagingHeaders(time.Now()),
		MessageId: newID(), Body: []byte(body)})
	if err != nil {
		return cli.Runtime(err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return cli.Runtime(err)
	}
	select {
	case r := <-returns: // a return comes before its confirm
		return cli.Runtime(fmt.Errorf("unroutable: no queue is bound to %q for %q (%d %s)", exchange, key, r.ReplyCode, r.ReplyText))
	default:
	}
	if !ok {
		return cli.Runtime(errors.New("the broker nacked the message"))
	}
	return nil
}

func get(ctx context.Context, ch *amqp.Channel, queue string, count int, timeout time.Duration, stdout io.Writer) error {
	if err := ch.Qos(1, 0, false); err != nil {
		return cli.Runtime(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return cli.Runtime(fmt.Errorf("consuming %q: %w", queue, err))
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for n := 0; n < count; n++ {
		select {
		case d, ok := <-ds:
			if !ok {
				return cli.Runtime(errors.New("the broker closed the channel"))
			}
			if _, err := fmt.Fprintf(stdout, "%s\n", d.Body); err != nil {
				return cli.Runtime(err)
			}
			if err := d.Ack(false); err != nil {
				return cli.Runtime(err)
			}
		case <-t.C:
			return &cli.ExitError{Code: cli.ExitTimeout, Err: fmt.Errorf("%d of %d messages within %s", n, count, timeout)}
		case <-ctx.Done():
			return cli.Runtime(ctx.Err())
		}
	}
	return nil
}

func newID() string { return message.NewMsgID(time.Now()) }
