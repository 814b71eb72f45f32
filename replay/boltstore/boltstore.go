package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ackmsg/ackmsg/internal/boltkit"
	"github.com/ackmsg/ackmsg/replay"
)

// SchemaVersion is the layout of the history file Store writes.
const SchemaVersion = 1

// Layout: bucket "meta" holds the schema version; bucket "names" holds one bucket per
// publisher name, itself holding:
//
//	"seq"   seq (8 bytes, big endian, offset) -> timestamp (8) | len(msg_id) (2) | msg_id | envelope
//	"ids"   msg_id -> seq
//	"time"  timestamp (8, offset) | seq (8) -> nothing
//	"stat"  "last", "count", "bytes", "evicted" -> 8 bytes each
var (
	bucketNames = []byte("names")
	bucketSeq   = []byte("seq")
	bucketIDs   = []byte("ids")
	bucketTime  = []byte("time")
	bucketStat  = []byte("stat")
	keyLast     = []byte("last")
	keyCount    = []byte("count")
	keyBytes    = []byte("bytes")
	keyEvicted  = []byte("evicted")
)

// Options configure Open.
type Options struct {
	// Retention bounds each publisher's history.
	Retention replay.Retention
	// NoSync skips the fsync of each commit: a record then survives a crash of the process
	// (it is in the kernel's page cache when Append returns) but not of the machine, which may
	// also lose the last seq_ids handed out, so that they are handed out again.
	NoSync bool
	// LockTimeout bounds the wait for the file lock another process holds. Default 1 s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (ackmsg-replay on a stopped publisher's file).
	ReadOnly bool
	// Now is the clock for max_age. Default time.Now.
	Now func() time.Time
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("replay: the history file is locked by another process (one publisher per persistent_store file)")

// ErrCorrupt is returned by Open for a file that is not a readable history.
var ErrCorrupt = errors.New("replay: the history file is corrupt or not a history store")

// Store is the embedded history: one bbolt file (ACID, fsync on every commit unless NoSync),
// for one process at a time. Appends that arrive while a commit is being written are committed
// together, so concurrent publishers share fsyncs. Create it with Open.
type Store struct {
	db   *boltkit.DB
	opts Options
}

var _ replay.Store = (*Store)(nil)

// OpenBolt opens (creating it, and its directory, when missing) the history file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := boltkit.Open(path, boltkit.Config{
		Prefix: "replay", Corrupt: ErrCorrupt, Locked: ErrLocked, Closed: replay.ErrClosed,
		LockTimeout: opts.LockTimeout, ReadOnly: opts.ReadOnly, NoSync: opts.NoSync,
		Schema: boltkit.Schema{Version: SchemaVersion, What: "history", Buckets: [][]byte{bucketNames}},
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, opts: opts}, nil
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// seqKey maps an int64 to 8 bytes that sort as the numbers do.
func seqKey(n int64) []byte { return u64(uint64(n) ^ 1<<63) }

func keySeq(k []byte) int64 { return int64(binary.BigEndian.Uint64(k) ^ 1<<63) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Append records r under name, durably (fsync'd unless NoSync) when it returns nil. ctx bounds
// the wait for room in the group committer's queue; once queued, the record is committed and
// Append waits for the commit, so that it never reports a failure for a record that is in the
// file.
func (s *Store) Append(ctx context.Context, name string, r replay.Record) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("replay: %s is open read-only", s.db.Path())
	}
	if len(r.MsgID) > 0xffff {
		return fmt.Errorf("replay: msg_id of %d bytes", len(r.MsgID))
	}
	if err := ctx.Err(); err != nil {
		return err // not left to the queue's select, which may still pick the send
	}
	return s.db.Write(ctx, func(tx *bolt.Tx) error { return s.put(tx, name, r) })
}

