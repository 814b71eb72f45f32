package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

// Option configures Run and Main.
type Option func(*options)

type options struct {
	goConsumers map[string]consumer.Consumer
	order       []string
	log         *slog.Logger
	onHTTP      func(net.Addr) // tests: where the HTTP endpoint listens
	onHub       func(runner)   // tests: the hub, once built
}

// WithConsumer compiles a Go consumer into the hub under name. Like a fedmsg consumer, it runs
// only when the configuration enables it: a [[hub.consumers]] table with this name and kind "go"
// (whose topics, when given, replace the consumer's own; workers, inbox, ack, overflow and
// timeout apply as for any consumer).
func WithConsumer(name string, c consumer.Consumer) Option {
	return func(o *options) {
		if o.goConsumers == nil {
			o.goConsumers = make(map[string]consumer.Consumer)
		}
		if _, dup := o.goConsumers[name]; !dup {
			o.order = append(o.order, name)
		}
		o.goConsumers[name] = c
	}
}

// WithLogger sets the logger. Default: slog.Default() (Main logs to stderr).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// runner is what Run needs of consumer.Hub and ack.Hub.
type runner interface {
	Add(consumer.Consumer, consumer.ConsumerConfig) error
	Run(context.Context) error
	Ready() bool
	Stats() consumer.HubStats
}

