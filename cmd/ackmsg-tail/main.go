// Command ackmsg-tail prints the messages on the bus, for people and for scripts.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/spf13/pflag"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// help is the command's description in --help.
const help = `
Subscribes to every endpoint in the configuration except relay_inbound (including the relay's
outbound side, where ackmsg-logger's messages arrive) with the --topic prefix, and prints each
valid message: by default one readable line (time, topic, msg_id, signer or user, body), with
--json the envelope as one line of canonical JSON (for jq and scripts).

Invalid messages (bad frames, bad JSON, failed signature checks with --validate) are dropped
and logged on stderr; the tail keeps going. Connection changes are logged at info level.

For scripts: --count N exits 0 after N messages; --timeout D exits when D has passed, with
status 1 if --count was given and fewer messages arrived.

With --ack the tail is an acking consumer: messages that ask for an ACK (they carry
gilmsg_version) are ACKed, signed with the tail's own certificate (--certname, or certname,
cert_prefix or name in the configuration), whose CN is the name publishers list as a recipient;
without one it refuses to start (exit 2) rather than sign as the shell tools' shell.<host>.
Signatures are then always validated: nothing unverified is
ACKed. By default a message is ACKed after it was printed; --ack-on-receipt ACKs before (gilmsg's
behaviour). ACKs are published from endpoints[name] when --name is set, otherwise through the
relay.

With or without --ack, a message that asks for an ACK and is retransmitted (same msg_id) is
printed once, and ACKs themselves (topics ending in .gilmsg.ack) are overlay traffic, dropped
unread (not decoded, not verified) unless --show-acks is given; neither counts towards --count.
A message whose signed ack_recipients names other recipients is printed but not ACKed.

fedmsg-tail's formatters: --pretty prints each envelope as indented JSON without the certificate
and signature and with the timestamp as a date; --really-pretty does the same in colour when
standard output is a terminal (NO_COLOR turns colour off); --terse prints one short line (topic,
sender, body cut to 100 characters; ackmsg has no fedmsg.meta, so no natural-language text);
--query a.b,c prints the values at those dotted paths of the envelope, joined with ", ". They
exclude each other and --json. --users and --packages keep only messages naming one of the
given users or packages: the envelope's username or signer, or a string value in the body under a
key such as user, username, agent, owner (users) or package, packages, name under package,
component (packages), at any depth. This is a heuristic in place of fedmsg.meta's per-service
processors, and says so.

Catching up (docs/replay.md): messages from a publisher that numbers them (persistent_store)
carry a seq_id, and replay_endpoints names its replay endpoint. The tail follows the seq_ids of
each such publisher (by the endpoints key they arrive under); on a gap it asks the replay
endpoint for the missing messages, validates them like live ones and prints them in order,
before the message that revealed the gap. With --state FILE (config replay_state) the last
seq_id printed per publisher is kept in FILE, so a tail started again first prints what it
missed while it was down, then continues live. --from-start makes a publisher FILE does not
know yet start at the beginning of its retained history instead of at the next live message.
What cannot be recovered (beyond the publisher's retention, endpoint down for replay_timeout)
is logged on stderr at error level with the number of messages missed; nothing is skipped
silently. On SIGTERM or after --count the state is written last: a restarted tail prints every
message once. After a kill -9 it may print again the last message it printed (the state is
written after each message, before the next is printed).`

func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-tail", "print the messages on the bus", "[flags]", help)
	c.Stdout, c.Stderr = stdout, stderr
	f := &tailFlags{}
	f.register(c.Flags)
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error { return f.tail(ctx, c, cfg, stdout) })
}

// tailFlags are the command's flags.
type tailFlags struct {
	topic, include, exclude, timeout, query, users, packages, state                                   string
	validate, noValidate, asJSON, ack, ackOnReceipt, showAcks, pretty, reallyPretty, terse, fromStart bool
	count                                                                                             int
}

