// Package pgstore is the outbox's PostgreSQL store: the transactional outbox. EnqueueTx writes
// messages inside the application's own transaction, so they are sent if and only if it
// commits; several deliverers, on several machines, may serve one table.
//
// Bounds: connecting ends after Options.ConnectTimeout (or the URL's connect_timeout), each
// operation after Options.Timeout; the defaults are replay/pgstore's (internal/pgconf).
//
// Guarantees: a nil error from a write means PostgreSQL committed it (durable as the server's
// fsync and synchronous_commit settings make commits). A claim is a lease (claimed_by,
// claim_until) taken in a short transaction; claimers are serialised by a transaction-scoped
// advisory lock, so two deliverers never hold one message, and a topic with a live claim by one
// deliverer is not started by another (store order per topic). A deliverer that dies leaves
// claims that expire at claim_until and are then taken over. Deliverers are woken by
// LISTEN/NOTIFY on commit (of Enqueue, EnqueueTx and Retry) and poll as well, so a lost
// notification only delays. Lease times are the deliverers' clocks: keep them in NTP sync.
package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/outbox"
)

// Options configure Open.
type Options struct {
	// Table is the outbox table's name (with a schema if wanted). Default "ackmsg_outbox".
	Table string
	// Logger logs reconnections of the notification listener. Default: slog.Default().
	Logger *slog.Logger
	// ConnectTimeout bounds each connection attempt, unless the URL sets connect_timeout.
	// Default 10 s (pgconf.ConnectTimeout, shared with replay/pgstore).
	ConnectTimeout time.Duration
	// Timeout bounds each operation (a claim, an enqueue, a list...), or less when the
	// caller's context ends first. Default 30 s (pgconf.Timeout, shared with replay/pgstore).
	Timeout time.Duration
}

// Store is the PostgreSQL outbox store.
type Store struct {
	pool    *pgxpool.Pool
	bounds  pgconf.Bounds
	table   string
	channel string
	log     *slog.Logger

	changed chan struct{}
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

var _ outbox.TxStore = (*Store)(nil)

// Open connects, creates the table when missing and starts listening for notifications. It
// takes at most ConnectTimeout + Timeout; a server that does not answer is a
// *pgconf.NoAnswerError naming the URL (its password masked).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Table == "" {
		opts.Table = "ackmsg_outbox"
	}
	pcfg, bounds, err := pgconf.Parse(dsn, pgconf.Bounds{ConnectTimeout: opts.ConnectTimeout, Timeout: opts.Timeout}, "ackmsg-outbox")
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := pgconf.OpenContext(ctx, bounds)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	// Connect first, so that a server that does not answer is told from a slow statement.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	conn.Release()
	s := &Store{pool: pool, bounds: bounds, table: pgx.Identifier{opts.Table}.Sanitize(), channel: opts.Table + "_changed",
		log: cmp.Or(opts.Logger, slog.Default()), changed: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "creating the outbox table "+s.table, bounds, false, err))
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go s.listen(lctx)
	return s, nil
}

// op bounds one operation by Options.Timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return pgconf.OpContext(ctx, s.bounds)
}

func (s *Store) live() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return outbox.ErrClosed
	}
	return nil
}

// Changed implements outbox.Store.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Pool is the connection pool, for the application's own transactions (EnqueueTx).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the listener and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.pool.Close()
	return nil
}
