// Command ackmsg-archive is the bus's archive: it stores every valid message in PostgreSQL,
// ACKs each one only after its commit, and serves datagrepper's HTTP API over them (see
// package archive and docs/archive.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/archive"
	"github.com/ackmsg/ackmsg/archive/web"
	"github.com/ackmsg/ackmsg/cli"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/ops"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const details = `
Every message on archive.topic (default: all) whose signature verifies is stored in
archive.store (PostgreSQL; the table ackmsg_archive is created when missing): one row per
msg_id, a duplicate is skipped. Messages are committed in groups of at most archive.batch_size;
a message that asks for an ACK is ACKed only after its commit. ackmsg-archive is a named
recipient: the CN of its certificate (--certname, or certname, cert_prefix or name in the
configuration; without one it refuses to start, exit 2), so an acked publish to that name (for
example ackmsg-logger --recipients archive) that returned means "archived".

--http-address (archive.http_address) serves datagrepper's API: /raw and /v2/search (start,
end, delta, topic, category, user, package, agent, contains and their not_ forms, page,
rows_per_page <= 100, order, meta, plus cursor: the next_cursor of a previous answer), /id and
/v2/id (?id=MSG_ID); the web view: /web/ (search, message pages with the signer and whether
the signature verifies now, /web/chart: messages per topic and hour, /web/live) and the live
feed over WebSocket at / and /ws in moksha's protocol (send {"topic": "__topic_subscribe__",
"body": TOPIC}; fedmsg's websocket clients work); and /live, /ready (the database answers),
/metrics. A bad query is a 400
naming the parameter; a query past archive.query_timeout is cancelled by PostgreSQL and
answered 503. With --record-acks the archive also receives the bus's ACKs (each verified,
archived as a message, as datanommer does) and records who ACKed which msg_id: the message
page lists them; without it the page says ACKs are not recorded. archive.retention (seconds)
deletes older messages. On SIGINT or SIGTERM what
was received is committed and ACKed before it exits.`

func run(args []string, stdout, stderr io.Writer) int {
	c := cli.New("ackmsg-archive", "store every bus message in PostgreSQL, ACK after commit, serve datagrepper's API", "[flags]", details)
	c.Stdout, c.Stderr = stdout, stderr
	store := c.Flags.String("store", "", "the PostgreSQL database, a postgres:// URL (config archive.store)")
	topic := c.Flags.String("topic", "", "the topic prefix to archive (config archive.topic; default all)")
	recordAcks := c.Flags.Bool("record-acks", false, "also receive the bus's ACKs (verified, archived as messages) and record who ACKed what for the web view")
	httpAddr := c.Flags.String("http-address", "", "serve the API, the web view and /live, /ready, /metrics on this host:port (config archive.http_address)")
	return c.Run(args, func(ctx context.Context, cfg *config.Config) error {
		if len(c.Args()) > 0 {
			return cli.Usage("unexpected arguments %q", c.Args())
		}
		a := &cfg.Archive
		if c.Flags.Changed("store") {
			a.Store = *store
		}
		if c.Flags.Changed("topic") {
			a.Topic = *topic
		}
		if c.Flags.Changed("http-address") {
			a.HTTPAddress = *httpAddr
		}
		if err := cfg.Validate(); err != nil {
			return cli.Usage("%v", err)
		}
		if a.Store == "" {
			return cli.Usage("no database: set archive.store or --store (a postgres:// URL)")
		}
		if err := c.RequireIdentity(cfg, "its ACKs"); err != nil {
			return err
		}
		return serve(ctx, c, cfg, *recordAcks)
	})
}

// archiveConfig maps the [archive] table onto the archive's own Config.
func archiveConfig(a config.ArchiveConfig) archive.Config {
	ac := archive.DefaultConfig()
	ac.BatchSize = a.BatchSize
	ac.Retention = a.Retention.Duration()
	ac.QueryTimeout = a.QueryTimeout.Duration()
	ac.CountLimit = a.CountLimit
	ac.DefaultDelta = a.DefaultDelta.Duration()
	return ac
}

func serve(ctx context.Context, c *cli.Command, cfg *config.Config, recordAcks bool) error {
	log := c.Log()
	acfg := archiveConfig(cfg.Archive)
	acfg.Logger = log
	if err := acfg.Validate(); err != nil {
		return cli.Usage("%v", err)
	}
	store, err := archive.Open(ctx, cfg.Archive.Store, acfg)
	if err != nil {
		return cli.Runtime(err)
	}
	defer store.Close()

	if cfg.Name == "" {
		cfg.Active = true // ACKs go through the relay, like the shell tools' messages
	}
	opts := []ack.Option{ack.WithMode(ack.AfterProcessing), ack.WithSubscriberLogger(log)}
	if recordAcks {
		// Every ACK on the bus is verified: work that grows with the acking consumers.
		opts = append(opts, ack.WithAckMessages())
	}
	sub, err := config.NewAckSubscriber(cfg, cfg.Archive.Topic, opts...)
	if err != nil {
		return cli.Runtime(err)
	}
	defer sub.Close()
	// The live feed shows what the ingest loop committed; without a web server it has no
	// clients and costs a map lookup per batch.
	feed := web.NewFeed(log)
	defer feed.Close()
	in, err := archive.NewIngester(feed.Writer(store), ackSource{sub}, acfg)
	if err != nil {
		return cli.Runtime(err)
	}

	if addr := cfg.Archive.HTTPAddress; addr != "" {
		api, err := archive.NewAPI(store, acfg)
		if err != nil {
			return cli.Runtime(err)
		}
		routes, err := webRoutes(cfg, store, acfg, feed, api, recordAcks)
		if err != nil {
			return err
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(append(metrics(in), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))...)
		srv, err := ops.Start(ops.Config{Addr: addr, Gatherer: reg, Logger: log, Routes: routes,
			Ready: func(rctx context.Context) error {
				rctx, cancel := context.WithTimeout(rctx, 2*time.Second)
				defer cancel()
				if err := store.Pool().Ping(rctx); err != nil {
					return fmt.Errorf("database: %w", err)
				}
				return nil
			}})
		if err != nil {
			return cli.Runtime(fmt.Errorf("archive.http_address: %w", err))
		}
		defer srv.Close()
		log.Info("archive API ready", "addr", srv.Addr().String())
	}
	log.Info("archive running", "as", sub.Name(), "topic", cfg.Archive.Topic)
	err = in.Run(ctx)
	log.Info("archive stopped", "stats", fmt.Sprintf("%+v", in.Stats()))
	if err != nil && !errors.Is(err, ack.ErrClosed) {
		return cli.Runtime(err)
	}
	return nil
}

// webRoutes are the API's routes and the web view's, which verifies signatures with the
// archive's own trust settings (the CA and CRL as they are when a page is shown).
func webRoutes(cfg *config.Config, store *archive.Store, acfg archive.Config, feed *web.Feed, api *archive.API, acks bool) (map[string]http.Handler, error) {
	v, err := cfg.Verifier(true, acfg.Logger)
	if err != nil {
		return nil, cli.Runtime(fmt.Errorf("the web view's verifier: %w", err))
	}
	view, err := web.New(store, web.Config{Archive: acfg, Verifier: v, Feed: feed, Acks: acks, Logger: acfg.Logger})
	if err != nil {
		return nil, cli.Runtime(err)
	}
	routes := api.Routes()
	for p, h := range view.Routes() {
		routes[p] = h
	}
	return routes, nil
}

// ackSource reads an acking subscriber for the ingest loop; Done(nil) sends the ACK.
type ackSource struct{ sub *ack.Subscriber }

func (s ackSource) Next(ctx context.Context) (archive.Delivery, error) {
	d, err := s.sub.Next(ctx)
	if err != nil {
		return archive.Delivery{}, err
	}
	signer := ""
	if d.Signer != nil {
		signer = d.Signer.CN
	}
	return archive.Delivery{Message: d.Message, Raw: d.Raw, Signer: signer, Done: d.Done}, nil
}

// metrics are the ingest loop's counters.
func metrics(in *archive.Ingester) []prometheus.Collector {
	var out []prometheus.Collector
	for name, f := range map[string]func(archive.IngestStats) uint64{
		"received":   func(s archive.IngestStats) uint64 { return s.Received },
		"stored":     func(s archive.IngestStats) uint64 { return s.Stored },
		"duplicates": func(s archive.IngestStats) uint64 { return s.Duplicates },
		"failed":     func(s archive.IngestStats) uint64 { return s.Failed },
		"commits":    func(s archive.IngestStats) uint64 { return s.Commits },
		"pruned":     func(s archive.IngestStats) uint64 { return s.Pruned },
	} {
		out = append(out, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ackmsg_archive_" + name + "_total",
			Help: "Messages " + name + " by the archive's ingest loop (commits: transactions)."},
			func() float64 { return float64(f(in.Stats())) }))
	}
	return out
}
