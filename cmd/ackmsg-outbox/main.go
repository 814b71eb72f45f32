// Command ackmsg-outbox is the outbox's queue manager: serve delivers what is stored, list, stats,
// retry, drop and flush show and steer the queue (as mailq and postqueue do for mail).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/cmd/internal/outboxctl"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/ops"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// subs are the commands of ackmsg-outbox: run dispatches on them and --help lists them.
var subs = cli.Subs{Command: "ackmsg-outbox", List: []cli.Sub{
	{Name: "serve", Args: "[flags]", Help: "deliver the stored messages (the deliverer daemon); stops on SIGTERM"},
	{Name: "list", Args: "[--json] [--dead] [--pending] [flags]", Help: `pending and dead messages: msg_id, topic, age, attempts, acked, missing,
		state, last error (--json: one record per line; --dead, --pending)`},
	{Name: "stats", Args: "[--json] [flags]", Help: `counts: pending, in flight, dead, delivered, oldest pending, missing per
		recipient (--json)`},
	{Name: "retry", Args: "MSGID... | --all-dead [flags]", Help: `make these messages due now with a fresh expiry (dead ones come back);
		--all-dead: every dead message`},
	{Name: "drop", Args: "MSGID... [flags]", Help: "remove messages for good"},
	{Name: "flush", Args: "[flags]", Help: "make every pending and dead message due now"},
	{Name: "wait", Args: "[MSGID...] [--timeout SECONDS] [flags]", Help: `wait until these messages (or, without msg_ids, all pending ones) are
		delivered: exit 0 when they are, 1 when one is dead, dropped or not in
		the outbox (never stored here, or delivered before the last 100000
		the store remembers), 3 after --timeout`},
}}

const summary = "the durable outbox's queue manager"

const details = `
The store is [outbox] store in the configuration: a file, or a postgres:// URL. While serve (or
a program using outbox/boltstore) runs it owns a file store and the other commands (and
ackmsg-logger --outbox) talk to it over the socket <store>.sock; when no process owns it they
open the file for one operation at a time, so none of them (wait included) keeps serve out. A
PostgreSQL store is
opened by every command, and several serve processes (on several machines) may share it: each
message is claimed by one at a time, and a dead deliverer's claims are taken over after
outbox.claim_lease.

serve sends each stored message through the relay (as ackmsg-logger does) with the same signed
frames every time, before and after restarts, retransmitting until every recipient's signed ACK
is in. Each ACK is recorded as it arrives: after a restart only the recipients still missing are
waited for. An attempt lasts outbox.attempt_timeout (30 s); the pause between attempts doubles
from 1 s up to outbox.retry_max (30 s). A message not delivered by its expiry (outbox.expiry,
24 h, or outbox.expiry_for per topic pattern) moves to the dead letters, where list shows it
until retry or drop. Messages of one topic are first sent in the order they were stored; when
a recipient is down, its missed messages are retransmitted in that order too, but may interleave
with newer ones. outbox.http_address (or --http-address) serves /live, /ready and /metrics.`

func run(args []string, stdout, stderr io.Writer) int {
	root := cli.New(subs.Command, summary, subs.Names()+" [flags]", "Commands:\n"+subs.Help()+details)
	root.Stdout, root.Stderr = stdout, stderr
	sub, args := subs.Split(args, root.Flags)
	if _, ok := subs.Lookup(sub); !ok {
		switch {
		case sub == "help" && len(args) > 0:
			return run([]string{args[0], "--help"}, stdout, stderr)
		case sub == "help":
			root.PrintHelp(stdout)
			return cli.ExitOK
		case sub == "":
			if code, ok := root.Parse(args); !ok {
				return code // --help, or a bad flag
			}
		}
		fmt.Fprintf(stderr, "ackmsg-outbox: want a command: %s (got %q)\nRun 'ackmsg-outbox --help' for usage.\n", strings.ReplaceAll(subs.Names(), "|", ", "), sub)
		return cli.ExitUsage
	}
	c := subs.New(sub, summary, details)
	c.Stdout, c.Stderr = stdout, stderr
	switch sub {
	case "serve":
		return serveCmd(c, args)
	case "list":
		return listCmd(c, args, stdout)
	case "stats":
		return statsCmd(c, args, stdout)
	case "retry", "flush":
		return retryCmd(c, sub, args, stdout)
	case "drop":
		return dropCmd(c, args, stdout)
	case "wait":
		return waitCmd(c, args)
	}
	panic("ackmsg-outbox: command " + sub + " is listed but not run")
}

// serveCmd runs the deliverer (serve) until SIGTERM.
func serveCmd(c *cli.Command, args []string) int {
	httpAddr := c.Flags.String("http-address", "", "serve /live, /ready and /metrics on this host:port (config outbox.http_address)")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if c.Flags.Changed("http-address") {
			cfg.Outbox.HTTPAddress = *httpAddr
		}
		return serve(ctx, c, cfg)
	})
}

