package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ackmsg/ackmsg/outbox"
)

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

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}
