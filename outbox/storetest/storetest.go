// Package storetest is the contract every outbox.Store must keep, as tests each store runs
// against itself (boltstore and pgstore call Run). It checks what the deliverer and the
// operator commands rely on, through the Store interface only; each store's own tests add what
// is particular to it (durability across a kill, locking, leases across processes).
package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
)

// Open returns a fresh, empty store for one subtest; the store is closed by the test's cleanup.
type Open func(t *testing.T) outbox.Store

// Run runs the contract against the stores open makes.
func Run(t *testing.T, open Open) {
	t.Run("EnqueueAtomicAndUnique", func(t *testing.T) { enqueueAtomic(t, open(t)) })
	t.Run("ProgressAndDelivery", func(t *testing.T) { progress(t, open(t)) })
	t.Run("DeadRetryDrop", func(t *testing.T) { deadRetryDrop(t, open(t)) })
	t.Run("FinishedRemembered", func(t *testing.T) { finished(t, open(t)) })
}

// T0 is the clock of the contract's records (microseconds, as PostgreSQL keeps them).
var T0 = time.Now().UTC().Truncate(time.Microsecond)

// Rec is a pending record due at T0, expiring an hour later.
func Rec(id, topic string, recipients ...string) *outbox.Record {
	return &outbox.Record{MsgID: id, Topic: topic, Envelope: []byte(`{"msg_id":"` + id + `","x":"\u00e9\n"}`),
		Recipients: recipients, Enqueued: T0, Expires: T0.Add(time.Hour), NextAttempt: T0}
}

// IDs lists the records' msg_ids, comma-separated.
func IDs(rs []*outbox.Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.MsgID)
	}
	return strings.Join(out, ",")
}