// listCmd prints the pending and dead messages.
func listCmd(c *cli.Command, args []string, stdout io.Writer) int {
	asJSON := c.Flags.Bool("json", false, "one JSON record per line")
	dead := c.Flags.Bool("dead", false, "only dead messages")
	pending := c.Flags.Bool("pending", false, "only pending messages")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		var f outbox.Filter
		if *dead {
			f.States = append(f.States, outbox.Dead)
		}
		if *pending {
			f.States = append(f.States, outbox.Pending)
		}
		return withStore(ctx, c, cfg, func(s outbox.Store) error {
			recs, err := s.List(ctx, f)
			if err != nil {
				return cli.Runtime(err)
			}
			return list(stdout, recs, *asJSON)
		})
	})
}

// statsCmd prints the store's counts.
func statsCmd(c *cli.Command, args []string, stdout io.Writer) int {
	asJSON := c.Flags.Bool("json", false, "print JSON")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		return withStore(ctx, c, cfg, func(s outbox.Store) error {
			st, err := s.Stats(ctx)
			if err != nil {
				return cli.Runtime(err)
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(st)
			}
			oldest := "-"
			if !st.OldestPending.IsZero() {
				oldest = fmt.Sprintf("%s (%s ago)", st.OldestPending.Format(time.RFC3339), time.Since(st.OldestPending).Round(time.Second))
			}
			fmt.Fprintf(stdout, "pending %d\nin_flight %d\ndead %d\ndelivered %d\noldest_pending %s\n", st.Pending, st.InFlight, st.Dead, st.Delivered, oldest)
			for _, r := range sortedKeys(st.MissingByRecipient) {
				fmt.Fprintf(stdout, "missing %s %d\n", r, st.MissingByRecipient[r])
			}
			return nil
		})
	})
}

// retryCmd makes messages due now: the given ones or every dead one (retry), or every one (flush).
func retryCmd(c *cli.Command, sub string, args []string, stdout io.Writer) int {
	allDead := new(bool)
	if sub == "retry" {
		allDead = c.Flags.Bool("all-dead", false, "retry every dead message")
	}
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		ids := c.Args()
		switch {
		case sub == "flush" && len(ids) > 0:
			return cli.Usage("flush takes no msg_ids")
		case sub == "retry" && *allDead == (len(ids) > 0):
			return cli.Usage("retry: give msg_ids or --all-dead (one of the two)")
		}
		return withStore(ctx, c, cfg, func(s outbox.Store) error {
			if sub == "flush" {
				recs, err := s.List(ctx, outbox.Filter{})
				if err != nil {
					return cli.Runtime(err)
				}
				if len(recs) == 0 {
					fmt.Fprintln(stdout, "0 messages due now")
					return nil
				}
				for _, r := range recs {
					ids = append(ids, r.MsgID)
				}
			}
			n, err := s.Retry(ctx, time.Now().Add(cfg.Outbox.Expiry.Duration()), ids...)
			if err != nil {
				return cli.Runtime(err)
			}
			fmt.Fprintf(stdout, "%d messages due now\n", n)
			if len(ids) > 0 && n < len(ids) {
				return cli.Runtime(fmt.Errorf("%d of the %d msg_ids are not in the outbox", len(ids)-n, len(ids)))
			}
			return nil
		})
	})
}

// dropCmd removes messages for good.
func dropCmd(c *cli.Command, args []string, stdout io.Writer) int {
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if len(c.Args()) == 0 {
			return cli.Usage("drop: give the msg_ids to remove")
		}
		return withStore(ctx, c, cfg, func(s outbox.Store) error {
			var missing []string
			for _, id := range c.Args() {
				err := s.Drop(ctx, id)
				switch {
				case errors.Is(err, outbox.ErrNotFound):
					missing = append(missing, id)
				case err != nil:
					return cli.Runtime(err)
				default:
					fmt.Fprintf(stdout, "dropped %s\n", id)
				}
			}
			if len(missing) > 0 {
				return cli.Runtime(fmt.Errorf("not in the outbox: %s", strings.Join(missing, ", ")))
			}
			return nil
		})
	})
}

// waitCmd waits until messages are delivered.
func waitCmd(c *cli.Command, args []string) int {
	timeoutText := c.Flags.String("timeout", "30", "give up after this long: seconds (2.5) or a duration (1m)")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		timeout, err := cli.ParseSeconds(*timeoutText)
		if err != nil || timeout <= 0 {
			return cli.Usage("--timeout %s: want a positive number of seconds or a duration", *timeoutText)
		}
		ids := c.Args()
		return withStore(ctx, c, cfg, func(s outbox.Store) error { return wait(ctx, c, s, ids, timeout) })
	})
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func withStore(ctx context.Context, c *cli.Command, cfg *config.Config, fn func(outbox.Store) error) error {
	if len(c.Args()) > 0 && c.Name != "ackmsg-outbox retry" && c.Name != "ackmsg-outbox drop" && c.Name != "ackmsg-outbox wait" {
		return cli.Usage("unexpected arguments %q", c.Args())
	}
	s, err := outboxctl.Open(ctx, &cfg.Outbox)
	if err != nil {
		return cli.Runtime(err)
	}
	defer s.Close()
	return fn(s)
}

