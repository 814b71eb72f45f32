// Package boltkit is what the two bbolt file stores (replay's history, outbox/boltstore) share:
// opening a file that may be damaged, its schema version, and the group committer.
//
// Guarantees: Open never panics on a damaged file: a file that is not a bbolt file, is shorter
// than its own header says (which bbolt would read past, dying of SIGBUS) or makes bbolt panic
// is reported as Config.Corrupt with its path; a file another process holds, as Config.Locked
// after Config.LockTimeout. Update and View turn a panic of bbolt on a damaged page into the
// same error. A nil error from Write means the change is committed (fsync'd unless NoSync);
// writes queued while one transaction is written go into the next, in one transaction and one
// fsync, and a write that fails the transaction of its group is run again alone, so that one
// bad write cannot fail the others.
//
// It imports bbolt and nothing of this module: each store brings its own errors, prefix and
// buckets in Config.
package boltkit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// MetaBucket holds the schema version under "schema_version" (8 bytes, big endian), and
// whatever else a store keeps there.
var MetaBucket = []byte("meta")

var keyVersion = []byte("schema_version")

// maxBatch bounds the writes of one group commit.
const maxBatch = 1000

// Config describes one store's file.
type Config struct {
	// Prefix starts the messages of the errors this package makes ("replay", "boltstore").
	Prefix string
	// Corrupt is wrapped by the errors for a file that is not a readable store.
	Corrupt error
	// Locked is wrapped by the error for a file another process holds.
	Locked error
	// Closed is what Write returns once Close was called.
	Closed error
	// LockTimeout bounds the wait for the file lock. Default 1 s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only; its directory is not created.
	ReadOnly bool
	// NoSync skips the fsync of each commit.
	NoSync bool
	// Schema is what every file of the store holds.
	Schema Schema
	// Soft tells errors that are answers (nothing was written: a duplicate, not found) from
	// failures: a soft error of one write does not fail the transaction of its group. Nil: every
	// error is a failure.
	Soft func(error) bool
	// NameFile wraps the error of a failed write transaction (a soft error aside) as
	// "<Prefix>: <path>: <error>"; in Open, the Corrupt and schema version errors, which name
	// the file already, are left as they are.
	NameFile bool
}

// Schema is the layout a store checks on Open.
type Schema struct {
	// Version is the layout version this program reads and writes.
	Version uint64
	// What names the store in the error for a file without its buckets: "missing the <What>
	// buckets".
	What string
	// Buckets are the top-level buckets besides MetaBucket that every file has: a file with
	// none of them (nor MetaBucket) is new and gets them, one missing some is corrupt.
	Buckets [][]byte
	// New, when set, fills a new file after its buckets and version.
	New func(tx *bolt.Tx) error
	// Upgrade, when set, runs on every writable open after the check: what was added to the
	// layout within one Version.
	Upgrade func(tx *bolt.Tx) error
}

// DB is an open store file with its group committer. Create it with Open.
type DB struct {
	path string
	db   *bolt.DB
	cfg  Config

	ops     chan *op
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	closed bool
}

