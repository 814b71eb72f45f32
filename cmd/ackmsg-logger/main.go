// Command ackmsg-logger publishes messages from the shell through the relay, as fedmsg-logger
// does: each stdin line as {"log": line}, or one --message, or JSON input.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/cmd/internal/outboxctl"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/publisher"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// help is ackmsg-logger's --help text after the flags.
const help = `
Without --message, every line of standard input is stripped of surrounding white space and
published as {"log": "<line>"} (blank lines too); with --json-input the whole of standard input
is one JSON document. With --message exactly one message is sent (parsed as JSON with
--json-input). The full topic is <topic_prefix>.<environment>.<modname>.<topic>.

Messages go through the relay (active mode: connect to relay_inbound) and are signed when
sign_messages is set, with the certificate found as certnames["<cert-prefix>.<short hostname>"]
unless certname is set. Before the first message the logger waits until the relay has subscribed,
so nothing is sent into the void; it fails (exit 1) if the relay does not answer within 5 s. At
exit it flushes what it sent (bounded by zmq_linger) before closing.

Guaranteed delivery: with --recipients (or recipients configured for the topic), every message is
published with the ACK marker, and the logger waits until each named recipient has sent an ACK
signed by its own certificate (CN = the recipient's name), retransmitting meanwhile. If one is
missing after --ack-timeout, it exits 3 and names the missing recipients on stderr; later lines
are not sent. With --log-level info it logs who ACKed and how long it took.

Durable hand-off: with --outbox the messages (which need recipients, given or configured) are
built, signed and stored in the outbox ([outbox] store in the configuration), and the logger
exits 0 as soon as they are durably stored, printing each msg_id; ackmsg-outbox serve delivers
them, with the same signed-ACK rule, across restarts, until they expire into the dead letters.
It exits 1 when a message could not be stored (nothing is reported stored that is not).

--passive (with --name) binds endpoints[name] instead of going through the relay, as a service
publishes: subscribers connect to it, and nothing waits for them. With persistent_store in the
configuration it numbers its messages (seq_id, signed), records each one before sending it, and
serves replay_endpoints[name] for as long as it runs, so consumers that missed a message fetch it
(docs/replay.md). Fed from a pipe or a FIFO, it is a long-running publisher for shell scripts.

SIGTERM or SIGINT ends standard input as its end would, even while the writer keeps a FIFO open:
every line already read is published and flushed (bounded by zmq_linger), and the logger exits 0;
it exits 3 when the signal cut short a wait for ACKs (that message is not confirmed).`

// flags are ackmsg-logger's own flags.
type flags struct {
	msgText, topic, modname, ackTimeout *string
	jsonInput, passive, toOutbox        *bool
	recipients                          *[]string
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-logger", "publish log lines or JSON messages from the shell", "[flags]", help)
	c.Stdout, c.Stderr, c.Stdin = stdout, stderr, stdin
	c.SetLogLevel("warn")
	var f flags
	f.msgText = c.Flags.String("message", "", "send exactly this one message instead of reading standard input")
	f.jsonInput = c.Flags.Bool("json-input", false, "parse the message (or all of standard input) as one JSON document")
	f.topic = c.Flags.String("topic", "log", "topic suffix")
	f.modname = c.Flags.String("modname", "logger", "module name: the topic part after the environment")
	f.recipients = c.Flags.StringSlice("recipients", nil, "CNs that must ACK every message: a comma list, or repeat the flag (default: config recipients for the topic)")
	f.ackTimeout = c.Flags.String("ack-timeout", "", "how long to wait for the ACKs of each message: seconds (3, 0.5) or a duration (2s) (default: config ack_timeout)")
	f.passive = c.Flags.Bool("passive", false, "bind endpoints[--name] instead of connecting to the relay (numbers messages and serves replay with persistent_store)")
	f.toOutbox = c.Flags.Bool("outbox", false, "store the messages in the outbox and exit once they are durable (ackmsg-outbox serve delivers them)")
	c.SetCertPrefix(cli.ShellCertPrefix)

	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if err := f.apply(c, cfg); err != nil {
			return err
		}
		// A single message is parsed before connecting, so bad input fails with exit 2 and sends
		// nothing; stdin lines are published as they arrive, so a pipe from tail -f works.
		var single []any
		if c.Flags.Changed("message") || *f.jsonInput {
			b, err := singleBody(c.Stdin, c.Flags.Changed("message"), *f.msgText, *f.jsonInput)
			if err != nil {
				return err
			}
			single = []any{b}
		}
		send, closer, err := f.sender(ctx, c, cfg)
		if err != nil {
			return err
		}
		defer closer()
		if err := feed(c, single, send); err != nil {
			return err
		}
		if err := closer(); err != nil {
			return cli.Runtime(err)
		}
		return nil
	})
}

