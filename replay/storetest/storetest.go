// Package storetest is the contract every replay.Store keeps, as tests each store runs against
// itself (the bbolt store in package replay, replay/pgstore). It checks, through the Store
// interface only, what the publisher's numbering, the replay endpoint and ackmsg-replay rely on:
// every query predicate and their OR, the reply limits, retention and its counters, numbering
// that survives a reopen, concurrent appends. Each store's own tests add what is particular to
// it (locking, corruption, connection loss).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/replay"
)

// Storage returns a fresh, empty backing storage (a file, a database) for one subtest, as the
// function that opens a store on it. Every call of the Opener opens the same storage again;
// the test closes a store before it opens the next, and the Storage's cleanup closes what is
// left open.
type Storage func(t *testing.T) Opener

// Opener opens a store on one storage with a retention and a clock for max_age (nil: the
// store's default, time.Now).
type Opener func(t *testing.T, ret replay.Retention, now func() time.Time) replay.Store

// Run runs the contract against the stores storage makes.
func Run(t *testing.T, storage Storage) {
	t.Run("Predicates", func(t *testing.T) { predicates(t, storage(t)) })
	t.Run("Limits", func(t *testing.T) { limits(t, storage(t)) })
	t.Run("Retention", func(t *testing.T) { retention(t, storage(t)) })
	t.Run("Reopen", func(t *testing.T) { reopen(t, storage(t)) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(t, storage(t)) })
	t.Run("Closed", func(t *testing.T) { closed(t, storage(t)) })
	t.Run("Cancelled", func(t *testing.T) { cancelled(t, storage(t)) })
}

// Rec is record seq with msg_id "m<seq>", timestamp ts and a 12-byte envelope for seq < 10
// (`{"seq_id":N}`, the length the byte-limit cases count with).
func Rec(seq, ts int64) replay.Record {
	return replay.Record{Seq: seq, MsgID: fmt.Sprintf("m%d", seq), Timestamp: ts, Envelope: fmt.Appendf(nil, `{"seq_id":%d}`, seq)}
}