func (s *Store) put(tx *bolt.Tx, name string, r replay.Record) error {
	nb, err := tx.Bucket(bucketNames).CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return err
	}
	var b [4]*bolt.Bucket
	for i, n := range [][]byte{bucketSeq, bucketIDs, bucketTime, bucketStat} {
		if b[i], err = nb.CreateBucketIfNotExists(n); err != nil {
			return err
		}
	}
	seqB, idB, timeB, statB := b[0], b[1], b[2], b[3]
	// Concurrent publishes commit in any order; a seq_id is recorded once.
	if seqB.Get(seqKey(r.Seq)) != nil {
		return fmt.Errorf("replay: seq_id %d of %q is already recorded", r.Seq, name)
	}
	last := max(int64(getU64(statB, keyLast)), r.Seq)
	val := make([]byte, 10+len(r.MsgID)+len(r.Envelope))
	copy(val, seqKey(r.Timestamp))
	binary.BigEndian.PutUint16(val[8:], uint16(len(r.MsgID)))
	copy(val[10:], r.MsgID)
	copy(val[10+len(r.MsgID):], r.Envelope)
	if err := seqB.Put(seqKey(r.Seq), val); err != nil {
		return err
	}
	if r.MsgID != "" {
		if err := idB.Put([]byte(r.MsgID), seqKey(r.Seq)); err != nil {
			return err
		}
	}
	if err := timeB.Put(append(seqKey(r.Timestamp), seqKey(r.Seq)...), nil); err != nil {
		return err
	}
	count := getU64(statB, keyCount) + 1
	size := getU64(statB, keyBytes) + uint64(len(r.Envelope))
	evicted := getU64(statB, keyEvicted)
	// Retention: drop the oldest records while a bound is exceeded (never the one just added).
	ret := s.opts.Retention
	var oldest int64 = -1 << 63
	if ret.MaxAge > 0 {
		oldest = s.opts.Now().Add(-ret.MaxAge).Unix()
	}
	c := seqB.Cursor()
	for k, v := c.First(); k != nil && keySeq(k) != r.Seq; k, v = c.First() {
		rec := decodeRecord(k, v)
		over := ret.MaxMessages > 0 && count > uint64(ret.MaxMessages) ||
			ret.MaxBytes > 0 && size > uint64(ret.MaxBytes) || rec.Timestamp < oldest
		if !over {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if rec.MsgID != "" {
			if cur := idB.Get([]byte(rec.MsgID)); bytes.Equal(cur, k) {
				if err := idB.Delete([]byte(rec.MsgID)); err != nil {
					return err
				}
			}
		}
		if err := timeB.Delete(append(seqKey(rec.Timestamp), k...)); err != nil {
			return err
		}
		count--
		size -= uint64(len(rec.Envelope))
		evicted++
	}
	for k, v := range map[string]uint64{string(keyLast): uint64(last), string(keyCount): count, string(keyBytes): size, string(keyEvicted): evicted} {
		if err := statB.Put([]byte(k), u64(v)); err != nil {
			return err
		}
	}
	return nil
}

func decodeRecord(k, v []byte) replay.Record {
	r := replay.Record{Seq: keySeq(k)}
	if len(v) < 10 {
		return r
	}
	r.Timestamp = keySeq(v[:8])
	n := int(binary.BigEndian.Uint16(v[8:]))
	if len(v) < 10+n {
		return r
	}
	r.MsgID = string(v[10 : 10+n])
	r.Envelope = v[10+n:]
	return r
}

// LastSeq is the highest seq_id ever appended under name. A read does not wait (bbolt's read
// transactions run beside the writer), so ctx is only checked before it starts, as in every
// read of BoltStore.
func (s *Store) LastSeq(ctx context.Context, name string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var last int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if st := s.stat(tx, name); st != nil {
			last = int64(getU64(st, keyLast))
		}
		return nil
	})
	return last, err
}

func (s *Store) sub(tx *bolt.Tx, name string, bucket []byte) *bolt.Bucket {
	nb := tx.Bucket(bucketNames).Bucket([]byte(name))
	if nb == nil {
		return nil
	}
	return nb.Bucket(bucket)
}

func (s *Store) stat(tx *bolt.Tx, name string) *bolt.Bucket { return s.sub(tx, name, bucketStat) }

// Names lists the publisher names the file holds a history for.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var names []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNames).ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	return names, err
}

