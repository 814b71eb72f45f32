package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv("BOLTSTORE_CHILD") != "" {
		child(os.Getenv("BOLTSTORE_CHILD"))
		return
	}
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func rec(id, topic string, recipients ...string) *outbox.Record {
	return &outbox.Record{MsgID: id, Topic: topic, Envelope: []byte(`{"msg_id":"` + id + `","x":"\u00e9\n"}`),
		Recipients: recipients, Enqueued: t0, Expires: t0.Add(time.Hour), NextAttempt: t0}
}

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "outbox.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func ids(rs []*outbox.Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.MsgID)
	}
	return strings.Join(out, ",")
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	if err := s.Enqueue(ctx, rec("a", "t1", "x", "y"), rec("b", "t1", "x"), rec("c", "t2", "x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Changed():
	default:
		t.Error("Changed did not fire after Enqueue")
	}
	// Atomic duplicate: d is not stored either.
	if err := s.Enqueue(ctx, rec("d", "t1", "x"), rec("a", "t1", "x")); !errors.Is(err, outbox.ErrDuplicate) {
		t.Fatalf("duplicate enqueue: %v", err)
	}
	if _, err := s.Get(ctx, "d"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("half of a failed batch stored: %v", err)
	}

	got, err := s.Claim(ctx, "o1", t0, time.Minute, 10)
	if err != nil || ids(got) != "a,b,c" || got[0].Seq >= got[1].Seq || got[1].Seq >= got[2].Seq {
		t.Fatalf("claim = %s %v", ids(got), err)
	}
	if string(got[0].Envelope) != `{"msg_id":"a","x":"\u00e9\n"}` {
		t.Fatalf("envelope changed: %q", got[0].Envelope)
	}
	got[0].Envelope[0] = 'X' // a copy: the store is not changed
	if again, _ := s.Claim(ctx, "o2", t0.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("live claims handed out again: %s", ids(again))
	}
	// An expired lease is taken over.
	if again, _ := s.Claim(ctx, "o2", t0.Add(2*time.Minute), time.Minute, 1); ids(again) != "a" {
		t.Fatalf("takeover = %s", ids(again))
	}
	if err := s.Release(ctx, "o1", "a", t0, "x"); !errors.Is(err, outbox.ErrNotClaimed) {
		t.Fatalf("release by the old owner: %v", err)
	}

	// Progress: y ACKs, then x completes it.
	if done, err := s.MarkAcked(ctx, "a", "y", "nobody"); done || err != nil {
		t.Fatalf("partial MarkAcked = %v %v", done, err)
	}
	if r, _ := s.Get(ctx, "a"); strings.Join(r.Acked, ",") != "y" || strings.Join(r.Missing(), ",") != "x" {
		t.Fatalf("acked %v missing %v", r.Acked, r.Missing())
	}
	st, _ := s.Stats(ctx)
	if st.Pending != 3 || st.Dead != 0 || st.MissingByRecipient["x"] != 3 || st.MissingByRecipient["y"] != 0 || !st.OldestPending.Equal(t0) {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Release(ctx, "o2", "a", t0.Add(time.Hour), "missing x"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, "a"); r.Attempts != 1 || r.LastError != "missing x" || !r.NextAttempt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("released %+v", r)
	}
	if done, err := s.MarkAcked(ctx, "a", "x"); !done || err != nil {
		t.Fatalf("completing MarkAcked = %v %v", done, err)
	}
	if r, err := s.Get(ctx, "a"); err != nil || r.State != outbox.Delivered {
		t.Fatalf("a delivered record: %+v, %v", r, err)
	}
	if _, err := s.MarkAcked(ctx, "a", "x"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("MarkAcked of a delivered record: %v", err)
	}

	// Dead letters.
	if err := s.Kill(ctx, "b", "expired"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, "o3", t0.Add(30*time.Second), time.Minute, 10); ids(got) != "" {
		t.Fatalf("claimed %s: c is o1's, b is dead", ids(got))
	}
	dead, _ := s.List(ctx, outbox.Filter{States: []outbox.State{outbox.Dead}})
	if ids(dead) != "b" || dead[0].DeadReason != "expired" {
		t.Fatalf("dead = %s", ids(dead))
	}
	if n, err := s.Retry(ctx, t0.Add(48*time.Hour)); n != 1 || err != nil {
		t.Fatalf("retry all dead = %d %v", n, err)
	}
	if r, _ := s.Get(ctx, "b"); r.State != outbox.Pending || !r.Expires.Equal(t0.Add(48*time.Hour)) || r.DeadReason != "" {
		t.Fatalf("retried %+v", r)
	}
	if n, _ := s.Retry(ctx, t0.Add(time.Hour), "b", "nope"); n != 1 {
		t.Fatalf("retry by id = %d", n)
	}
	if err := s.Drop(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, "b"); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("second drop: %v", err)
	}
	if l, _ := s.List(ctx, outbox.Filter{Topic: "t2", Limit: 5}); ids(l) != "c" {
		t.Fatalf("list topic = %s", ids(l))
	}

	// Everything above survives a reopen, and claims do not.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "c"); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Enqueue(ctx, rec("z", "t", "x")); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	st, _ = s2.Stats(ctx)
	if st.Pending != 1 || st.Delivered != 1 || st.InFlight != 0 {
		t.Fatalf("stats after reopen %+v", st)
	}
	if got, _ := s2.Claim(ctx, "o9", t0, time.Minute, 10); ids(got) != "c" {
		t.Fatalf("claim after reopen = %s", ids(got))
	}
	if err := s2.Enqueue(ctx, rec("e", "t2", "x")); err != nil {
		t.Fatal(err)
	}
	if r, _ := s2.Get(ctx, "e"); r.Seq <= 3 {
		t.Fatalf("seq restarted: %d", r.Seq)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) outbox.Store { s, _ := open(t); return s })
}

