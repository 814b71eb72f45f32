package outboxctl

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A command talking to a running deliverer sees what the store says, errors included: pending
// records, a delivered or dropped message's state, ErrNotFound and ErrDuplicate.
func TestRemoteOverTheSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "outbox.db")
	local, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ready, served := make(chan struct{}), make(chan error, 1)
	go func() { served <- Serve(ctx, path, local, func() { close(ready) }) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
		local.Close()
	}()
	<-ready

	r, err := Open(ctx, &config.OutboxConfig{Store: path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*Remote); !ok {
		t.Fatalf("Open with a deliverer serving the file = %T, want *Remote", r)
	}
	if err := r.Enqueue(ctx, storetest.Rec("a", "t", "x"), storetest.Rec("b", "t", "x")); err != nil {
		t.Fatal(err)
	}
	if err := r.Enqueue(ctx, storetest.Rec("a", "t", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("duplicate over the socket: %v", err)
	}
	if rec, err := r.Get(ctx, "a"); err != nil || rec.State != outbox.Pending || string(rec.Envelope) != string(storetest.Rec("a", "t").Envelope) {
		t.Fatalf("Get(a) = %+v, %v", rec, err)
	}
	if done, err := local.MarkAcked(ctx, "a", "x"); !done || err != nil { // the deliverer's side
		t.Fatal(done, err)
	}
	if err := r.Drop(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]outbox.State{"a": outbox.Delivered, "b": outbox.Dropped} {
		if rec, err := r.Get(ctx, id); err != nil || rec.State != want || rec.Finished.IsZero() {
			t.Fatalf("Get(%s) over the socket = %+v, %v; want %s", id, rec, err, want)
		}
	}
	if _, err := r.Get(ctx, "never"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("unknown msg_id over the socket: %v", err)
	}
	if l, err := r.List(ctx, outbox.Filter{}); err != nil || len(l) != 0 {
		t.Fatalf("List = %s, %v", storetest.IDs(l), err)
	}
}