func enqueueAtomic(t *testing.T, s outbox.Store) {
	ctx := context.Background()
	if err := s.Enqueue(ctx, Rec("a", "t", "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, Rec("b", "t", "x"), Rec("a", "t", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("enqueue with a stored msg_id: %v, want ErrDuplicate", err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("half of a failed batch stored: %v", err)
	}
	if err := s.Enqueue(ctx, Rec("c", "t", "x"), Rec("c", "t", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("one msg_id twice in a batch: %v, want ErrDuplicate", err)
	}
	r, err := s.Get(ctx, "a")
	if err != nil || r.State != outbox.Pending || string(r.Envelope) != `{"msg_id":"a","x":"\u00e9\n"}` || r.Seq == 0 {
		t.Fatalf("Get = %+v, %v", r, err)
	}
}

func progress(t *testing.T, s outbox.Store) {
	ctx := context.Background()
	if err := s.Enqueue(ctx, Rec("a", "t", "x", "y")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, "o1", T0, time.Minute, 10)
	if err != nil || IDs(got) != "a" {
		t.Fatalf("claim = %s, %v", IDs(got), err)
	}
	if done, err := s.MarkAcked(ctx, "a", "y", "not-a-recipient"); done || err != nil {
		t.Fatalf("partial MarkAcked = %v, %v", done, err)
	}
	if r, _ := s.Get(ctx, "a"); !slices.Equal(r.Acked, []string{"y"}) || !slices.Equal(r.Missing(), []string{"x"}) {
		t.Fatalf("after y: acked %v, missing %v", r.Acked, r.Missing())
	}
	if err := s.Release(ctx, "o1", "a", T0.Add(time.Hour), "x missing"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, "a"); r.Attempts != 1 || r.LastError != "x missing" {
		t.Fatalf("released: %+v", r)
	}
	if done, err := s.MarkAcked(ctx, "a", "x"); !done || err != nil {
		t.Fatalf("completing MarkAcked = %v, %v", done, err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Pending != 0 || st.Delivered != 1 {
		t.Fatalf("stats after delivery: %+v, %v", st, err)
	}
	if l, _ := s.List(ctx, outbox.Filter{}); len(l) != 0 {
		t.Fatalf("a delivered message is listed: %s", IDs(l))
	}
}

func deadRetryDrop(t *testing.T, s outbox.Store) {
	ctx := context.Background()
	if err := s.Enqueue(ctx, Rec("a", "t", "x"), Rec("b", "t", "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(ctx, "a", "expired with x missing"); err != nil {
		t.Fatal(err)
	}
	dead, err := s.List(ctx, outbox.Filter{States: []outbox.State{outbox.Dead}})
	if err != nil || IDs(dead) != "a" || dead[0].DeadReason != "expired with x missing" {
		t.Fatalf("dead = %s, %v", IDs(dead), err)
	}
	if got, _ := s.Claim(ctx, "o", T0, time.Minute, 10); IDs(got) != "b" {
		t.Fatalf("claimed %s: a is dead", IDs(got))
	}
	if n, err := s.Retry(ctx, T0.Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("retry every dead = %d, %v", n, err)
	}
	if r, _ := s.Get(ctx, "a"); r.State != outbox.Pending || r.DeadReason != "" || !r.Expires.Equal(T0.Add(2*time.Hour)) {
		t.Fatalf("retried: %+v", r)
	}
	if err := s.Drop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "a"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("second drop: %v, want ErrNotFound", err)
	}
	if err := s.Drop(ctx, "never"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("drop of an unknown msg_id: %v, want ErrNotFound", err)
	}
}

// finished: a message that left the store is remembered as Delivered or Dropped, never confused
// with an unknown msg_id, and never comes back into List, Claim or MarkAcked.
func finished(t *testing.T, s outbox.Store) {
	ctx := context.Background()
	if err := s.Enqueue(ctx, Rec("del", "t", "x"), Rec("drop", "t", "x")); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if done, err := s.MarkAcked(ctx, "del", "x"); !done || err != nil {
		t.Fatalf("MarkAcked = %v, %v", done, err)
	}
	if err := s.Drop(ctx, "drop"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]outbox.State{"del": outbox.Delivered, "drop": outbox.Dropped} {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s) after it left the store: %v", id, err)
		}
		if r.State != want || r.MsgID != id || r.Finished.Before(before) || len(r.Envelope) != 0 {
			t.Fatalf("Get(%s) = %+v, want state %s with a finish time", id, r, want)
		}
	}
	if _, err := s.Get(ctx, "never-stored"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("Get of an unknown msg_id: %v, want ErrNotFound", err)
	}
	if _, err := s.MarkAcked(ctx, "del", "x"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("MarkAcked of a delivered message: %v, want ErrNotFound", err)
	}
	if l, err := s.List(ctx, outbox.Filter{}); err != nil || len(l) != 0 {
		t.Fatalf("List shows finished messages: %s, %v", IDs(l), err)
	}
	if got, _ := s.Claim(ctx, "o", T0.Add(time.Minute), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed finished messages: %s", IDs(got))
	}
	if n, _ := s.Retry(ctx, T0.Add(time.Hour), "del", "drop"); n != 0 {
		t.Fatalf("Retry brought back %d finished messages", n)
	}
}

// Forgetting checks that a store forgets the oldest finished msg_ids beyond kept (the store's
// test sets its bound to kept first): after kept+2 deliveries the first are unknown again.
func Forgetting(t *testing.T, s outbox.Store, kept int) {
	ctx := context.Background()
	n := kept + 2
	for i := range n {
		id := "f" + string(rune('a'+i%26)) + strings.Repeat("!", i/26)
		if err := s.Enqueue(ctx, Rec(id, "t", "x")); err != nil {
			t.Fatal(err)
		}
		if done, err := s.MarkAcked(ctx, id, "x"); !done || err != nil {
			t.Fatalf("MarkAcked(%s) = %v, %v", id, done, err)
		}
	}
	if _, err := s.Get(ctx, "fa"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("the oldest finished msg_id is still remembered beyond %d: %v", kept, err)
	}
	last := "f" + string(rune('a'+(n-1)%26)) + strings.Repeat("!", (n-1)/26)
	if r, err := s.Get(ctx, last); err != nil || r.State != outbox.Delivered {
		t.Fatalf("the newest finished msg_id is forgotten: %+v, %v", r, err)
	}
}