func TestForgetsOldFinished(t *testing.T) {
	defer func(n uint64) { finishedKept = n }(finishedKept)
	finishedKept = 3
	s, _ := open(t)
	storetest.Forgetting(t, s, 3)
}

func TestTopicOrderAcrossOwners(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	s.Enqueue(ctx, rec("a1", "a", "x"), rec("b1", "b", "x"), rec("a2", "a", "x"), rec("b2", "b", "x"))
	got, _ := s.Claim(ctx, "o1", t0, time.Minute, 1)
	if ids(got) != "a1" {
		t.Fatalf("o1 got %s", ids(got))
	}
	// a's earliest record is o1's: o2 must not start a2 before it, but may take b.
	got, _ = s.Claim(ctx, "o2", t0, time.Minute, 10)
	if ids(got) != "b1,b2" {
		t.Fatalf("o2 got %s, want b1,b2", ids(got))
	}
	got, _ = s.Claim(ctx, "o1", t0, time.Minute, 10)
	if ids(got) != "a2" {
		t.Fatalf("o1 then got %s", ids(got))
	}
}

func TestConcurrentEnqueueGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Enqueue(ctx, rec(fmt.Sprint("m", i), "t", "x"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, _ := s.List(ctx, outbox.Filter{})
	seqs := map[uint64]bool{}
	for _, r := range all {
		seqs[r.Seq] = true
	}
	if len(all) != n || len(seqs) != n {
		t.Fatalf("%d records, %d distinct seqs", len(all), len(seqs))
	}
}

func TestLockedAndCorrupt(t *testing.T) {
	_, path := open(t)
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second open: %v", err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"garbage":   []byte(strings.Repeat("not a bolt file ", 2000)),
		"truncated": nil,
		"tiny":      []byte("x"),
	} {
		p := filepath.Join(dir, name)
		if name == "truncated" {
			// A real store cut in half.
			s, err := Open(p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Enqueue(context.Background(), rec("a", "t", "x"))
			s.Close()
			b, _ := os.ReadFile(p)
			content = b[:len(b)/3]
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{})
		if name != "truncated" && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Open = %v, want ErrCorrupt", name, err)
		}
		if err == nil {
			// bbolt may open a cut file whose meta pages survived; reading it must then fail
			// cleanly or find the data.
			_, lerr := s.List(context.Background(), outbox.Filter{})
			s.Close()
			if lerr == nil {
				continue
			}
			err = lerr
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
	// A bolt file that is not an outbox.
	p := filepath.Join(dir, "other.db")
	s, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketIDs) })
	s.Close()
	if _, err := Open(p, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("store without its buckets: %v", err)
	}
}

// TestFullDisk fills a small tmpfs: Enqueue fails, and nothing reported stored is lost.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var stored []string
	var failure error
	big := strings.Repeat("x", 8000)
	for i := range 1000 {
		r := rec(fmt.Sprint("m", i), "t", "x")
		r.Envelope = []byte(big)
		if err := s.Enqueue(ctx, r); err != nil {
			failure = err
			break
		}
		stored = append(stored, r.MsgID)
	}
	if failure == nil {
		t.Fatal("1000 records of 8 KB fit in 512 KB")
	}
	t.Logf("full after %d records: %v", len(stored), failure)
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after full disk: %v", err)
	}
	defer s.Close()
	for _, id := range stored {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s reported stored, then: %v", id, err)
		}
	}
}

// TestReadOnlyDisk: on a read-only file system Open fails with a clear error (the store cannot
// take a message), while a read-only open still lists what is stored.
func TestReadOnlyDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs and remount it read-only")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Enqueue(ctx, rec("kept", "t", "x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open for writing on a read-only file system succeeded")
	} else if !strings.Contains(err.Error(), "read-only file system") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open on a read-only file system: %v (want the path and the reason)", err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open on a read-only file system: %v", err)
	}
	defer ro.Close()
	if r, err := ro.Get(ctx, "kept"); err != nil || r.State != outbox.Pending {
		t.Fatalf("Get = %+v, %v", r, err)
	}
}

// TestKill9 enqueues from a child process killed with SIGKILL mid-stream: every record the
// child was told is stored is there after a reopen, intact.
func TestKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		acked = append(acked, sc.Text())
		if len(acked) == 300 {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() {
		acked = append(acked, sc.Text()) // printed before the kill landed
	}
	cmd.Wait()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range acked {
		r, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("%s was reported stored: %v", id, err)
		}
		if string(r.Envelope) != `{"msg_id":"`+id+`","x":"\u00e9\n"}` {
			t.Fatalf("%s damaged: %q", id, r.Envelope)
		}
	}
	t.Logf("%d records reported stored before SIGKILL, all there", len(acked))
}

func child(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Enqueue(context.Background(), rec(id, "t", "x")); err != nil {
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println(id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