// apply checks the flags and applies them to cfg: active through the relay, or passive on
// endpoints[name]; the ACK timeout.
func (f *flags) apply(c *cli.Command, cfg *config.Config) error {
	if len(c.Args()) > 0 {
		return cli.Usage("unexpected arguments %q", c.Args())
	}
	if *f.passive {
		if cfg.Name == "" || cfg.Name == config.RelayInboundKey {
			return cli.Usage("--passive needs --name (an endpoints key to bind)")
		}
		if *f.toOutbox {
			return cli.Usage("--passive and --outbox exclude each other: ackmsg-outbox serve sends what the outbox holds")
		}
		cfg.Active = false
	} else {
		cfg.Active = true
		cfg.Name = config.RelayInboundKey
	}
	if *f.ackTimeout != "" {
		d, err := cli.ParseSeconds(*f.ackTimeout)
		if err != nil || d == 0 {
			return cli.Usage("--ack-timeout %s: want a positive number of seconds or a duration", *f.ackTimeout)
		}
		cfg.AckTimeout = config.Seconds(d.Seconds())
	}
	for _, r := range *f.recipients {
		if strings.TrimSpace(r) == "" {
			return cli.Usage("--recipients: empty name in %q", strings.Join(*f.recipients, ","))
		}
	}
	return nil
}

// sender opens what the messages go through: the outbox (--outbox), an acked publisher (with
// recipients), or a plain one. closer flushes and closes it; calling it again does nothing.
func (f *flags) sender(ctx context.Context, c *cli.Command, cfg *config.Config) (send func(body any) error, closer func() error, err error) {
	switch {
	case *f.toOutbox:
		return f.outboxSender(ctx, c, cfg)
	case len(*f.recipients) > 0 || len(cfg.Recipients) > 0:
		return f.ackSender(ctx, c, cfg)
	}
	pub, err := config.NewPublisher(ctx, cfg, publisher.WithLogger(c.Log()))
	if err != nil {
		return nil, nil, cli.Runtime(err)
	}
	send = func(body any) error {
		m, err := pub.Publish(ctx, *f.topic, body, publisher.Modname(*f.modname))
		if err != nil {
			return cli.Runtime(err)
		}
		c.Log().Info("published", "topic", m.Topic(), "msg_id", m.MsgID())
		return nil
	}
	return send, pub.Close, nil
}

// outboxSender stores each message in the outbox and prints its msg_id.
func (f *flags) outboxSender(ctx context.Context, c *cli.Command, cfg *config.Config) (send func(body any) error, closer func() error, err error) {
	if len(*f.recipients) == 0 && len(cfg.Recipients) == 0 {
		return nil, nil, cli.Usage("--outbox needs --recipients (or recipients in the configuration): the outbox delivers to named recipients")
	}
	if c.Flags.Changed("ack-timeout") {
		return nil, nil, cli.Usage("--ack-timeout has no effect with --outbox: a stored message is tried until outbox.expiry")
	}
	store, err := outboxctl.Open(ctx, &cfg.Outbox)
	if err != nil {
		return nil, nil, cli.Runtime(err)
	}
	ob, err := config.NewOutbox(cfg, store, outbox.WithLogger(c.Log()), outbox.WithBuilderOptions(publisher.WithModname(*f.modname)))
	if err != nil {
		store.Close()
		return nil, nil, cli.Runtime(err)
	}
	opts := []ack.PublishOption{ack.Modname(*f.modname)}
	if len(*f.recipients) > 0 {
		opts = append(opts, ack.To(*f.recipients...))
	}
	send = func(body any) error {
		id, err := ob.Publish(ctx, *f.topic, body, opts...)
		if errors.Is(err, ack.ErrNoRecipients) {
			return cli.Usage("%v", err)
		}
		if err != nil {
			return cli.Runtime(err)
		}
		fmt.Fprintln(c.Stdout, id)
		return nil
	}
	return send, ob.Close, nil
}