// Run runs a hub for cfg until ctx ends, then shuts it down gracefully (see the package
// documentation), and returns nil; or it returns the error that kept it from starting or
// stopped it. It builds the enabled [[hub.consumers]] (exec and file ones from their tables, go
// ones from WithConsumer), subscribes, and serves hub.http_address when set.
func Run(ctx context.Context, cfg *config.Config, opts ...Option) error {
	if cfg == nil {
		return errors.New("hub: nil config")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	log := cmp.Or(o.log, slog.Default())
	c := *cfg
	cfg = &c
	if !cfg.Active && cfg.Name == "" {
		cfg.Active = true // ACKs go through the relay
	}

	consumers, closers, err := build(cfg, &o, log)
	defer func() {
		for _, cl := range closers {
			if err := cl.Close(); err != nil {
				log.Warn("closing a consumer", "error", err)
			}
		}
	}()
	if err != nil {
		return err
	}

	e, m, err := newEngine(cfg, log)
	if err != nil {
		return err
	}
	h := e.h
	for _, bc := range consumers {
		if err := h.Add(bc.c, bc.cc); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	if o.onHub != nil {
		o.onHub(h)
	}

	if addr := cfg.Hub.HTTPAddress; addr != "" {
		srv, err := startServer(addr, m, log)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Close(); err != nil {
				log.Warn("http endpoint shutdown", "error", err)
			}
		}()
		if o.onHTTP != nil {
			o.onHTTP(srv.Addr())
		}
	}
	if err := h.Run(ctx); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// engine is the hub engine Run drives, acking (sign_messages) or plain, and the bus figures its
// metrics read.
type engine struct {
	h         runner
	acker     *ack.Hub // nil for a plain hub
	plainAcks atomic.Uint64
	plain     struct {
		sync.Mutex
		s *consumer.Subscriber
	}
}

// newEngine builds the hub engine for cfg, observed by the metrics it returns.
func newEngine(cfg *config.Config, log *slog.Logger) (*engine, *metrics, error) {
	e := &engine{}
	m := newMetrics(func() consumer.HubStats { return e.h.Stats() }, e.busStats, func() bool { return e.h.Ready() })
	hubOpts := []consumer.HubOption{consumer.WithHubLogger(log), consumer.WithObserver(m.observe)}
	var err error
	if cfg.SignMessages {
		e.acker, err = config.NewAckHub(cfg, hubOpts...)
		e.h = e.acker
	} else {
		log.Warn("sign_messages is off: the hub cannot sign ACKs, so it consumes without ACKing")
		var ch *consumer.Hub
		// config.NewHub gives the source's Subscriber its verifier (spec.Options).
		ch, err = config.NewHub(cfg, append(hubOpts, consumer.WithSource(e.plainSource(cfg)))...)
		e.h = ch
	}
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	return e, m, nil
}

// busStats are the bus figures of the metrics: the acking hub's, or the plain subscriber's.
func (e *engine) busStats() busStats {
	if e.acker != nil {
		st := e.acker.AckStats()
		return busStats{Dropped: st.Dropped, Acked: st.Acked, Reacked: st.Reacked, Duplicates: st.Duplicates,
			AckErrors: st.AckErrors, AcksSeen: e.acker.AcksSeen(), acking: true, Replay: st.Replay}
	}
	e.plain.Lock()
	defer e.plain.Unlock()
	if e.plain.s == nil {
		return busStats{}
	}
	st := e.plain.s.Stats()
	return busStats{Dropped: st.Dropped, AcksSeen: e.plainAcks.Load(), Replay: st.Replay}
}

// plainSource is the source of a plain hub: a Subscriber that counts and drops the ACKs.
func (e *engine) plainSource(cfg *config.Config) func(context.Context, consumer.SourceSpec) (consumer.Source, error) {
	return func(_ context.Context, spec consumer.SourceSpec) (consumer.Source, error) {
		ackTopic := message.FullTopic(cfg.TopicPrefix, cfg.Environment, "gilmsg", "ack")
		// ACKs are counted and dropped unread, as an acking hub does.
		skipAcks := consumer.WithSkip(func(topic []byte) bool {
			if string(topic) != ackTopic {
				return false
			}
			e.plainAcks.Add(1)
			return true
		})
		s, err := consumer.NewSubscriber(cfg.SubscriberConfig(), "", append([]consumer.Option{consumer.WithLogger(spec.Logger), consumer.WithPrefixes(spec.Prefixes...), skipAcks}, spec.Options...)...)
		if err != nil {
			return nil, err
		}
		e.plain.Lock()
		e.plain.s = s
		e.plain.Unlock()
		return plainSource{Subscriber: s, ackTopic: ackTopic, acks: &e.plainAcks}, nil
	}
}

// plainSource feeds a non-acking hub from a Subscriber, without the ACK traffic (as ack.NewHub).
type plainSource struct {
	*consumer.Subscriber
	ackTopic string
	acks     *atomic.Uint64
}

func (p plainSource) Next(ctx context.Context) (consumer.Incoming, error) {
	for {
		d, err := p.Subscriber.Next(ctx)
		if err != nil || d.Topic != p.ackTopic {
			return consumer.Incoming{Delivery: d}, err
		}
		p.acks.Add(1)
	}
}

type built struct {
	c  consumer.Consumer
	cc consumer.ConsumerConfig
}

// build makes the enabled consumers; closers must be closed even when it fails.
func build(cfg *config.Config, o *options, log *slog.Logger) (out []built, closers []io.Closer, err error) {
	enabled := map[string]bool{}
	for _, hc := range cfg.Hub.Consumers {
		if !hc.Enabled {
			log.Info("consumer disabled in the configuration", "consumer", hc.Name)
			continue
		}
		enabled[hc.Name] = true
		var c consumer.Consumer
		switch hc.Kind {
		case config.HubKindExec:
			c, err = NewExec(hc, log)
		case config.HubKindFile:
			var f *File
			if f, err = NewFile(hc); err == nil {
				closers = append(closers, f)
				c = f
			}
		case config.HubKindGo:
			var ok bool
			if c, ok = o.goConsumers[hc.Name]; !ok {
				have := "none"
				if len(o.order) > 0 {
					have = strings.Join(o.order, ", ")
				}
				err = fmt.Errorf("hub: consumer %q is of kind go, but this hub has no Go consumer of that name (it has: %s)", hc.Name, have)
			}
		default:
			err = fmt.Errorf("hub: consumer %q: unknown kind %q", hc.Name, hc.Kind)
		}
		if err != nil {
			return nil, closers, err
		}
		out = append(out, built{c: c, cc: hc.ConsumerConfig()})
	}
	for _, name := range o.order {
		if !enabled[name] {
			log.Warn("Go consumer not enabled: add a [[hub.consumers]] table with this name and kind \"go\"", "consumer", name)
		}
	}
	if len(out) == 0 {
		return nil, closers, errors.New("hub: no enabled consumers: declare them as [[hub.consumers]] tables (see --help)")
	}
	return out, closers, nil
}

// Main is the whole hub program: it parses the command line (the common flags, plus
// --http-address), loads the configuration, runs the hub until SIGTERM or SIGINT and exits
// with the documented status. A team builds its own hub binary with Go consumers in a few
// lines:
//
//	func main() {
//		hub.Main(hub.WithConsumer("orders", ordersConsumer{}))
//	}
func Main(opts ...Option) {
	os.Exit(runMain(filepath.Base(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr, opts...))
}

func runMain(name string, args []string, stdout, stderr io.Writer, opts ...Option) int {
	c := cli.New(name, "run consumers that ACK what they processed", "[flags]", helpText)
	c.Stdout, c.Stderr = stdout, stderr
	httpAddr := c.Flags.String("http-address", "", "serve /live, /ready and /metrics on this host:port (config hub.http_address; default off)")
	list := c.Flags.Bool("list-consumers", false, "print the consumers the configuration declares and the Go consumers compiled in, then exit")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if len(c.Args()) > 0 {
			return cli.Usage("unexpected arguments %q", c.Args())
		}
		if *list {
			return listConsumers(c.Stdout, cfg, opts)
		}
		if err := c.RequireIdentity(cfg, "its ACKs"); err != nil {
			return err
		}
		if c.Flags.Changed("http-address") {
			cfg.Hub.HTTPAddress = *httpAddr
			if err := cfg.Validate(); err != nil {
				return cli.Usage("--http-address: %v", err)
			}
		}
		err := Run(ctx, cfg, append(slices.Clone(opts), WithLogger(c.Log()))...)
		if err != nil {
			return cli.Runtime(err)
		}
		return nil
	})
}

const helpText = `
Runs the consumers declared as [[hub.consumers]] tables in the configuration, each on the
topics it names, with its own bounded inbox and workers. Messages that ask for an ACK (sent with
recipients) are ACKed, signed with the hub's own certificate (--certname, or certname, cert_prefix
or name in the configuration; its CN is the name publishers list as a recipient; with
sign_messages and none of them the hub refuses to start, exit 2), only after every matching
consumer processed them; a failure
sends no ACK, and the publisher's retransmission is processed again (at most hub.max_attempts
times, then the message is logged as poison). ACKs are published from endpoints[name] when
--name is set, otherwise through the relay. Signatures are always validated.

  [hub]
  http_address = "127.0.0.1:9110"   # /live, /ready, /metrics (Prometheus); default off
  shutdown_timeout = 10             # seconds to finish work after SIGTERM; unfinished work is not ACKed
  max_attempts = 5                  # failed deliveries of one msg_id before it is poison

  [[hub.consumers]]
  name = "archive"
  kind = "exec"                     # exec, file or go (compiled in with hub.WithConsumer)
  topics = ["org.example.prod.#"]   # patterns: exact, a.b.* (prefix), * one word, # any words
  command = ["sh", "-c", "cat >> /var/lib/archive/messages.jsonl"]   # argv, no shell string
  timeout = 60                      # seconds; the command's process group is then killed
  workers = 1                       # messages processed at once
  inbox = 100                       # messages waiting; when full the hub stops reading
  ack = "processed"                 # or "receipt": ACK without waiting for this consumer
  # env = { LANG = "C.UTF-8" }      # exec: added to the environment; dir = "/srv": working dir

  [[hub.consumers]]
  name = "audit"
  kind = "file"                     # one JSON line per message
  topics = ["org.example.prod.audit.*"]
  path = "/var/lib/ackmsg/audit.jsonl"
  fsync = "always"                  # ACK once on disk; "never": once written

An exec command gets the envelope as one line of JSON on standard input and ACKMSG_TOPIC,
ACKMSG_MSG_ID, ACKMSG_SIGNER, ACKMSG_CONSUMER and ACKMSG_ATTEMPT in its environment; exit
status 0 means processed. Configuration files merge consumers by name, so each can live in its
own file in /etc/ackmsg.d. --print-config shows every consumer key with its default.

Catch-up (docs/replay.md): messages from publishers listed in replay_endpoints carry seq_ids;
the hub fetches the ones it missed from their replay endpoints and processes them in order, and
with replay_state = "FILE" it remembers per publisher the last seq_id that every consumer
finished (with every one before it), so a restarted hub first fetches what was published while
it was down, and what was still queued or running when it stopped or crashed. Messages that cannot be recovered are
logged with their number; /metrics counts ackmsg_hub_replay_gaps_total, _recovered_total,
_unrecoverable_total, _queries_total and _query_errors_total.

SIGTERM or SIGINT: the hub stops reading, lets queued and running work finish for up to
shutdown_timeout, then kills what is left; it never ACKs unfinished work. Exit status 0 after a
clean shutdown; 1 when it cannot start (configuration, certificate, bind, a consumer that
cannot be built) or the subscription fails; 2 for bad usage.`

// listConsumers is --list-consumers (fedmsg-hub's consumer listing): one line per configured
// consumer, with what it runs on which topics, and the Go consumers this binary has.
func listConsumers(w io.Writer, cfg *config.Config, opts []Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tENABLED\tTOPICS\tWORKERS\tACK\tRUNS\tFROM")
	for i, hc := range cfg.Hub.Consumers {
		runs := ""
		switch hc.Kind {
		case config.HubKindExec:
			runs = strings.Join(hc.Command, " ")
		case config.HubKindFile:
			runs = hc.Path + " (fsync " + hc.Fsync + ")"
		case config.HubKindGo:
			if _, ok := o.goConsumers[hc.Name]; ok {
				runs = "compiled in"
			} else {
				runs = "NOT in this binary"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%d\t%s\t%s\t%s\n", hc.Name, hc.Kind, hc.Enabled, strings.Join(hc.Topics, ","),
			hc.Workers, hc.Ack, runs, cfg.Source(fmt.Sprintf("hub.consumers[%d]", i)))
	}
	for _, name := range o.order {
		if !slices.ContainsFunc(cfg.Hub.Consumers, func(hc config.HubConsumer) bool { return hc.Name == name }) {
			fmt.Fprintf(tw, "%s\tgo\tfalse\t%s\t-\t-\tcompiled in, not enabled (add a [[hub.consumers]] table with kind = \"go\")\t-\n",
				name, strings.Join(o.goConsumers[name].Topics(), ","))
		}
	}
	return tw.Flush()
}