func (f *tailFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "subscribe to topics starting with this prefix (all by default)")
	fs.StringVar(&f.include, "include", "", "only print messages whose topic matches this regexp")
	fs.StringVar(&f.exclude, "exclude", "_heartbeat", "do not print messages whose topic matches this regexp")
	fs.BoolVar(&f.validate, "validate", false, "validate signatures (default: config validate_signatures)")
	fs.BoolVar(&f.noValidate, "no-validate", false, "do not validate signatures")
	fs.BoolVar(&f.asJSON, "json", false, "print each envelope as one line of JSON")
	fs.IntVar(&f.count, "count", 0, "exit 0 after this many messages (0: never)")
	fs.StringVar(&f.timeout, "timeout", "", "exit after this long: seconds (2.5) or a duration (1m)")
	fs.BoolVar(&f.ack, "ack", false, "ACK messages that ask for it, as the CN of the tail's own certificate (--certname)")
	fs.BoolVar(&f.ackOnReceipt, "ack-on-receipt", false, "with --ack: ACK before printing instead of after")
	fs.BoolVar(&f.showAcks, "show-acks", false, "print ACKs too (topics ending in .gilmsg.ack)")
	fs.BoolVar(&f.pretty, "pretty", false, "print each envelope as indented JSON, without certificate and signature")
	fs.BoolVar(&f.reallyPretty, "really-pretty", false, "like --pretty, in colour when standard output is a terminal")
	fs.BoolVar(&f.terse, "terse", false, "print one short line per message")
	fs.StringVar(&f.query, "query", "", "print the values at these comma-separated dotted paths (msg.user, topic)")
	fs.StringVar(&f.users, "users", "", "only messages naming one of these comma-separated users")
	fs.StringVar(&f.packages, "packages", "", "only messages naming one of these comma-separated packages")
	fs.StringVar(&f.state, "state", "", "keep the last seq_id printed per publisher in this file and catch up from it at start (config replay_state)")
	fs.BoolVar(&f.fromStart, "from-start", false, "with --state: a publisher the file does not know starts at its oldest retained message")
}

// tail checks the flags, subscribes and prints until --count, --timeout or ctx's end.
func (f *tailFlags) tail(ctx context.Context, c *cli.Command, cfg *config.Config, stdout io.Writer) error {
	inc, exc, timeout, err := f.check(c, cfg)
	if err != nil {
		return err
	}
	if f.timeout != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	format, err := newFormatter(f.asJSON, f.pretty, f.reallyPretty, f.terse, f.query, isTerminal(stdout))
	if err != nil {
		return cli.Usage("%v", err)
	}
	keep := newFilter(f.users, f.packages)
	seen := newRecent(cfg.DedupeWindow)
	skip := func(d consumer.Delivery) bool {
		drop := (inc != nil && !inc.MatchString(d.Topic)) || (exc != nil && exc.MatchString(d.Topic)) ||
			(!f.showAcks && isAck(d)) || !keep(d)
		if !drop && d.Message.Has(message.FieldGilmsgVersion) {
			// A retransmission: the acking subscriber already hides those it delivered, a
			// plain one does not.
			drop = !seen.add(d.Message.MsgID())
		}
		return drop
	}
	next, closeSub, err := subscribe(ctx, c, cfg, f.topic, f.ack, f.ackOnReceipt, f.fromStart, f.showAcks)
	if err != nil {
		return cli.Runtime(err)
	}
	defer closeSub()
	// A reader of stdout that stopped reading (a pipe into a stuck program) must not keep
	// the tail alive after SIGTERM: a write still blocked zmq_linger after it gives up.
	out := cli.StopWriter(ctx, stdout, time.Duration(cfg.ZMQLinger)*time.Millisecond)
	printed := 0
	for f.count == 0 || printed < f.count {
		d, done, err := next()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && f.count > 0 {
				return cli.Runtime(fmt.Errorf("received %d of %d messages within %s", printed, f.count, timeout))
			}
			if ctx.Err() != nil {
				return nil
			}
			return cli.Runtime(err)
		}
		if skip(d) {
			done(nil)
			continue
		}
		err = format(out, d)
		done(err) // not ACKed unless printed
		if errors.Is(err, cli.ErrStopped) {
			return nil
		}
		if err != nil {
			return cli.Runtime(err)
		}
		printed++
	}
	return nil
}

