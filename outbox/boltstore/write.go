package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ackmsg/ackmsg/outbox"
)

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
