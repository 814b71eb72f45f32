package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/replay"
)

func rec(seq int64, ts int64) replay.Record {
	return replay.Record{Seq: seq, MsgID: fmt.Sprintf("m%d", seq), Timestamp: ts, Envelope: []byte(fmt.Sprintf(`{"seq_id":%d}`, seq))}
}

func openT(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seqs(rs []replay.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestBoltAppendQueryReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "history.db")
	s := openT(t, path, Options{})
	for n := int64(1); n <= 5; n++ {
		if err := s.Append(t.Context(), "a", rec(n, 100+n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(t.Context(), "b", rec(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(t.Context(), "a", rec(5, 200)); err == nil {
		t.Fatal("appending seq_id 5 again succeeded")
	}
	got, err := s.Query(t.Context(), "a", replay.Query{SeqRange: &[2]int64{2, 4}, MsgID: ptr("m5")}, replay.Limits{})
	if err != nil || !equal(seqs(got), []int64{2, 3, 4, 5}) {
		t.Fatalf("query = %v, %v", seqs(got), err)
	}
	if string(got[0].Envelope) != `{"seq_id":2}` || got[0].MsgID != "m2" || got[0].Timestamp != 102 {
		t.Fatalf("record = %+v", got[0])
	}
	if _, err := s.Query(t.Context(), "a", replay.Query{SeqID: ptr[int64](9)}, replay.Limits{}); err != replay.ErrNoMatch {
		t.Fatalf("no match: %v", err)
	}
	if _, err := s.Query(t.Context(), "zzz", replay.Query{SeqID: ptr[int64](1)}, replay.Limits{}); err != replay.ErrNoMatch {
		t.Fatalf("unknown name: %v", err)
	}
	var tm *replay.TooManyError
	if _, err := s.Query(t.Context(), "a", replay.Range(1, 5), replay.Limits{MaxMessages: 4}); !errors.As(err, &tm) || tm.Bytes {
		t.Fatalf("too many: %v", err)
	}
	if _, err := s.Query(t.Context(), "a", replay.Range(1, 5), replay.Limits{MaxBytes: 20}); !errors.As(err, &tm) || !tm.Bytes {
		t.Fatalf("too large: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(t.Context(), "a", rec(6, 1)); !errors.Is(err, replay.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	s2 := openT(t, path, Options{})
	if last, err := s2.LastSeq(t.Context(), "a"); err != nil || last != 5 {
		t.Fatalf("LastSeq after reopen = %d, %v", last, err)
	}
	h, err := replay.NewHistory(t.Context(), s2, "a")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := h.Publish(t.Context(), func(seq int64) (replay.Record, error) { return rec(seq, 1), nil }, func() error { return nil })
	if err != nil || seq != 6 {
		t.Fatalf("history continues at %d, %v; want 6", seq, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestBoltRetention(t *testing.T) {
	now := time.Unix(10000, 0)
	s := openT(t, filepath.Join(t.TempDir(), "h.db"), Options{
		Retention: replay.Retention{MaxMessages: 5, MaxBytes: 12 * 4, MaxAge: 100 * time.Second},
		Now:       func() time.Time { return now },
	})
	// 8 records of 12 bytes: the count bound keeps 5, the byte bound 4.
	for n := int64(1); n <= 8; n++ {
		if err := s.Append(t.Context(), "a", rec(n, 9950)); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stats(t.Context(), "a")
	if st.Messages != 4 || st.First != 5 || st.Last != 8 || st.LastSeq != 8 || st.Evicted != 4 || st.Bytes != 48 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := s.Query(t.Context(), "a", replay.Query{MsgID: ptr("m2")}, replay.Limits{}); err != replay.ErrNoMatch {
		t.Fatalf("evicted msg_id still found: %v", err)
	}
	// Age: the clock moves on; the next append drops everything older than 100 s.
	now = now.Add(200 * time.Second)
	if err := s.Append(t.Context(), "a", rec(9, now.Unix())); err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(t.Context(), "a", replay.Range(1, 100), replay.Limits{})
	if err != nil || !equal(seqs(got), []int64{9}) {
		t.Fatalf("after max_age: %v, %v", seqs(got), err)
	}
	if got, err := s.Query(t.Context(), "a", replay.Query{Time: &[2]float64{0, 1e18}}, replay.Limits{}); err != nil || !equal(seqs(got), []int64{9}) {
		t.Fatalf("time index after eviction: %v, %v", seqs(got), err)
	}
}

func TestBoltLockedAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.db")
	openT(t, path, Options{})
	if _, err := Open(path, Options{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v; want ErrLocked", err)
	}
	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, []byte("this is not a bbolt file, not at all, no: it is just some text that is long enough"), 0o600)
	if _, err := Open(bad, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v; want ErrCorrupt", err)
	}
	// A truncated real file.
	good := filepath.Join(dir, "good.db")
	s, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 50; n++ {
		s.Append(t.Context(), "a", replay.Record{Seq: n, Envelope: make([]byte, 1000)})
	}
	s.Close()
	data, _ := os.ReadFile(good)
	os.WriteFile(good, data[:len(data)/3], 0o600)
	if _, err := Open(good, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %v; want ErrCorrupt", err)
	}
}

func equal(a, b []int64) bool { return slices.Equal(a, b) }

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
