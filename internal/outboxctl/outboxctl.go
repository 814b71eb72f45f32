// Package outboxctl gives the short-lived commands (ackmsg-outbox list, stats, retry, drop,
// flush, wait; ackmsg-logger --outbox) the configured outbox store without taking it from
// anyone. A file store admits one process (bbolt's exclusive lock, which also blocks
// read-only opens), and its owner, whoever it is (ackmsg-outbox serve, a program using
// outbox/boltstore), answers on the unix socket next to the file. So a command never holds the
// file beyond one operation: each operation asks the owner over the socket, or, when no process
// owns the file, opens it, does the one operation and closes it. A command that waits (wait
// polls for minutes) therefore never locks a deliverer out, and every command works while
// another process owns the store. A PostgreSQL store needs none of this: every process opens
// it, and several deliverers may serve it.
package outboxctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/storesock"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
)

// Open returns the configured store for a command: PostgreSQL when store is a postgres:// URL,
// else a *Shared for the file. The caller closes it.
func Open(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	s := &Shared{path: cfg.Store}
	// Fail now, not at the first operation, on a file that is not a store.
	if err := s.do(ctx, func(outbox.Store) error { return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

var errNoStore = errors.New("no outbox store configured: set store in the [outbox] table of the configuration (a file path, or a postgres:// URL)")

func openPostgres(ctx context.Context, dsn string) (outbox.Store, error) {
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{}) // bounded, and its errors name the URL (password masked)
	if err != nil {
		return nil, fmt.Errorf("outbox store: %w", err)
	}
	return s, nil
}

// OpenLocal opens the store for a deliverer, which owns it: the file itself (which then
// answers the other processes on boltstore.SocketPath), or PostgreSQL.
func OpenLocal(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	return boltstore.Open(cfg.Store, boltstore.Options{})
}

// Shared is a file store used without owning it: every operation goes to the file's owner over
// its socket, or, when no process owns the file, opens the file, runs and closes it. Claims
// belong to an owner: Claim, MarkAcked, Release and Kill are refused.
type Shared struct {
	path string
}

var _ outbox.Store = (*Shared)(nil)

// lockWait bounds one wait for the file lock: the owner is either answering on the socket
// (asked instead) or another command's one operation (milliseconds). ownerWait bounds the
// whole search for an owner or the lock, for an owner that holds the file without a socket
// (a program that opened it with boltstore.Options.NoSocket).
const (
	lockWait  = 100 * time.Millisecond
	ownerWait = 5 * time.Second
)

// do runs fn on the store: the owner's over its socket, else the file, opened for fn alone.
func (s *Shared) do(ctx context.Context, fn func(outbox.Store) error) error {
	deadline := time.Now().Add(ownerWait)
	for {
		if r, err := storesock.Dial(ctx, boltstore.SocketPath(s.path)); err == nil {
			defer r.Close()
			return fn(r)
		}
		st, err := boltstore.Open(s.path, boltstore.Options{LockTimeout: lockWait, NoSocket: true})
		if err == nil {
			ferr := fn(st)
			if cerr := st.Close(); ferr == nil && cerr != nil {
				ferr = cerr
			}
			return ferr
		}
		if !errors.Is(err, boltstore.ErrLocked) {
			return err
		}
		// Locked: an owner starting (its socket comes right after the lock) or stopping, or
		// another command's one operation. Ask again.
		if time.Now().After(deadline) {
			return fmt.Errorf("%w, which answers on no socket (%s) within %s: a program that opened it with boltstore.Options.NoSocket?",
				err, boltstore.SocketPath(s.path), ownerWait)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

var errClaims = errors.New("outboxctl: claims belong to the process that owns the store file (its deliverer)")

// Enqueue implements outbox.Store.
func (s *Shared) Enqueue(ctx context.Context, recs ...*outbox.Record) error {
	return s.do(ctx, func(st outbox.Store) error { return st.Enqueue(ctx, recs...) })
}

// Claim is refused: claims are the owner's.
func (s *Shared) Claim(context.Context, string, time.Time, time.Duration, int) ([]*outbox.Record, error) {
	return nil, errClaims
}

// MarkAcked is refused.
func (s *Shared) MarkAcked(context.Context, string, ...string) (bool, error) { return false, errClaims }

// Release is refused.
func (s *Shared) Release(context.Context, string, string, time.Time, string) error { return errClaims }

// Kill is refused.
func (s *Shared) Kill(context.Context, string, string) error { return errClaims }

// Retry implements outbox.Store.
func (s *Shared) Retry(ctx context.Context, expires time.Time, ids ...string) (n int, err error) {
	err = s.do(ctx, func(st outbox.Store) (err error) { n, err = st.Retry(ctx, expires, ids...); return err })
	return n, err
}

// Drop implements outbox.Store.
func (s *Shared) Drop(ctx context.Context, id string) error {
	return s.do(ctx, func(st outbox.Store) error { return st.Drop(ctx, id) })
}

// Get implements outbox.Store.
func (s *Shared) Get(ctx context.Context, id string) (r *outbox.Record, err error) {
	err = s.do(ctx, func(st outbox.Store) (err error) { r, err = st.Get(ctx, id); return err })
	return r, err
}

// List implements outbox.Store.
func (s *Shared) List(ctx context.Context, f outbox.Filter) (rs []*outbox.Record, err error) {
	err = s.do(ctx, func(st outbox.Store) (err error) { rs, err = st.List(ctx, f); return err })
	return rs, err
}

// Stats implements outbox.Store.
func (s *Shared) Stats(ctx context.Context) (st outbox.Stats, err error) {
	err = s.do(ctx, func(o outbox.Store) (err error) { st, err = o.Stats(ctx); return err })
	return st, err
}

// Changed implements outbox.Store: never fires (the owner's deliverer watches its own store).
func (s *Shared) Changed() <-chan struct{} { return nil }

// Close implements outbox.Store: nothing is held between operations.
func (s *Shared) Close() error { return nil }
