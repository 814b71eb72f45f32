package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/internal/storesock"
)

// Shared is a store file used without owning it, as the commands (ackmsg-outbox list, wait,
// ackmsg-logger --outbox) and a program that only enqueues while ackmsg-outbox serve delivers
// use it: every operation goes to the file's owner over its socket, or, when no process owns
// the file, opens the file for that one operation and closes it. So a Shared never keeps an
// owner out for more than one operation (milliseconds). Claims belong to the owner: Claim,
// MarkAcked, Release and Kill are refused, and Changed never fires. Create it with OpenShared.
type Shared struct {
	path string
}

var _ outbox.Store = (*Shared)(nil)

// OpenShared returns the store file at path (created when missing) shared with its owner. It
// checks the file once (a corrupt one fails here, not at the first operation) and then holds
// nothing: Close releases nothing.
func OpenShared(ctx context.Context, path string) (*Shared, error) {
	s := &Shared{path: path}
	if err := s.do(ctx, func(outbox.Store) error { return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// lockWait bounds one wait for the file lock: the owner is either answering on the socket
// (asked instead) or another command's one operation (milliseconds). ownerWait bounds the
// whole search for an owner or the lock, for an owner that holds the file without a socket
// (a program that opened it with Options.NoSocket).
const (
	lockWait  = 100 * time.Millisecond
	ownerWait = 5 * time.Second
)

// do runs fn on the store: the owner's over its socket, else the file, opened for fn alone.
func (s *Shared) do(ctx context.Context, fn func(outbox.Store) error) error {
	deadline := time.Now().Add(ownerWait)
	for {
		if r, err := storesock.Dial(ctx, SocketPath(s.path)); err == nil {
			defer r.Close()
			return fn(r)
		}
		st, err := Open(s.path, Options{LockTimeout: lockWait, NoSocket: true})
		if err == nil {
			ferr := fn(st)
			if cerr := st.Close(); ferr == nil && cerr != nil {
				ferr = cerr
			}
			return ferr
		}
		if !errors.Is(err, ErrLocked) {
			return err
		}
		// Locked: an owner starting (its socket comes right after the lock) or stopping, or
		// another command's one operation. Ask again.
		if time.Now().After(deadline) {
			return fmt.Errorf("%w, which answers on no socket (%s) within %s: a program that opened it with Options.NoSocket?",
				err, SocketPath(s.path), ownerWait)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

var errClaims = errors.New("boltstore: claims belong to the process that owns the store file (its deliverer)")

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