type op struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// Open opens (creating it, and its directory, when missing and not ReadOnly) the file at path,
// checks its schema and starts the committer.
func Open(path string, cfg Config) (d *DB, err error) {
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = time.Second
	}
	if !cfg.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Prefix, err)
		}
	}
	defer func() {
		// bbolt trusts its file; a damaged one can make it panic instead of failing.
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%w: %s: %v", cfg.Corrupt, path, r)
		}
	}()
	if err := preflight(path, cfg); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.LockTimeout, ReadOnly: cfg.ReadOnly, NoSync: cfg.NoSync})
	switch {
	case errors.Is(err, bolterr.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %s)", cfg.Locked, path, cfg.LockTimeout)
	case errors.Is(err, bolterr.ErrInvalid), errors.Is(err, bolterr.ErrChecksum), errors.Is(err, bolterr.ErrVersionMismatch),
		errors.Is(err, bolterr.ErrInvalidMapping):
		return nil, fmt.Errorf("%w: %s: %v", cfg.Corrupt, path, err)
	case err != nil:
		return nil, fmt.Errorf("%s: open %s: %w", cfg.Prefix, path, err)
	}
	d = &DB{path: path, db: db, cfg: cfg, ops: make(chan *op, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := d.init(); err != nil {
		db.Close()
		return nil, err
	}
	go d.commit()
	return d, nil
}

// preflight refuses a file shorter than its own metadata says: bbolt maps the file and would
// die of SIGBUS reading past its end, which no recover can catch.
func preflight(path string, cfg Config) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: open %s: %w", cfg.Prefix, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %s: %w", cfg.Prefix, path, err)
	}
	if fi.Size() == 0 {
		return nil // bbolt initialises an empty file
	}
	// Page 0 starts with a 16-byte page header and the meta: magic, version, page size, flags
	// (4 bytes each), the root bucket (16), the freelist page (8), then the high-water page id.
	var b [64]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return fmt.Errorf("%w: %s: %d bytes, shorter than a store header", cfg.Corrupt, path, fi.Size())
	}
	const magic = 0xED0CDAED
	if binary.NativeEndian.Uint32(b[16:]) != magic {
		return fmt.Errorf("%w: %s: not a bbolt file", cfg.Corrupt, path)
	}
	pageSize := int64(binary.NativeEndian.Uint32(b[24:]))
	hw := int64(binary.NativeEndian.Uint64(b[56:]))
	if pageSize <= 0 || hw <= 0 || hw > fi.Size() {
		return fmt.Errorf("%w: %s: damaged header (page size %d, %d pages)", cfg.Corrupt, path, pageSize, hw)
	}
	metas := []int64{hw}
	var b1 [64]byte
	if _, err := f.ReadAt(b1[:], pageSize); err == nil && binary.NativeEndian.Uint32(b1[16:]) == magic {
		metas = append(metas, int64(binary.NativeEndian.Uint64(b1[56:])))
	}
	for _, n := range metas {
		if need := n * pageSize; need > fi.Size() {
			return fmt.Errorf("%w: %s: truncated: %d bytes, its header says %d", cfg.Corrupt, path, fi.Size(), need)
		}
	}
	return nil
}

// schemaError is a file of another layout version: not corrupt, and not named again by NameFile.
type schemaError struct{ error }

func (d *DB) init() (err error) {
	sc := d.cfg.Schema
	buckets := append([][]byte{MetaBucket}, sc.Buckets...)
	check := func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("%w: %s: missing the %s buckets", d.cfg.Corrupt, d.path, sc.What)
			}
		}
		v := tx.Bucket(MetaBucket).Get(keyVersion)
		if len(v) != 8 {
			return fmt.Errorf("%w: %s: no schema version", d.cfg.Corrupt, d.path)
		}
		if n := binary.BigEndian.Uint64(v); n != sc.Version {
			return schemaError{fmt.Errorf("%s: %s has schema version %d; this program reads version %d", d.cfg.Prefix, d.path, n, sc.Version)}
		}
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", d.cfg.Corrupt, d.path, r)
		}
	}()
	if d.cfg.ReadOnly {
		return unwrapSchema(d.db.View(check))
	}
	err = d.db.Update(func(tx *bolt.Tx) error {
		if err := check(tx); err != nil && !empty(tx, buckets) {
			return err
		} else if err != nil {
			if err := d.create(tx, buckets); err != nil {
				return err
			}
		}
		if sc.Upgrade != nil {
			return sc.Upgrade(tx)
		}
		return nil
	})
	var se schemaError
	switch {
	case errors.As(err, &se):
		return se.error
	case err != nil && d.cfg.NameFile && !errors.Is(err, d.cfg.Corrupt):
		return fmt.Errorf("%s: %s: %w", d.cfg.Prefix, d.path, err)
	}
	return err
}

func unwrapSchema(err error) error {
	if se, ok := err.(schemaError); ok {
		return se.error
	}
	return err
}

