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
	"errors"
	"fmt"
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