// Seqs lists the records' seq_ids.
func Seqs(rs []replay.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

// ptr returns a pointer to v (for the optional fields of a query).
func ptr[T any](v T) *T { return &v }

// mustAppend appends rs under name, failing the test on an error.
func mustAppend(t *testing.T, s replay.Store, name string, rs ...replay.Record) {
	t.Helper()
	for _, r := range rs {
		if err := s.Append(t.Context(), name, r); err != nil {
			t.Fatalf("append %d to %q: %v", r.Seq, name, err)
		}
	}
}

// expect runs q and checks the seq_ids answered (nil: ErrNoMatch).
func expect(t *testing.T, s replay.Store, name string, q replay.Query, want []int64) []replay.Record {
	t.Helper()
	got, err := s.Query(t.Context(), name, q, replay.Limits{})
	if want == nil {
		if !errors.Is(err, replay.ErrNoMatch) {
			t.Fatalf("query %+v of %q = %v, %v; want ErrNoMatch", q, name, Seqs(got), err)
		}
		return nil
	}
	if err != nil || !slices.Equal(Seqs(got), want) {
		t.Fatalf("query %+v of %q = %v, %v; want %v", q, name, Seqs(got), err, want)
	}
	return got
}

// predicates checks every query predicate alone and OR-ed, names kept apart, the records
// returned intact and in seq_id order, LastSeq and Stats.
func predicates(t *testing.T, open Opener) {
	s := open(t, replay.Retention{}, nil)
	for n := int64(1); n <= 10; n++ {
		mustAppend(t, s, "a", Rec(n, 100+n))
	}
	mustAppend(t, s, "b", Rec(1, 100), Rec(20, 120))
	odd := replay.Record{Seq: 11, MsgID: "", Timestamp: -5, Envelope: []byte("{\"x\":\"\u00e9\\n\u0000\"}\x00\xff")}
	mustAppend(t, s, "a", odd)
	if err := s.Append(t.Context(), "a", Rec(5, 200)); err == nil {
		t.Fatal("appending seq_id 5 of \"a\" again succeeded")
	}

	got := expect(t, s, "a", replay.Query{SeqIDs: []int64{3, 1, 3, 99}}, []int64{1, 3})
	if r := got[1]; r.MsgID != "m3" || r.Timestamp != 103 || string(r.Envelope) != `{"seq_id":3}` {
		t.Fatalf("record 3 = %+v", r)
	}
	expect(t, s, "a", replay.Query{SeqID: ptr[int64](4)}, []int64{4})
	expect(t, s, "a", replay.Query{SeqID: ptr[int64](99)}, nil)
	expect(t, s, "a", replay.Range(2, 5), []int64{2, 3, 4, 5})
	expect(t, s, "a", replay.Range(5, 2), nil)
	expect(t, s, "a", replay.Range(9, 1<<53), []int64{9, 10, 11})
	expect(t, s, "a", replay.Range(-1<<62, 0), nil)
	expect(t, s, "a", replay.Query{MsgIDs: []string{"m7", "x", "m1", "m7"}}, []int64{1, 7})
	expect(t, s, "a", replay.Query{MsgID: ptr("m9")}, []int64{9})
	expect(t, s, "a", replay.Query{MsgID: ptr("")}, nil) // a record without msg_id is not found by one
	expect(t, s, "a", replay.Query{MsgIDs: []string{"nul\x00", "\xff"}}, nil)
	expect(t, s, "a", replay.Query{Time: &[2]float64{102.5, 104}}, []int64{3, 4})
	expect(t, s, "a", replay.Query{Time: &[2]float64{102.2, 102.8}}, nil)
	expect(t, s, "a", replay.Query{Time: &[2]float64{104, 102}}, nil)
	expect(t, s, "a", replay.Query{Time: &[2]float64{-1e300, 101}}, []int64{1, 11})
	expect(t, s, "a", replay.Query{Time: &[2]float64{110, 1e300}}, []int64{10})
	// Predicates are OR-ed, and a record matched by several comes once.
	expect(t, s, "a", replay.Query{SeqID: ptr[int64](1), MsgID: ptr("m2"), Time: &[2]float64{110, 110}}, []int64{1, 2, 10})
	expect(t, s, "a", replay.Query{SeqIDs: []int64{2, 3}, SeqRange: &[2]int64{3, 4}, MsgIDs: []string{"m4", "m5"},
		MsgID: ptr("m2"), Time: &[2]float64{102, 103}}, []int64{2, 3, 4, 5})
	got = expect(t, s, "a", replay.Query{SeqID: ptr[int64](11)}, []int64{11})
	if r := got[0]; r.MsgID != "" || r.Timestamp != -5 || string(r.Envelope) != string(odd.Envelope) {
		t.Fatalf("record 11 = %+v, want %+v", r, odd)
	}
	// Names are separate histories.
	expect(t, s, "b", replay.Range(1, 100), []int64{1, 20})
	expect(t, s, "b", replay.Query{MsgID: ptr("m5")}, nil)
	expect(t, s, "zzz", replay.Query{SeqID: ptr[int64](1)}, nil)
	expect(t, s, "a", replay.Query{}, nil)
	if last, err := s.LastSeq(t.Context(), "b"); err != nil || last != 20 {
		t.Fatalf("LastSeq(b) = %d, %v", last, err)
	}
	if last, err := s.LastSeq(t.Context(), "zzz"); err != nil || last != 0 {
		t.Fatalf("LastSeq of an unknown name = %d, %v", last, err)
	}
	st, err := s.Stats(t.Context(), "a")
	want := replay.StoreStats{Messages: 11, Bytes: 9*12 + 13 + len(odd.Envelope), First: 1, Last: 11, LastSeq: 11}
	if err != nil || st != want {
		t.Fatalf("Stats(a) = %+v, %v; want %+v", st, err, want)
	}
	if st, err := s.Stats(t.Context(), "zzz"); err != nil || st != (replay.StoreStats{}) {
		t.Fatalf("Stats of an unknown name = %+v, %v", st, err)
	}
	// A msg_id recorded twice (not something a publisher does) answers with the later record.
	mustAppend(t, s, "c", replay.Record{Seq: 1, MsgID: "same", Envelope: []byte("1")},
		replay.Record{Seq: 2, MsgID: "same", Envelope: []byte("2")})
	expect(t, s, "c", replay.Query{MsgID: ptr("same")}, []int64{2})
}

// limits checks the message and byte limits of a reply, at and just over each bound.
func limits(t *testing.T, open Opener) {
	s := open(t, replay.Retention{}, nil)
	for n := int64(1); n <= 5; n++ {
		mustAppend(t, s, "a", Rec(n, 100+n)) // 12 bytes each
	}
	var tm *replay.TooManyError
	for _, tc := range []struct {
		q       replay.Query
		lim     replay.Limits
		want    int  // messages answered; 0: too many
		byBytes bool // refused by the byte limit
	}{
		{replay.Range(1, 5), replay.Limits{MaxMessages: 5}, 5, false},
		{replay.Range(1, 5), replay.Limits{MaxMessages: 4}, 0, false},
		{replay.Range(1, 5), replay.Limits{MaxBytes: 60}, 5, false},
		{replay.Range(1, 5), replay.Limits{MaxBytes: 59}, 0, true},
		{replay.Range(1, 5), replay.Limits{MaxMessages: 10, MaxBytes: 20}, 0, true},
		{replay.Range(1, 5), replay.Limits{MaxMessages: 2, MaxBytes: 1000}, 0, false},
		// A record matched by several predicates counts once.
		{replay.Query{SeqIDs: []int64{1, 1, 2}, SeqRange: &[2]int64{1, 2}, MsgID: ptr("m2")}, replay.Limits{MaxMessages: 2, MaxBytes: 24}, 2, false},
		// Limits apply to what matches, not to what is stored.
		{replay.Query{SeqID: ptr[int64](3)}, replay.Limits{MaxMessages: 1, MaxBytes: 12}, 1, false},
		{replay.Query{SeqID: ptr[int64](9)}, replay.Limits{MaxMessages: 1}, -1, false},
	} {
		got, err := s.Query(t.Context(), "a", tc.q, tc.lim)
		switch {
		case tc.want == -1:
			if !errors.Is(err, replay.ErrNoMatch) {
				t.Fatalf("query %+v with %+v: %v, %v; want ErrNoMatch", tc.q, tc.lim, Seqs(got), err)
			}
		case tc.want == 0:
			wantLimit := tc.lim.MaxMessages
			if tc.byBytes {
				wantLimit = tc.lim.MaxBytes
			}
			if !errors.As(err, &tm) || tm.Bytes != tc.byBytes || tm.Limit != wantLimit {
				t.Fatalf("query %+v with %+v: %v, %v; want a TooManyError (bytes %v, limit %d)", tc.q, tc.lim, Seqs(got), err, tc.byBytes, wantLimit)
			}
		default:
			if err != nil || len(got) != tc.want {
				t.Fatalf("query %+v with %+v: %v, %v; want %d records", tc.q, tc.lim, Seqs(got), err, tc.want)
			}
		}
	}
}

// retention checks the count, byte and age bounds, the counters (persistent across a reopen)
// and a tighter retention taking effect at once.
func retention(t *testing.T, open Opener) {
	now := time.Unix(10000, 0)
	clock := func() time.Time { return now }
	ret := replay.Retention{MaxMessages: 5, MaxBytes: 12 * 4, MaxAge: 100 * time.Second}
	s := open(t, ret, clock)
	// 8 records of 12 bytes: the count bound keeps 5, the byte bound 4.
	for n := int64(1); n <= 8; n++ {
		mustAppend(t, s, "a", Rec(n, 9950))
	}
	mustAppend(t, s, "b", Rec(1, 9950))
	want := replay.StoreStats{Messages: 4, Bytes: 48, First: 5, Last: 8, LastSeq: 8, Evicted: 4}
	if st, err := s.Stats(t.Context(), "a"); err != nil || st != want {
		t.Fatalf("Stats = %+v, %v; want %+v", st, err, want)
	}
	expect(t, s, "a", replay.Query{MsgID: ptr("m2")}, nil)
	expect(t, s, "a", replay.Query{Time: &[2]float64{0, 1e18}}, []int64{5, 6, 7, 8})
	// Age: the clock moves on; the next append drops everything older than 100 s, but never
	// the record it adds, however old or big.
	now = now.Add(200 * time.Second)
	mustAppend(t, s, "a", Rec(9, now.Unix()))
	expect(t, s, "a", replay.Range(1, 100), []int64{9})
	expect(t, s, "a", replay.Query{Time: &[2]float64{0, 1e18}}, []int64{9})
	big := replay.Record{Seq: 10, MsgID: "big", Timestamp: 1, Envelope: make([]byte, 1000)}
	mustAppend(t, s, "a", big)
	expect(t, s, "a", replay.Range(1, 100), []int64{10})
	want = replay.StoreStats{Messages: 1, Bytes: 1000, First: 10, Last: 10, LastSeq: 10, Evicted: 9}
	if st, err := s.Stats(t.Context(), "a"); err != nil || st != want {
		t.Fatalf("Stats after max_age and a record over max_bytes = %+v, %v; want %+v", st, err, want)
	}
	// Retention is per name: "b" was not touched by the appends to "a".
	expect(t, s, "b", replay.Range(1, 1), []int64{1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The counters are persistent, and a store without retention evicts nothing.
	s = open(t, replay.Retention{}, clock)
	if st, err := s.Stats(t.Context(), "a"); err != nil || st != want {
		t.Fatalf("Stats after reopening = %+v, %v; want %+v", st, err, want)
	}
	for n := int64(11); n <= 60; n++ {
		mustAppend(t, s, "a", Rec(n, 1))
	}
	if st, err := s.Stats(t.Context(), "a"); err != nil || st.Messages != 51 || st.Evicted != 9 || st.First != 10 {
		t.Fatalf("Stats without retention = %+v, %v", st, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A tighter retention takes effect at the next append, all of it at once (here 46 records
	// more than the 5 allowed).
	s = open(t, replay.Retention{MaxMessages: 5}, clock)
	mustAppend(t, s, "a", Rec(61, 1))
	want = replay.StoreStats{Messages: 5, Bytes: 5 * 13, First: 57, Last: 61, LastSeq: 61, Evicted: 9 + 47}
	if st, err := s.Stats(t.Context(), "a"); err != nil || st != want {
		t.Fatalf("Stats after a tighter retention = %+v, %v; want %+v", st, err, want)
	}
}

// reopen checks that numbering continues after the store is closed and opened again.
func reopen(t *testing.T, open Opener) {
	s := open(t, replay.Retention{}, nil)
	mustAppend(t, s, "a", Rec(1, 1), Rec(2, 2), Rec(3, 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, replay.Retention{}, nil)
	if last, err := s.LastSeq(t.Context(), "a"); err != nil || last != 3 {
		t.Fatalf("LastSeq after reopening = %d, %v; want 3", last, err)
	}
	h, err := replay.NewHistory(t.Context(), s, "a")
	if err != nil {
		t.Fatal(err)
	}
	seq, err := h.Publish(t.Context(), func(seq int64) (replay.Record, error) { return Rec(seq, 4), nil }, func() error { return nil })
	if err != nil || seq != 4 {
		t.Fatalf("the history continues at %d, %v; want 4", seq, err)
	}
	expect(t, s, "a", replay.Range(1, 10), []int64{1, 2, 3, 4})
	if err := s.Append(t.Context(), "a", Rec(2, 2)); err == nil {
		t.Fatal("appending a recorded seq_id after reopening succeeded")
	}
}

// concurrent appends, as a publisher's concurrent publishes make them (committed in any
// order): one goroutine per append, released together, with duplicates among them that must
// fail alone (a store that commits appends together must not fail the others with them).
func concurrent(t *testing.T, open Opener) {
	s := open(t, replay.Retention{MaxMessages: 150}, nil)
	mustAppend(t, s, "a", Rec(1, 1))
	mustAppend(t, s, "c", Rec(1, 1))
	const workers, each, dups = 8, 25, 25
	errs := make(chan error, workers*each+dups)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers*each + dups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i >= workers*each {
				errs <- s.Append(t.Context(), "c", Rec(1, 1))
				return
			}
			seq := int64(2 + i)
			name := "a"
			if seq%10 == 0 {
				name = "b"
			}
			errs <- s.Append(t.Context(), name, Rec(seq, seq))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != dups {
		t.Fatalf("%d appends failed; want %d (the duplicates of seq_id 1 of \"c\")", failed, dups)
	}
	const total = 1 + workers*each // seq_ids 1..201 of "a", but every 10th under "b"
	stA, err := s.Stats(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	stB, _ := s.Stats(t.Context(), "b")
	// Retention never drops the record an append adds, nor walks past it: an append that
	// commits after higher seq_ids may leave the history over its bound until the next one.
	if stA.LastSeq != total || stB.LastSeq != 200 || stB.Messages != 20 || stA.Messages+int(stA.Evicted) != total-20 ||
		stA.Messages < 150 || stA.Last != total {
		t.Fatalf("stats a %+v, b %+v", stA, stB)
	}
	mustAppend(t, s, "a", Rec(total+1, 1))
	if st, err := s.Stats(t.Context(), "a"); err != nil || st.Messages != 150 || st.Messages+int(st.Evicted) != total+1-20 {
		t.Fatalf("stats after one more append: %+v, %v", st, err)
	}
	got, err := s.Query(t.Context(), "a", replay.Range(1, total+1), replay.Limits{})
	if err != nil || len(got) != 150 || got[len(got)-1].Seq != total+1 {
		t.Fatalf("query: %d records, %v", len(got), err)
	}
}

// closed checks that appends after Close fail with ErrClosed and that Close may be repeated.
func closed(t *testing.T, open Opener) {
	s := open(t, replay.Retention{}, nil)
	mustAppend(t, s, "a", Rec(1, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(t.Context(), "a", Rec(2, 1)); !errors.Is(err, replay.ErrClosed) {
		t.Fatalf("append after Close: %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// cancelled checks that every method fails with the context's error when given a context
// already cancelled, and that the append it refused is not recorded.
func cancelled(t *testing.T, open Opener) {
	s := open(t, replay.Retention{}, nil)
	defer s.Close()
	mustAppend(t, s, "a", Rec(1, 1))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Append":  func() error { return s.Append(ctx, "a", Rec(2, 2)) },
		"LastSeq": func() error { _, err := s.LastSeq(ctx, "a"); return err },
		"Stats":   func() error { _, err := s.Stats(ctx, "a"); return err },
		"Query":   func() error { _, err := s.Query(ctx, "a", replay.Range(1, 2), replay.Limits{}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled", name, err)
		}
	}
	if last, err := s.LastSeq(t.Context(), "a"); err != nil || last != 1 {
		t.Fatalf("LastSeq after the refused append = %d, %v; want 1", last, err)
	}
}
