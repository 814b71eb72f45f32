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
