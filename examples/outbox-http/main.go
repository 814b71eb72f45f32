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
// set, recipients configured for the topics, and the certificate the messages are signed with:
// the outbox signs every message (recipients ACK only what they verified), so sign_messages and
// certname (the files <certname>.crt and <certname>.key in ssldir; ackmsg-certs issue makes
// them) must be set, e.g.
//
//	sign_messages = true
//	certname = "shop"           # ssldir/shop.crt and shop.key; the recipients' CA must trust it
//	[outbox]
//	store = "/var/lib/shop/outbox.db"
//	[recipients]
//	"org.example.dev.shop.order.created" = ["billing"]
//	"org.example.dev.shop.stock.reserved" = ["warehouse"]
//
// With a PostgreSQL store (store = "postgres://..."), the messages go into the application's
// own database transaction instead (Batch.CommitTx, the outbox's EnqueueTx): the order row and
// its messages are committed together, or neither is. The example keeps its orders in the table
// shop_orders of that database.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
	"github.com/ackmsg/ackmsg/publisher"
)

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

// parseOrder reads and checks the request's order.
func parseOrder(r *http.Request) (order, error) {
	var o order
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		return o, fmt.Errorf("bad order: %w", err)
	}
	if o.Item == "" || o.Qty <= 0 {
		return o, errors.New("bad order: want an item and a positive qty")
	}
	return o, nil
}

// publishOrder publishes the order's messages into the batch and returns the order's id (the
// msg_id of order.created).
func publishOrder(b *outbox.Batch, o order) (string, error) {
	id, err := b.Publish("order.created", o)
	if err != nil {
		return "", err
	}
	if _, err := b.Publish("stock.reserved", map[string]any{"item": o.Item, "qty": o.Qty, "order": id}); err != nil {
		return "", err
	}
	return id, nil
}

// handleOrder is the application's handler: it publishes into the request's batch and fails
// for bad input, in which case nothing it published is stored.
func handleOrder(b *outbox.Batch, r *http.Request) (any, error) {
	o, err := parseOrder(r)
	if err != nil {
		return nil, err
	}
	id, err := publishOrder(b, o)
	if err != nil {
		return nil, err
	}
	return map[string]any{"order": id}, nil
}

// handleOrderTx is handleOrder for a PostgreSQL store: it also writes the order to the
// application's table, in the request's transaction tx.
func handleOrderTx(ctx context.Context, tx pgx.Tx, b *outbox.Batch, r *http.Request) (any, error) {
	o, err := parseOrder(r)
	if err != nil {
		return nil, err
	}
	id, err := publishOrder(b, o)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO shop_orders (id, item, qty) VALUES ($1, $2, $3)", id, o.Item, o.Qty); err != nil {
		return nil, fmt.Errorf("order not saved: %w", err)
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

// transactionalTx wraps a handler in one transaction of the application's database, which is
// also the outbox's: the handler writes its rows in tx, the batch is stored in tx
// (Batch.CommitTx), and the client hears "ok" once tx committed. If anything fails, tx is
// rolled back: neither the rows nor the messages are stored.
func transactionalTx(ob *outbox.Outbox, db *pgxpool.Pool, h func(context.Context, pgx.Tx, *outbox.Batch, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tx, err := db.Begin(ctx)
		if err != nil {
			http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer tx.Rollback(context.Background()) // a no-op once committed
		b := ob.Batch()
		res, err := h(ctx, tx, b, r)
		if err != nil {
			b.Rollback()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ids, err := b.CommitTx(ctx, tx)
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"result": res, "stored": ids})
	})
}

func main() {
	addr := flag.String("listen", "127.0.0.1:8080", "HTTP address")
	deliver := flag.Bool("deliver", false, "deliver in this process too (else run ackmsg-outbox serve)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, listen(*addr), *deliver, log); err != nil {
		log.Error("outbox-http", "error", err)
		os.Exit(1)
	}
}

// listen returns a listener factory for addr.
func listen(addr string) func() (net.Listener, error) {
	return func() (net.Listener, error) { return net.Listen("tcp", addr) }
}

// run serves until ctx ends.
func run(ctx context.Context, listen func() (net.Listener, error), deliver bool, log *slog.Logger) error {
	cfg, err := config.Load(config.LoadOptions{})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	var st outbox.Store
	if config.IsPostgresURL(cfg.Outbox.Store) {
		// The application's own pool, on the database the outbox's store uses.
		db, err := pgxpool.New(ctx, cfg.Outbox.Store)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS shop_orders (
			id text PRIMARY KEY, item text NOT NULL, qty integer NOT NULL CHECK (qty <= 100))`); err != nil {
			return err
		}
		pst, err := pgstore.Open(ctx, cfg.Outbox.Store, pgstore.Options{Logger: log})
		if err != nil {
			return err
		}
		st = pst
		ob, err := newOutbox(cfg, st, log)
		if err != nil {
			return err
		}
		defer ob.Close()
		mux.Handle("POST /orders", transactionalTx(ob, db, handleOrderTx))
	} else {
		// With -deliver this process owns the file (and answers ackmsg-outbox list on its
		// socket); else it shares it with ackmsg-outbox serve, which owns it.
		if deliver {
			st, err = boltstore.Open(cfg.Outbox.Store, boltstore.Options{})
		} else {
			st, err = boltstore.OpenShared(ctx, cfg.Outbox.Store)
		}
		if err != nil {
			return err
		}
		ob, err := newOutbox(cfg, st, log)
		if err != nil {
			return err
		}
		defer ob.Close()
		mux.Handle("POST /orders", transactional(ob, handleOrder))
	}

	done := make(chan error, 1)
	if deliver {
		dcfg := *cfg
		dcfg.Active, dcfg.Name = true, config.RelayInboundKey
		pub, err := config.NewAckPublisher(ctx, &dcfg, ack.WithLogger(log), ack.WithDeliverOnly())
		if err != nil {
			return err
		}
		defer pub.Close()
		d := outbox.NewDeliverer(st, pub, cfg.Outbox.DelivererConfig(), outbox.WithDelivererLogger(log))
		go func() { done <- d.Run(ctx) }()
	} else {
		close(done)
	}

	ln, err := listen()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	log.Info("listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-done
}

// newOutbox is the outbox on st (closed with it); on error st is closed.
func newOutbox(cfg *config.Config, st outbox.Store, log *slog.Logger) (*outbox.Outbox, error) {
	ob, err := config.NewOutbox(cfg, st, outbox.WithLogger(log), outbox.WithBuilderOptions(publisher.WithModname("shop")))
	if err != nil {
		st.Close()
		return nil, err
	}
	return ob, nil
}
