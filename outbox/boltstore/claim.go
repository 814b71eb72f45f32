package boltstore

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ackmsg/ackmsg/outbox"
)

type claim struct {
	owner string
	until time.Time
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
