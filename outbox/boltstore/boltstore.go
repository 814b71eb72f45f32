// Package boltstore is the outbox's embedded store: one local file (go.etcd.io/bbolt: ACID,
// copy-on-write B+tree, fsync on every commit), owned by one process at a time, which answers
// the others (ackmsg-outbox list, wait...) on a unix socket next to the file (SocketPath) for
// as long as it holds it, unless Options.NoSocket.
//
// Guarantees: a nil error from a write means the change is fsync'd. Concurrent writes are
// group-committed: whatever arrives while one transaction is being written goes into the next,
// so N publishers share fsyncs instead of paying one each. A change that fails (disk full,
// read-only, I/O error) returns an error and is not reported as stored.
//
// How it fails: a file held by another process is reported as locked (after Options.LockTimeout)
// rather than waited on forever; a file that is not a store, is truncated or corrupt is reported
// with its path, never a panic; a store of a newer schema is refused.
//
// Claims (which deliverer holds a message, until when) live in memory: the file lock means one
// process uses the store, and a restart rightly frees every claim of the process that died.
package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ackmsg/ackmsg/internal/boltkit"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/internal/storesock"
)

// SchemaVersion is the layout of the file this package writes.
const SchemaVersion = 1

var (
	bucketMeta    = boltkit.MetaBucket
	bucketRecords = []byte("records") // seq (8 bytes, big endian) -> record JSON
	bucketIDs     = []byte("ids")     // msg_id -> seq
	// The msg_ids of the last outbox.FinishedKept messages that left the store.
	bucketFinished = []byte("finished")       // msg_id -> finished JSON
	bucketFinOrder = []byte("finished_order") // sequence (8 bytes, big endian) -> msg_id
	keyDelivered   = []byte("delivered")
)

// Options configure Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock another process holds. Default 1 s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (ackmsg-outbox list and stats while a deliverer
	// runs cannot: the lock is exclusive; this is for a stopped deliverer's file).
	ReadOnly bool
	// NoSocket does not answer other processes on SocketPath(path). By default a writable store
	// does, for as long as it is open: the file lock admits this process only, and the socket
	// is how ackmsg-outbox (list, stats, retry, drop, flush, wait) and ackmsg-logger --outbox
	// reach the store meanwhile (see Shared). With NoSocket they fail with ErrLocked while
	// this process holds the file.
	NoSocket bool
}

// SocketPath is where the process that owns the store file at path answers the others:
// path + ".sock", mode 0600.
func SocketPath(path string) string { return path + ".sock" }

// Store is the embedded outbox store. Create it with Open.
type Store struct {
	path string
	db   *boltkit.DB
	sock *storesock.Server // nil with ReadOnly or NoSocket

	mu      sync.Mutex
	closing bool             // Close was called
	closed  bool             // no more operations: the socket is closed
	claims  map[string]claim // msg_id -> live or expired claim

	changed chan struct{}
}

type claim struct {
	owner string
	until time.Time
}

var _ outbox.Store = (*Store)(nil)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("boltstore: the store file is locked by another process")

// ErrCorrupt is returned by Open for a file that is not a readable store.
var ErrCorrupt = errors.New("boltstore: the store file is corrupt or not an outbox store")

// Open opens (creating it, and its directory, when missing) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	db, err := boltkit.Open(path, boltkit.Config{
		Prefix: "boltstore", Corrupt: ErrCorrupt, Locked: ErrLocked, Closed: outbox.ErrClosed,
		LockTimeout: opts.LockTimeout, ReadOnly: opts.ReadOnly, Soft: soft, NameFile: true,
		Schema: boltkit.Schema{Version: SchemaVersion, What: "outbox", Buckets: [][]byte{bucketRecords, bucketIDs},
			New: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyDelivered, u64(0)) },
			// Added within schema version 1: a file written before has none yet.
			Upgrade: func(tx *bolt.Tx) error {
				for _, b := range [][]byte{bucketFinished, bucketFinOrder} {
					if _, err := tx.CreateBucketIfNotExists(b); err != nil {
						return err
					}
				}
				return nil
			}},
	})
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, db: db, claims: make(map[string]claim), changed: make(chan struct{}, 1)}
	if !opts.ReadOnly && !opts.NoSocket {
		// After the lock: whoever holds the file owns the socket, so one found there is stale.
		if s.sock, err = storesock.Listen(SocketPath(path), s); err != nil {
			s.Close()
			return nil, fmt.Errorf("boltstore: %s: %w (Options.NoSocket opens the file without one)", path, err)
		}
	}
	return s, nil
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// soft errors are answers (nothing was written), not failures of the transaction.
func soft(err error) bool {
	return errors.Is(err, outbox.ErrDuplicate) || errors.Is(err, outbox.ErrNotFound) || errors.Is(err, outbox.ErrNotClaimed)
}