func list(w io.Writer, recs []*outbox.Record, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(map[string]any{
				"msg_id": r.MsgID, "topic": r.Topic, "state": r.State.String(), "enqueued": r.Enqueued, "expires": r.Expires,
				"attempts": r.Attempts, "recipients": r.Recipients, "acked": nonNil(r.Acked), "missing": nonNil(r.Missing()),
				"next_attempt": r.NextAttempt, "last_error": r.LastError, "dead_reason": r.DeadReason,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "outbox is empty")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MSG_ID\tTOPIC\tAGE\tATTEMPTS\tACKED\tMISSING\tSTATE\tLAST ERROR")
	for _, r := range recs {
		why := r.LastError
		if r.State == outbox.Dead {
			why = r.DeadReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.MsgID, r.Topic, time.Since(r.Enqueued).Round(time.Second),
			r.Attempts, dash(r.Acked), dash(r.Missing()), r.State, why)
	}
	return tw.Flush()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func dash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func serve(ctx context.Context, c *cli.Command, cfg *config.Config) error {
	if len(c.Args()) > 0 {
		return cli.Usage("unexpected arguments %q", c.Args())
	}
	log := c.Log()
	store, err := outboxctl.OpenLocal(ctx, &cfg.Outbox)
	if err != nil {
		return cli.Runtime(err)
	}
	defer store.Close()

	// The deliverer sends frames signed when they were stored; it needs the CA to verify ACKs,
	// and no certificate of its own.
	pcfg := *cfg
	pcfg.Active, pcfg.Name, pcfg.SignMessages = true, config.RelayInboundKey, false
	pcfg.AckMaxInFlight = max(pcfg.AckMaxInFlight, cfg.Outbox.MaxInFlight)
	pub, err := config.NewAckPublisher(ctx, &pcfg, ack.WithLogger(log.With("part", "publisher")), ack.WithDeliverOnly())
	if err != nil {
		return cli.Runtime(err)
	}
	defer pub.Close()

	m := outbox.NewMetrics(store)
	d := outbox.NewDeliverer(store, pub, cfg.Outbox.DelivererConfig(), outbox.WithDelivererLogger(log), outbox.WithDelivererMetrics(m))

	if addr := cfg.Outbox.HTTPAddress; addr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		srv, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: log, Ready: func(rctx context.Context) error {
			if ctx.Err() != nil {
				return errors.New("stopping")
			}
			if _, err := store.Stats(rctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			return nil
		}})
		if err != nil {
			return cli.Runtime(fmt.Errorf("outbox.http_address: %w", err))
		}
		defer srv.Close()
		log.Info("http endpoint ready", "addr", srv.Addr().String())
	}

	if cfg.Outbox.IsPostgres() {
		log.Info("outbox serving", "store", "postgresql")
	} else {
		log.Info("outbox serving", "store", cfg.Outbox.Store, "socket", boltstore.SocketPath(cfg.Outbox.Store))
	}
	runErr := d.Run(ctx)
	if runErr != nil {
		return cli.Runtime(runErr)
	}
	log.Info("outbox stopped")
	return nil
}

// waitPoll is how often wait looks at the store: it watches another process's work.
const waitPoll = 50 * time.Millisecond

// wait polls s, which holds the store file for one operation at a time (boltstore.Shared):
// waiting locks no deliverer out.
func wait(ctx context.Context, c *cli.Command, s outbox.Store, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := map[string]bool{}
	if len(ids) == 0 {
		recs, err := s.List(ctx, outbox.Filter{States: []outbox.State{outbox.Pending}})
		if err != nil {
			return cli.Runtime(err)
		}
		for _, r := range recs {
			want[r.MsgID] = true
		}
	}
	for _, id := range ids {
		want[id] = true
	}
	c.Log().Debug("waiting", "messages", len(want), "timeout", timeout)
	for {
		for id := range want {
			r, err := s.Get(ctx, id)
			switch {
			case errors.Is(err, outbox.ErrNotFound):
				return cli.Runtime(fmt.Errorf("%s is not in the outbox: never stored here, or delivered longer ago than the store remembers (the last %d)", id, outbox.FinishedKept))
			case err != nil:
				return cli.Runtime(err)
			case r.State == outbox.Delivered:
				delete(want, id)
			case r.State == outbox.Dropped:
				return cli.Runtime(fmt.Errorf("%s was dropped (ackmsg-outbox drop) at %s before every recipient ACKed", id, r.Finished.Format(time.RFC3339)))
			case r.State == outbox.Dead:
				return cli.Runtime(fmt.Errorf("%s is dead: %s", id, r.DeadReason))
			}
		}
		if len(want) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			left := make([]string, 0, len(want))
			for id := range want {
				left = append(left, id)
			}
			slices.Sort(left)
			return &cli.ExitError{Code: cli.ExitTimeout, Err: fmt.Errorf("not delivered within %s: %s", timeout, strings.Join(left, ", "))}
		}
		select {
		case <-ctx.Done():
			return cli.Runtime(ctx.Err())
		case <-time.After(waitPoll):
		}
	}
}