// check refuses flags that make no sense (together, or with cfg), in the order the usage
// errors have always come, and applies to cfg what the flags override.
func (f *tailFlags) check(c *cli.Command, cfg *config.Config) (inc, exc *regexp.Regexp, timeout time.Duration, err error) {
	if len(c.Args()) > 0 {
		return nil, nil, 0, cli.Usage("unexpected arguments %q", c.Args())
	}
	if f.validate && f.noValidate {
		return nil, nil, 0, cli.Usage("--validate and --no-validate exclude each other")
	}
	if f.validate {
		cfg.ValidateSignatures = true
	}
	if f.noValidate {
		cfg.ValidateSignatures = false
	}
	if f.count < 0 {
		return nil, nil, 0, cli.Usage("--count %d: want 0 or more", f.count)
	}
	if f.include != "" {
		if inc, err = regexp.Compile(f.include); err != nil {
			return nil, nil, 0, cli.Usage("--include: %v", err)
		}
	}
	if f.exclude != "" {
		if exc, err = regexp.Compile(f.exclude); err != nil {
			return nil, nil, 0, cli.Usage("--exclude: %v", err)
		}
	}
	if f.timeout != "" {
		if timeout, err = cli.ParseSeconds(f.timeout); err != nil {
			return nil, nil, 0, cli.Usage("--timeout %v", err)
		}
	}
	if f.state != "" {
		cfg.ReplayState = f.state
	}
	if f.fromStart && cfg.ReplayState == "" {
		return nil, nil, 0, cli.Usage("--from-start needs --state (or config replay_state)")
	}
	if f.ackOnReceipt && !f.ack {
		return nil, nil, 0, cli.Usage("--ack-on-receipt needs --ack")
	}
	if f.ack {
		if err := c.RequireIdentity(cfg, "its ACKs (--ack)"); err != nil {
			return nil, nil, 0, err
		}
	}
	return inc, exc, timeout, nil
}

// subscribe returns a function yielding the next message and a function reporting it handled
// (which ACKs it when acking after processing).
// Unless showAcks, ACKs are dropped unread, before their signatures are checked: on a bus with
// many acking consumers they are most of the traffic.
func subscribe(ctx context.Context, c *cli.Command, cfg *config.Config, topic string, doAck, onReceipt, fromStart, showAcks bool) (
	next func() (consumer.Delivery, func(error), error), closeFn func() error, err error) {
	if !doAck {
		opts := []consumer.Option{consumer.WithLogger(c.Log())}
		if fromStart {
			opts = append(opts, consumer.WithReplayFromStart())
		}
		if !showAcks {
			opts = append(opts, consumer.WithSkip(func(topic []byte) bool { return bytes.HasSuffix(topic, []byte(ackSuffix)) }))
		}
		sub, err := config.NewSubscriber(cfg, topic, opts...)
		if err != nil {
			return nil, nil, err
		}
		return func() (consumer.Delivery, func(error), error) {
			d, err := sub.Next(ctx)
			return d, func(error) {}, err
		}, sub.Close, nil
	}
	if cfg.Name == "" {
		cfg.Active = true // ACKs go through the relay, like the logger's messages
	}
	mode := ack.AfterProcessing
	if onReceipt {
		mode = ack.OnReceipt
	}
	opts := []ack.Option{ack.WithMode(mode), ack.WithSubscriberLogger(c.Log())}
	if fromStart {
		opts = append(opts, ack.WithReplayFromStart())
	}
	if showAcks {
		opts = append(opts, ack.WithAckMessages())
	}
	sub, err := config.NewAckSubscriber(cfg, topic, opts...)
	if err != nil {
		return nil, nil, err
	}
	return func() (consumer.Delivery, func(error), error) {
		d, err := sub.Next(ctx)
		if err != nil {
			return consumer.Delivery{}, nil, err
		}
		return d.Delivery, d.Done, nil
	}, sub.Close, nil
}