// write queues fn for the group committer and waits until it is durable (or failed).
func (s *Store) write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.live(); err != nil {
		return err
	}
	return s.db.Write(ctx, fn)
}

func (s *Store) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// stored is a Record as kept in the file (claims are not).
type stored struct {
	Seq         uint64    `json:"seq"`
	MsgID       string    `json:"msg_id"`
	Topic       string    `json:"topic"`
	Envelope    []byte    `json:"envelope"`
	Recipients  []string  `json:"recipients"`
	Acked       []string  `json:"acked,omitempty"`
	Enqueued    time.Time `json:"enqueued"`
	Expires     time.Time `json:"expires"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	State       int       `json:"state"`
	DeadReason  string    `json:"dead_reason,omitempty"`
}

func toStored(r *outbox.Record) stored {
	return stored{Seq: r.Seq, MsgID: r.MsgID, Topic: r.Topic, Envelope: r.Envelope, Recipients: r.Recipients, Acked: r.Acked,
		Enqueued: r.Enqueued, Expires: r.Expires, Attempts: r.Attempts, NextAttempt: r.NextAttempt, LastError: r.LastError,
		State: int(r.State), DeadReason: r.DeadReason}
}

func (st *stored) record() *outbox.Record {
	return &outbox.Record{Seq: st.Seq, MsgID: st.MsgID, Topic: st.Topic, Envelope: st.Envelope, Recipients: st.Recipients,
		Acked: st.Acked, Enqueued: st.Enqueued, Expires: st.Expires, Attempts: st.Attempts, NextAttempt: st.NextAttempt,
		LastError: st.LastError, State: outbox.State(st.State), DeadReason: st.DeadReason}
}

func decode(path string, k, v []byte) (*stored, error) {
	var st stored
	if err := json.Unmarshal(v, &st); err != nil {
		return nil, fmt.Errorf("%w: %s: record %x: %v", ErrCorrupt, path, k, err)
	}
	return &st, nil
}

func (s *Store) get(tx *bolt.Tx, msgID string) (*stored, []byte, error) {
	seq := tx.Bucket(bucketIDs).Get([]byte(msgID))
	if seq == nil {
		return nil, nil, outbox.ErrNotFound
	}
	v := tx.Bucket(bucketRecords).Get(seq)
	if v == nil {
		return nil, nil, fmt.Errorf("%w: %s: msg_id %s points at a missing record", ErrCorrupt, s.path, msgID)
	}
	st, err := decode(s.path, seq, v)
	return st, slices.Clone(seq), err
}

func (s *Store) put(tx *bolt.Tx, key []byte, st *stored) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketRecords).Put(key, v)
}

// Enqueue implements outbox.Store.
func (s *Store) Enqueue(ctx context.Context, recs ...*outbox.Record) error {
	if len(recs) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if r.MsgID == "" {
			return errors.New("boltstore: a record without msg_id")
		}
		if seen[r.MsgID] {
			return fmt.Errorf("%w: %s twice in one enqueue", outbox.ErrDuplicate, r.MsgID)
		}
		seen[r.MsgID] = true
	}
	var seqs []uint64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketIDs)
		for _, r := range recs {
			if ids.Get([]byte(r.MsgID)) != nil {
				return fmt.Errorf("%w: %s", outbox.ErrDuplicate, r.MsgID)
			}
		}
		recB := tx.Bucket(bucketRecords)
		seqs = seqs[:0]
		for _, r := range recs {
			seq, err := recB.NextSequence()
			if err != nil {
				return err
			}
			st := toStored(r)
			st.Seq, st.State = seq, int(outbox.Pending)
			if err := s.put(tx, u64(seq), &st); err != nil {
				return err
			}
			if err := ids.Put([]byte(r.MsgID), u64(seq)); err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range recs {
		r.Seq = seqs[i]
	}
	s.notify()
	return nil
}

// Claim implements outbox.Store.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*outbox.Record
	blocked := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			st, err := decode(s.path, k, v)
			if err != nil {
				return err
			}
			if st.State != int(outbox.Pending) || blocked[st.Topic] {
				continue
			}
			if cl, ok := s.claims[st.MsgID]; ok && cl.until.After(now) {
				if cl.owner != owner {
					blocked[st.Topic] = true // one deliverer per topic at a time, in order
				}
				continue
			}
			if st.NextAttempt.After(now) {
				continue
			}
			out = append(out, st.record())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range out {
		s.claims[r.MsgID] = claim{owner: owner, until: now.Add(lease)}
	}
	return out, nil
}

// MarkAcked implements outbox.Store.
func (s *Store) MarkAcked(ctx context.Context, msgID string, recipients ...string) (bool, error) {
	var done bool
	err := s.write(ctx, func(tx *bolt.Tx) error {
		done = false
		st, key, err := s.get(tx, msgID)
		if err != nil {
			return err
		}
		changed := false
		for _, r := range recipients {
			if slices.Contains(st.Recipients, r) && !slices.Contains(st.Acked, r) {
				st.Acked = append(st.Acked, r)
				changed = true
			}
		}
		slices.Sort(st.Acked)
		if len(st.Acked) == len(st.Recipients) {
			done = true
			if err := tx.Bucket(bucketRecords).Delete(key); err != nil {
				return err
			}
			if err := tx.Bucket(bucketIDs).Delete([]byte(msgID)); err != nil {
				return err
			}
			m := tx.Bucket(bucketMeta)
			var n uint64
			if v := m.Get(keyDelivered); len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			if err := m.Put(keyDelivered, u64(n+1)); err != nil {
				return err
			}
			return s.remember(tx, msgID, outbox.Delivered)
		}
		if !changed {
			return nil
		}
		return s.put(tx, key, st)
	})
	if err != nil {
		return false, err
	}
	if done {
		s.mu.Lock()
		delete(s.claims, msgID)
		s.mu.Unlock()
	}
	return done, nil
}

// Release implements outbox.Store.
func (s *Store) Release(ctx context.Context, owner, msgID string, next time.Time, lastErr string) error {
	s.mu.Lock()
	cl, ok := s.claims[msgID]
	s.mu.Unlock()
	// A claim that ran out but that nobody took over is still this owner's: one process uses
	// the file, and no one else is delivering the message.
	if !ok || cl.owner != owner {
		return outbox.ErrNotClaimed
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		st, key, err := s.get(tx, msgID)
		if err != nil {
			return err
		}
		st.Attempts++
		st.NextAttempt = next
		if lastErr != "" {
			st.LastError = lastErr
		}
		return s.put(tx, key, st)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if c, ok := s.claims[msgID]; ok && c.owner == owner {
		delete(s.claims, msgID)
	}
	s.mu.Unlock()
	s.notify()
	return nil
}

// Kill implements outbox.Store.
func (s *Store) Kill(ctx context.Context, msgID, reason string) error {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		st, key, err := s.get(tx, msgID)
		if err != nil {
			return err
		}
		st.State, st.DeadReason = int(outbox.Dead), reason
		return s.put(tx, key, st)
	})
	if err == nil {
		s.mu.Lock()
		delete(s.claims, msgID)
		s.mu.Unlock()
	}
	return err
}

// Retry implements outbox.Store.
func (s *Store) Retry(ctx context.Context, expires time.Time, msgIDs ...string) (int, error) {
	var n int
	now := time.Now()
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		revive := func(key []byte, st *stored) error {
			st.State, st.DeadReason, st.NextAttempt, st.Expires = int(outbox.Pending), "", now, expires
			n++
			return s.put(tx, key, st)
		}
		if len(msgIDs) == 0 {
			c := tx.Bucket(bucketRecords).Cursor()
			var dead []*stored
			for k, v := c.First(); k != nil; k, v = c.Next() {
				st, err := decode(s.path, k, v)
				if err != nil {
					return err
				}
				if st.State == int(outbox.Dead) {
					dead = append(dead, st)
				}
			}
			for _, st := range dead {
				if err := revive(u64(st.Seq), st); err != nil {
					return err
				}
			}
			return nil
		}
		for _, id := range msgIDs {
			st, key, err := s.get(tx, id)
			if errors.Is(err, outbox.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := revive(key, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.notify()
	}
	return n, nil
}

// Drop implements outbox.Store.
func (s *Store) Drop(ctx context.Context, msgID string) error {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		_, key, err := s.get(tx, msgID)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketRecords).Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIDs).Delete([]byte(msgID)); err != nil {
			return err
		}
		return s.remember(tx, msgID, outbox.Dropped)
	})
	if err == nil {
		s.mu.Lock()
		delete(s.claims, msgID)
		s.mu.Unlock()
	}
	return err
}

// Get implements outbox.Store.
func (s *Store) Get(ctx context.Context, msgID string) (*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var r *outbox.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		st, _, err := s.get(tx, msgID)
		if errors.Is(err, outbox.ErrNotFound) {
			if b := tx.Bucket(bucketFinished); b != nil {
				if v := b.Get([]byte(msgID)); v != nil {
					var f finished
					if err := json.Unmarshal(v, &f); err != nil {
						return fmt.Errorf("%w: %s: finished record %q: %v", ErrCorrupt, s.path, msgID, err)
					}
					r = &outbox.Record{MsgID: msgID, State: f.State, Finished: f.At}
					return nil
				}
			}
		}
		if err != nil {
			return err
		}
		r = st.record()
		return nil
	})
	return r, err
}

// finishedKept is outbox.FinishedKept; tests lower it.
var finishedKept uint64 = outbox.FinishedKept

// finished is what the store remembers of a message that left it.
type finished struct {
	State outbox.State `json:"state"`
	At    time.Time    `json:"at"`
}

// remember records that msgID left the store, forgetting the oldest beyond outbox.FinishedKept.
func (s *Store) remember(tx *bolt.Tx, msgID string, state outbox.State) error {
	v, err := json.Marshal(finished{State: state, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	fin, order := tx.Bucket(bucketFinished), tx.Bucket(bucketFinOrder)
	n, err := order.NextSequence()
	if err != nil {
		return err
	}
	if err := fin.Put([]byte(msgID), v); err != nil {
		return err
	}
	if err := order.Put(u64(n), []byte(msgID)); err != nil {
		return err
	}
	if n <= finishedKept {
		return nil
	}
	old := u64(n - finishedKept)
	if id := order.Get(old); id != nil {
		if err := fin.Delete(id); err != nil {
			return err
		}
	}
	return order.Delete(old)
}

// List implements outbox.Store.
func (s *Store) List(ctx context.Context, f outbox.Filter) ([]*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var out []*outbox.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
			st, err := decode(s.path, k, v)
			if err != nil {
				return err
			}
			if (len(f.States) > 0 && !slices.Contains(f.States, outbox.State(st.State))) || (f.Topic != "" && st.Topic != f.Topic) {
				continue
			}
			out = append(out, st.record())
		}
		return nil
	})
	return out, err
}

// Stats implements outbox.Store.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	if err := s.live(); err != nil {
		return outbox.Stats{}, err
	}
	st := outbox.Stats{MissingByRecipient: map[string]int{}}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyDelivered); len(v) == 8 {
			st.Delivered = binary.BigEndian.Uint64(v)
		}
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decode(s.path, k, v)
			if err != nil {
				return err
			}
			if r.State == int(outbox.Dead) {
				st.Dead++
				continue
			}
			st.Pending++
			if cl, ok := s.claims[r.MsgID]; ok && cl.until.After(now) {
				st.InFlight++
			}
			if st.OldestPending.IsZero() || r.Enqueued.Before(st.OldestPending) {
				st.OldestPending = r.Enqueued
			}
			for _, m := range r.record().Missing() {
				st.MissingByRecipient[m]++
			}
		}
		return nil
	})
	return st, err
}

// Changed implements outbox.Store.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Path is the store's file.
func (s *Store) Path() string { return s.path }

func (s *Store) live() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return outbox.ErrClosed
	}
	return nil
}

// Close waits for the writes already queued, stops the committer and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	sock := s.sock
	s.sock = nil
	s.mu.Unlock()
	// The socket first: the requests under way need the store, and the socket must be gone
	// before the lock is, so that a next owner finds no live one.
	var sockErr error
	if sock != nil {
		sockErr = sock.Close()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	// Writes already queued are committed before the file closes.
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.path, err)
	}
	if sockErr != nil {
		return fmt.Errorf("boltstore: %s: %w", s.path, sockErr)
	}
	return nil
}