// empty reports a new file: none of the store's buckets exist yet.
func empty(tx *bolt.Tx, buckets [][]byte) bool {
	for _, b := range buckets {
		if tx.Bucket(b) != nil {
			return false
		}
	}
	return true
}

func (d *DB) create(tx *bolt.Tx, buckets [][]byte) error {
	for _, b := range buckets {
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, d.cfg.Schema.Version)
	if err := tx.Bucket(MetaBucket).Put(keyVersion, v); err != nil {
		return err
	}
	if d.cfg.Schema.New != nil {
		return d.cfg.Schema.New(tx)
	}
	return nil
}

// Path is the file's path.
func (d *DB) Path() string { return d.path }

// View runs fn in a read transaction; a panic of bbolt on a damaged file is returned as
// Corrupt.
func (d *DB) View(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", d.cfg.Corrupt, d.path, r)
		}
	}()
	return d.db.View(fn)
}

// Update runs fn in a write transaction of its own, bypassing the committer: a panic of bbolt
// on a damaged file is returned as Corrupt; a failure names the file when NameFile.
func (d *DB) Update(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", d.cfg.Corrupt, d.path, r)
		}
	}()
	if err := d.db.Update(fn); err != nil {
		if d.cfg.NameFile && !d.soft(err) {
			return fmt.Errorf("%s: %s: %w", d.cfg.Prefix, d.path, err)
		}
		return err
	}
	return nil
}

func (d *DB) soft(err error) bool { return err != nil && d.cfg.Soft != nil && d.cfg.Soft(err) }

func (d *DB) hard(err error) error {
	if err != nil && !d.soft(err) {
		return err
	}
	return nil
}

// Write queues fn for the committer and waits until it is committed (or failed). fn may run
// more than once (alone again when its group failed); each run is in a fresh transaction.
// ctx bounds only the wait for room in the queue.
func (d *DB) Write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return d.cfg.Closed
	}
	// Sent under the lock, so Close cannot stop the committer between the check and the send.
	select {
	case d.ops <- o:
	case <-ctx.Done():
		d.mu.Unlock()
		return ctx.Err()
	}
	d.mu.Unlock()
	// Once queued the write happens; waiting for it is not optional, or a caller could report a
	// failure for a change that was in fact committed.
	return <-o.done
}

// commit is the group committer: every write queued while one transaction is written goes
// into the next, in one transaction and one fsync.
func (d *DB) commit() {
	defer close(d.stopped)
	for {
		batch := d.next()
		if len(batch) == 0 {
			return
		}
		d.run(batch)
	}
}

// next waits for a write and takes the others queued behind it; after Close it takes what is
// left, and nothing once the queue is empty (Close sets closed before stop, so nothing more
// arrives).
func (d *DB) next() []*op {
	var batch []*op
	select {
	case o := <-d.ops:
		batch = append(batch, o)
	case <-d.stop:
	}
	for len(batch) < maxBatch {
		select {
		case o := <-d.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// run commits batch in one transaction. A write failing with a hard error fails it; then each
// write is run alone, so one bad write cannot fail the others.
func (d *DB) run(batch []*op) {
	results := make([]error, len(batch))
	err := d.Update(func(tx *bolt.Tx) error {
		for i, o := range batch {
			if results[i] = o.fn(tx); d.hard(results[i]) != nil {
				return results[i]
			}
		}
		return nil
	})
	switch {
	case err == nil:
	case len(batch) == 1:
		results[0] = err
	default:
		for i, o := range batch {
			results[i] = nil
			if e := d.Update(func(tx *bolt.Tx) error { results[i] = o.fn(tx); return d.hard(results[i]) }); e != nil {
				results[i] = e
			}
		}
	}
	for i, o := range batch {
		o.done <- results[i]
	}
}

// Close answers the writes already queued, stops the committer and closes the file. Writes
// after Close fail with Config.Closed; a second Close returns nil. A Write waiting for room in
// a full queue holds the lock Close takes, until the committer makes room.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	<-d.stopped
	return d.db.Close()
}