// ackSender publishes each message acked and waits for its recipients' ACKs.
func (f *flags) ackSender(ctx context.Context, c *cli.Command, cfg *config.Config) (send func(body any) error, closer func() error, err error) {
	ap, err := config.NewAckPublisher(ctx, cfg, ack.WithLogger(c.Log()))
	if err != nil {
		return nil, nil, cli.Runtime(err)
	}
	opts := []ack.PublishOption{ack.Modname(*f.modname)}
	if len(*f.recipients) > 0 {
		opts = append(opts, ack.To(*f.recipients...))
	}
	send = func(body any) error {
		start := time.Now()
		fu, err := ap.PublishAsync(ctx, *f.topic, body, opts...)
		if err == nil {
			<-fu.Finished()
			err = fu.Err()
		}
		if errors.Is(err, ack.ErrTimeout) || (err != nil && ctx.Err() != nil) {
			// Not confirmed: the deadline passed, or SIGTERM/SIGINT cut the wait short.
			return &cli.ExitError{Code: cli.ExitTimeout, Err: err}
		}
		if err != nil {
			return cli.Runtime(err)
		}
		c.Log().Info("all recipients ACKed", "msg_id", fu.Message().MsgID(), "topic", fu.Message().Topic(),
			"acked_by", strings.Join(fu.Acked(), ","), "took", time.Since(start).Round(10*time.Microsecond),
			"sends", fu.Attempts())
		return nil
	}
	return send, ap.Close, nil
}

// feed sends the single message, or every line of standard input as {"log": line}.
func feed(c *cli.Command, single []any, send func(body any) error) error {
	if single != nil {
		return send(single[0])
	}
	sc := bufio.NewScanner(c.Stdin)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	sc.Split(scanPythonLines)
	for sc.Scan() {
		if err := send(map[string]any{"log": pythonStrip(sc.Text())}); err != nil {
			return err
		}
	}
	// SIGTERM or SIGINT ends the input as its end would: what was read is sent (above, an
	// unterminated last line too), then flushed by closer.
	if err := sc.Err(); errors.Is(err, cli.ErrStopped) {
		c.Log().Info("input ended by a signal: every line read was published")
	} else if err != nil {
		return cli.Usage("reading standard input: %v", err)
	}
	return nil
}

// singleBody returns the one message of --message or --json-input.
func singleBody(stdin io.Reader, haveMessage bool, text string, jsonInput bool) (any, error) {
	if !jsonInput {
		return map[string]any{"log": text}, nil // not stripped, as fedmsg-logger
	}
	what, data := "--message", []byte(text)
	if !haveMessage {
		var err error
		if data, err = io.ReadAll(stdin); err != nil {
			return nil, cli.Runtime(fmt.Errorf("reading standard input: %w", err))
		}
		what = "standard input"
	}
	v, err := message.Unmarshal(data)
	if err != nil {
		return nil, cli.Usage("%s is not valid JSON: %v", what, err)
	}
	return v, nil
}

// pythonStrip strips what Python's str.strip() strips (fedmsg-logger strips each line with it):
// Go's unicode.IsSpace plus the separators U+001C to U+001F.
func pythonStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// scanPythonLines splits lines as Python's text-mode stdin does (universal newlines): "\n",
// "\r\n" and a lone "\r" each end a line.
func scanPythonLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need the next byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
