package replay

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
)

// memStore is the history this package's own tests serve from: it cannot import a real store
// (replay/boltstore and replay/pgstore import replay). It keeps what the server and the tracker
// ask of a store (seq_id, seq_ids, seq_id_range, msg_id(s), the limits); retention and time
// queries are the real stores' business, proven by replay/storetest in their packages.
type memStore struct {
	mu   sync.Mutex
	recs map[string][]Record // by name, in append order
}

func newMemStore() *memStore { return &memStore{recs: map[string][]Record{}} }

func (s *memStore) Append(ctx context.Context, name string, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[name] = append(s.recs[name], r)
	return nil
}

func (s *memStore) LastSeq(ctx context.Context, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last int64
	for _, r := range s.recs[name] {
		last = max(last, r.Seq)
	}
	return last, ctx.Err()
}

func (s *memStore) Names(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.recs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, ctx.Err()
}

func (s *memStore) Stats(ctx context.Context, name string) (StoreStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := StoreStats{Messages: len(s.recs[name])}
	for _, r := range s.recs[name] {
		st.LastSeq, st.Last, st.Bytes = max(st.LastSeq, r.Seq), max(st.Last, r.Seq), st.Bytes+len(r.Envelope)
		if st.First == 0 || r.Seq < st.First {
			st.First = r.Seq
		}
	}
	return st, ctx.Err()
}

func (s *memStore) Query(ctx context.Context, name string, q Query, lim Limits) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	size := 0
	for _, r := range s.recs[name] {
		in := slices.Contains(q.SeqIDs, r.Seq) || q.SeqID != nil && *q.SeqID == r.Seq ||
			q.SeqRange != nil && q.SeqRange[0] <= r.Seq && r.Seq <= q.SeqRange[1] ||
			slices.Contains(q.MsgIDs, r.MsgID) || q.MsgID != nil && *q.MsgID == r.MsgID
		if !in {
			continue
		}
		out, size = append(out, r), size+len(r.Envelope)
		if lim.MaxMessages > 0 && len(out) > lim.MaxMessages {
			return nil, &TooManyError{Limit: lim.MaxMessages}
		}
		if lim.MaxBytes > 0 && size > lim.MaxBytes {
			return nil, &TooManyError{Limit: lim.MaxBytes, Bytes: true}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoMatch
	}
	slices.SortFunc(out, func(a, b Record) int { return int(a.Seq - b.Seq) })
	return out, nil
}

func (s *memStore) Close() error { return nil }

func ptr[T any](v T) *T { return &v }

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