// Stats describes name's history.
func (s *Store) Stats(ctx context.Context, name string) (replay.StoreStats, error) {
	var st replay.StoreStats
	if err := ctx.Err(); err != nil {
		return st, err
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		sb := s.stat(tx, name)
		if sb == nil {
			return nil
		}
		st.LastSeq = int64(getU64(sb, keyLast))
		st.Messages = int(getU64(sb, keyCount))
		st.Bytes = int(getU64(sb, keyBytes))
		st.Evicted = getU64(sb, keyEvicted)
		c := s.sub(tx, name, bucketSeq).Cursor()
		if k, _ := c.First(); k != nil {
			st.First = keySeq(k)
		}
		if k, _ := c.Last(); k != nil {
			st.Last = keySeq(k)
		}
		return nil
	})
	return st, err
}

// Query returns the retained records matching q, by seq_id.
func (s *Store) Query(ctx context.Context, name string, q replay.Query, lim replay.Limits) ([]replay.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []replay.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		seqB := s.sub(tx, name, bucketSeq)
		if seqB == nil {
			return replay.ErrNoMatch
		}
		idB, timeB := s.sub(tx, name, bucketIDs), s.sub(tx, name, bucketTime)
		found := map[int64][]byte{} // seq -> value
		size := 0
		add := func(k, v []byte) error {
			seq := keySeq(k)
			if _, ok := found[seq]; ok {
				return nil
			}
			r := decodeRecord(k, v)
			found[seq] = v
			size += len(r.Envelope)
			if lim.MaxMessages > 0 && len(found) > lim.MaxMessages {
				return &replay.TooManyError{Limit: lim.MaxMessages}
			}
			if lim.MaxBytes > 0 && size > lim.MaxBytes {
				return &replay.TooManyError{Limit: lim.MaxBytes, Bytes: true}
			}
			return nil
		}
		if err := match(seqB, idB, timeB, q, add); err != nil {
			return err
		}
		if len(found) == 0 {
			return replay.ErrNoMatch
		}
		seqs := make([]int64, 0, len(found))
		for n := range found {
			seqs = append(seqs, n)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		out = make([]replay.Record, len(seqs))
		for i, n := range seqs {
			r := decodeRecord(seqKey(n), found[n])
			r.Envelope = bytes.Clone(r.Envelope) // bbolt's memory is valid only inside the tx
			out[i] = r
		}
		return nil
	})
	return out, err
}

// match calls add with the key and value of every record q matches (fedmsg's predicates,
// OR-ed), possibly more than once for one record.
func match(seqB, idB, timeB *bolt.Bucket, q replay.Query, add func(k, v []byte) error) error {
	one := func(seq int64) error {
		k := seqKey(seq)
		if v := seqB.Get(k); v != nil {
			return add(k, v)
		}
		return nil
	}
	for _, n := range q.SeqIDs {
		if err := one(n); err != nil {
			return err
		}
	}
	if q.SeqID != nil {
		if err := one(*q.SeqID); err != nil {
			return err
		}
	}
	if q.SeqRange != nil && q.SeqRange[0] <= q.SeqRange[1] {
		c := seqB.Cursor()
		for k, v := c.Seek(seqKey(q.SeqRange[0])); k != nil && keySeq(k) <= q.SeqRange[1]; k, v = c.Next() {
			if err := add(k, v); err != nil {
				return err
			}
		}
	}
	ids := q.MsgIDs
	if q.MsgID != nil {
		ids = append(ids[:len(ids):len(ids)], *q.MsgID)
	}
	for _, id := range ids {
		if k := idB.Get([]byte(id)); k != nil {
			if err := one(keySeq(k)); err != nil {
				return err
			}
		}
	}
	if lo, hi, ok := q.TimeRange(); ok {
		c := timeB.Cursor()
		for k, _ := c.Seek(seqKey(lo)); k != nil && keySeq(k[:8]) <= hi; k, _ = c.Next() {
			if err := one(keySeq(k[8:])); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops the committer and closes the file. Appends after Close fail with replay.ErrClosed.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file's path.
func (s *Store) Path() string { return s.db.Path() }
