package pgstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Now().UTC().Truncate(time.Microsecond)

func rec(id, topic string, recipients ...string) *outbox.Record {
	return &outbox.Record{MsgID: id, Topic: topic, Envelope: []byte(`{"msg_id":"` + id + `","x":"\u00e9\n"}`),
		Recipients: recipients, Enqueued: t0, Expires: t0.Add(time.Hour), NextAttempt: t0}
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ids(rs []*outbox.Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.MsgID)
	}
	return strings.Join(out, ",")
}

func waitChanged(t *testing.T, s *Store, what string) {
	t.Helper()
	select {
	case <-s.Changed():
	case <-time.After(10 * time.Second):
		t.Fatalf("no notification after %s", what)
	}
}

func drain(s *Store) {
	for {
		select {
		case <-s.Changed():
		default:
			return
		}
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) outbox.Store { return open(t, pgtest.Start(t)) })
}

func TestForgetsOldFinished(t *testing.T) {
	defer func(k, e int64) { finishedKept, pruneEvery = k, e }(finishedKept, pruneEvery)
	finishedKept, pruneEvery = 3, 1
	storetest.Forgetting(t, open(t, pgtest.Start(t)), 3)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t))
	drain(s)
	if err := s.Enqueue(ctx, rec("a", "t1", "x", "y"), rec("b", "t1", "x"), rec("c", "t2", "x")); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, s, "Enqueue")
	if err := s.Enqueue(ctx, rec("d", "t1", "x"), rec("a", "t1", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Get(ctx, "d"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("half a failed batch stored: %v", err)
	}
	got, err := s.Claim(ctx, "o1", t0, time.Minute, 10)
	if err != nil || ids(got) != "a,b,c" {
		t.Fatalf("claim %s %v", ids(got), err)
	}
	if string(got[0].Envelope) != `{"msg_id":"a","x":"\u00e9\n"}` || !got[0].Enqueued.Equal(t0) {
		t.Fatalf("record changed: %q %v", got[0].Envelope, got[0].Enqueued)
	}
	if again, _ := s.Claim(ctx, "o2", t0.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("live claims handed out again: %s", ids(again))
	}
	if again, _ := s.Claim(ctx, "o2", t0.Add(2*time.Minute), time.Minute, 1); ids(again) != "a" {
		t.Fatalf("takeover = %s", ids(again))
	}
	if err := s.Release(ctx, "o1", "a", t0, "x"); !errors.Is(err, outbox.ErrNotClaimed) {
		t.Fatalf("release by the old owner: %v", err)
	}
	if done, err := s.MarkAcked(ctx, "a", "y", "nobody"); done || err != nil {
		t.Fatalf("partial %v %v", done, err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Pending != 3 || st.MissingByRecipient["x"] != 3 || st.MissingByRecipient["y"] != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	if err := s.Release(ctx, "o2", "a", t0.Add(time.Hour), "missing x"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, "a"); r.Attempts != 1 || r.LastError != "missing x" || strings.Join(r.Missing(), ",") != "x" {
		t.Fatalf("released %+v", r)
	}
	if done, err := s.MarkAcked(ctx, "a", "x"); !done || err != nil {
		t.Fatalf("complete %v %v", done, err)
	}
	if _, err := s.MarkAcked(ctx, "a", "x"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("after delivery: %v", err)
	}
	if err := s.Kill(ctx, "b", "expired"); err != nil {
		t.Fatal(err)
	}
	dead, _ := s.List(ctx, outbox.Filter{States: []outbox.State{outbox.Dead}})
	if ids(dead) != "b" || dead[0].DeadReason != "expired" {
		t.Fatalf("dead %s", ids(dead))
	}
	drain(s)
	if n, err := s.Retry(ctx, t0.Add(48*time.Hour)); n != 1 || err != nil {
		t.Fatalf("retry %d %v", n, err)
	}
	waitChanged(t, s, "Retry")
	if err := s.Drop(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "b"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("second drop %v", err)
	}
	if l, _ := s.List(ctx, outbox.Filter{Topic: "t2", Limit: 5}); ids(l) != "c" {
		t.Fatalf("list %s", ids(l))
	}
	if st, _ := s.Stats(ctx); st.Delivered != 1 || st.Dead != 0 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	if _, err := s.Get(ctx, "c"); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// The transactional outbox: rolled back, nothing; committed, claimable and notified.
func TestEnqueueTx(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := open(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, "CREATE TABLE orders (id text)")

	tx, _ := conn.Begin(ctx)
	tx.Exec(ctx, "INSERT INTO orders VALUES ('o1')")
	if err := s.EnqueueTx(ctx, tx, rec("m1", "t", "x")); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	if got, _ := s.Claim(ctx, "d", t0, time.Minute, 10); len(got) != 0 {
		t.Fatalf("rolled back message claimable: %s", ids(got))
	}

	drain(s)
	tx, _ = conn.Begin(ctx)
	tx.Exec(ctx, "INSERT INTO orders VALUES ('o2')")
	if err := s.EnqueueTx(ctx, tx, rec("m2", "t", "x")); err != nil {
		t.Fatal(err)
	}
	// A duplicate inside the transaction fails alone; the transaction goes on.
	if err := s.EnqueueTx(ctx, tx, rec("m2", "t", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("duplicate in tx: %v", err)
	}
	if got, _ := s.Claim(ctx, "d", t0, time.Minute, 10); len(got) != 0 {
		t.Fatal("uncommitted message visible")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, s, "commit")
	if got, _ := s.Claim(ctx, "d", t0, time.Minute, 10); ids(got) != "m2" {
		t.Fatalf("committed: %s", ids(got))
	}
}

// Two stores (two deliverers) claiming at once: every record is held by exactly one.
func TestConcurrentClaimers(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a, b := open(t, dsn), open(t, dsn)
	const n = 200
	var recs []*outbox.Record
	for i := range n {
		recs = append(recs, rec(fmt.Sprint("m", i), fmt.Sprint("topic", i%20), "x"))
	}
	if err := a.Enqueue(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	owner := map[string]string{}
	topicOwner := map[string]string{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := []*Store{a, b}[w%2]
		name := fmt.Sprint("owner", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := s.Claim(ctx, name, t0, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range got {
					if o, dup := owner[r.MsgID]; dup {
						t.Errorf("%s claimed by %s and %s", r.MsgID, o, name)
					}
					owner[r.MsgID] = name
					if o, ok := topicOwner[r.Topic]; ok && o != name {
						t.Errorf("topic %s delivered by %s and %s at once", r.Topic, o, name)
					}
					topicOwner[r.Topic] = name
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owner) != n {
		t.Fatalf("%d of %d records claimed", len(owner), n)
	}
}

// A deliverer that claimed and vanished: its claims are taken over when the lease ends.
func TestCrashedClaimTakenOver(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a, b := open(t, dsn), open(t, dsn)
	a.Enqueue(ctx, rec("m", "t", "x"))
	if got, _ := a.Claim(ctx, "dead", t0, 2*time.Second, 1); ids(got) != "m" {
		t.Fatal("claim")
	}
	a.Close() // crashed: never released
	if got, _ := b.Claim(ctx, "alive", t0.Add(time.Second), time.Minute, 1); len(got) != 0 {
		t.Fatal("taken over during the lease")
	}
	got, _ := b.Claim(ctx, "alive", t0.Add(3*time.Second), time.Minute, 1)
	if ids(got) != "m" {
		t.Fatalf("not taken over after the lease: %s", ids(got))
	}
	if err := b.Release(ctx, "alive", "m", t0, "x"); err != nil {
		t.Fatal(err)
	}
}
