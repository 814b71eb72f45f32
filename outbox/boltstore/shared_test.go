package boltstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/storetest"
)

// A command talking to the process that owns the file (here a library's boltstore.Open, which
// answers on the socket by default) sees what the store says, errors included: pending
// records, a delivered or dropped message's state, ErrNotFound and ErrDuplicate. The owner
// keeps the lock throughout, so every answer came over the socket.
func TestSharedOverTheOwnersSocket(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "outbox.db")
	local, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := local.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(SocketPath(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket outlives its owner: %v", err)
		}
	}()

	r, err := OpenShared(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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
	if _, err := r.Claim(ctx, "me", time.Now(), time.Minute, 1); err == nil {
		t.Fatal("a command claimed a message: claims are the owner's")
	}
}

// A command holds the file for one operation at a time: between two, an owner opens it at
// once (within its default 1 s lock wait, which a held file would exhaust), the command's next
// operations go over the owner's socket, and after the owner closes the command opens the file
// itself again.
func TestSharedHoldsNothingBetweenOperations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "outbox.db")
	r, err := OpenShared(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Enqueue(ctx, storetest.Rec("a", "t", "x")); err != nil {
		t.Fatal(err)
	}
	owner, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("an owner opening the file between a command's operations: %v", err)
	}
	if err := r.Enqueue(ctx, storetest.Rec("b", "t", "x")); err != nil {
		t.Fatalf("Enqueue while another process owns the file: %v", err)
	}
	if l, err := owner.List(ctx, outbox.Filter{}); err != nil || storetest.IDs(l) != "a,b" {
		t.Fatalf("the owner's List = %s, %v; want a,b", storetest.IDs(l), err)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err := r.List(ctx, outbox.Filter{}); err != nil || storetest.IDs(l) != "a,b" {
		t.Fatalf("List after the owner left = %s, %v; want a,b", storetest.IDs(l), err)
	}
}

// An owner that answers on no socket (NoSocket) makes a command fail after a bound, saying
// why, instead of waiting forever.
func TestSharedOwnerWithoutSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	owner, err := Open(path, Options{NoSocket: true})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	start := time.Now()
	_, err = OpenShared(t.Context(), path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "answers on no socket") {
		t.Fatalf("Open with an owner without a socket: %v; want ErrLocked, saying it answers on no socket", err)
	}
	if took := time.Since(start); took < ownerWait || took > ownerWait+2*time.Second {
		t.Fatalf("gave up after %s; want %s", took, ownerWait)
	}
}
