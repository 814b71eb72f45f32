// Command outbox-http is an HTTP service that publishes through the durable outbox the way a
// request handler should (PDC's "transaction based messaging"): the messages of a request are
// collected while it runs and stored together, in one transaction, only when the handler
// succeeds; a failed request stores and sends nothing. The response goes out once the messages
// are durable; ackmsg-outbox serve (or a Deliverer in this process, with -deliver) sends them
// to their recipients, with signed ACKs, for as long as it takes.
//
//	outbox-http -listen 127.0.0.1:8080 -deliver
//	curl -d '{"item":"book","qty":2}' 127.0.0.1:8080/orders
//
// The configuration is the usual one (ackmsg.d/*.toml or $ACKMSG_CONFIG) with [outbox] store
// set and recipients configured for the topics, e.g.
//
//	[recipients]
//	"org.example.dev.shop.order.created" = ["billing"]
//	"org.example.dev.shop.stock.reserved" = ["warehouse"]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/publisher"
)

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

// handleOrder is the application's handler: it publishes into the request's batch and fails
// for bad input, in which case nothing it published is stored.
func handleOrder(b *outbox.Batch, r *http.Request) (any, error) {
	var o order
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		return nil, fmt.Errorf("bad order: %w", err)
	}
	if o.Item == "" || o.Qty <= 0 {
		return nil, errors.New("bad order: want an item and a positive qty")
	}
	id, err := b.Publish("order.created", o)
	if err != nil {
		return nil, err
	}
	if _, err := b.Publish("stock.reserved", map[string]any{"item": o.Item, "qty": o.Qty, "order": id}); err != nil {
		return nil, err
	}
	return map[string]any{"order": id}, nil
}

// transactional wraps a handler: one batch per request, committed if the handler returned
// without error, rolled back otherwise. The client hears "ok" only once the messages are durable.
func transactional(ob *outbox.Outbox, h func(*outbox.Batch, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := ob.Batch()
		res, err := h(b, r)
		if err != nil {
			b.Rollback()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ids, err := b.Commit(r.Context())
		if err != nil {
			http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"result": res, "stored": ids})
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address")
	deliver := flag.Bool("deliver", false, "deliver in this process too (else run ackmsg-outbox serve)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*listen, *deliver, log); err != nil {
		log.Error("outbox-http", "error", err)
		os.Exit(1)
	}
}

func run(listen string, deliver bool, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		return err
	}
	// With -deliver this process owns the file (and answers ackmsg-outbox list on its socket);
	// else it shares it with ackmsg-outbox serve, which owns it.
	var st outbox.Store
	if deliver {
		st, err = boltstore.Open(cfg.Outbox.Store, boltstore.Options{})
	} else {
		st, err = boltstore.OpenShared(ctx, cfg.Outbox.Store)
	}
	if err != nil {
		return err
	}
	ob, err := outbox.New(cfg, st, outbox.WithLogger(log), outbox.WithBuilderOptions(publisher.WithModname("shop")))
	if err != nil {
		st.Close()
		return err
	}
	defer ob.Close()

	done := make(chan error, 1)
	if deliver {
		dcfg := *cfg
		dcfg.Active, dcfg.Name = true, config.RelayInboundKey
		pub, err := ack.New(&dcfg, ack.WithLogger(log), ack.DeliverOnly())
		if err != nil {
			return err
		}
		defer pub.Close()
		d := outbox.NewDeliverer(st, pub, cfg.Outbox, outbox.WithDelivererLogger(log))
		go func() { done <- d.Run(ctx) }()
	} else {
		close(done)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /orders", transactional(ob, handleOrder))
	srv := &http.Server{Addr: listen, Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Info("listening", "addr", listen)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-done
}
