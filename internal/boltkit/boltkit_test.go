package boltkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	errCorrupt = errors.New("kit: corrupt")
	errLocked  = errors.New("kit: locked")
	errClosed  = errors.New("kit: closed")
	errSoft    = errors.New("kit: not found")
	errHard    = errors.New("kit: refused")

	bucketData = []byte("data")
)

func config() Config {
	return Config{Prefix: "kit", Corrupt: errCorrupt, Locked: errLocked, Closed: errClosed,
		Soft:   func(err error) bool { return errors.Is(err, errSoft) },
		Schema: Schema{Version: 3, What: "test", Buckets: [][]byte{bucketData}}}
}

func open(t *testing.T, path string, cfg Config) *DB {
	t.Helper()
	d, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func put(k string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(bucketData).Put([]byte(k), []byte("v")) }
}

func has(t *testing.T, d *DB, k string) bool {
	t.Helper()
	var ok bool
	if err := d.View(func(tx *bolt.Tx) error { ok = tx.Bucket(bucketData).Get([]byte(k)) != nil; return nil }); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestNewFileAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "kit.db")
	cfg := config()
	var news, upgrades int
	cfg.Schema.New = func(tx *bolt.Tx) error { news++; return tx.Bucket(MetaBucket).Put([]byte("n"), []byte("1")) }
	cfg.Schema.Upgrade = func(tx *bolt.Tx) error { upgrades++; _, err := tx.CreateBucketIfNotExists([]byte("later")); return err }
	d, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(t.Context(), put("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := d.Write(t.Context(), put("b")); err != errClosed {
		t.Fatalf("Write after Close: %v, want Config.Closed", err)
	}
	d = open(t, path, cfg)
	if news != 1 || upgrades != 2 || !has(t, d, "a") {
		t.Fatalf("New ran %d times, Upgrade %d (want 1, 2); a kept: %v", news, upgrades, has(t, d, "a"))
	}
	ro := cfg
	ro.ReadOnly, ro.LockTimeout = true, 50*time.Millisecond
	if _, err := Open(path, ro); !errors.Is(err, errLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "waited 50ms") {
		t.Fatalf("open of a held file: %v", err)
	}
}

// damagedPage writes a file whose data bucket's root page has a broken header: bbolt opens
// it and panics reading that page.
func damagedPage(t *testing.T, path string) {
	t.Helper()
	d := open(t, path, config())
	if err := d.Update(func(tx *bolt.Tx) error {
		for i := range 2000 {
			if err := put(fmt.Sprint(i))(tx); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var root int64
	d.View(func(tx *bolt.Tx) error { root = int64(tx.Bucket(bucketData).Root()); return nil })
	ps := int64(d.db.Info().PageSize)
	d.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xff, 0xff}, root*ps+8); err != nil { // the page's flags
		t.Fatal(err)
	}
}

func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cut := filepath.Join(dir, "cut.db")
	d := open(t, cut, config())
	for i := range 50 {
		d.Write(t.Context(), func(tx *bolt.Tx) error { return tx.Bucket(bucketData).Put([]byte(fmt.Sprint(i)), make([]byte, 1000)) })
	}
	d.Close()
	b, _ := os.ReadFile(cut)
	write("cut.db", b[:len(b)/3])

	foreign := filepath.Join(dir, "foreign.db")
	bd, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bd.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(MetaBucket); return err }) // and no data bucket
	bd.Close()

	noVersion := filepath.Join(dir, "noversion.db")
	d = open(t, noVersion, config())
	d.Update(func(tx *bolt.Tx) error { return tx.Bucket(MetaBucket).Delete(keyVersion) })
	d.Close()

	for _, c := range []struct{ name, path, want string }{
		{"garbage", write("garbage.db", []byte(strings.Repeat("not a bolt file ", 2000))), "not a bbolt file"},
		{"tiny", write("tiny.db", []byte("x")), "1 bytes, shorter than a store header"},
		{"truncated", cut, "truncated"},
		{"no data bucket", foreign, "missing the test buckets"},
		{"no version", noVersion, "no schema version"},
	} {
		for _, ro := range []bool{false, true} {
			cfg := config()
			cfg.ReadOnly = ro
			d, err := Open(c.path, cfg)
			if err == nil {
				d.Close()
			}
			if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (read-only %v): Open = %v; want Corrupt naming the file and %q", c.name, ro, err, c.want)
			}
		}
	}

	// A page bbolt panics on: reading and writing it report Corrupt, and the file closes.
	p := filepath.Join(dir, "page.db")
	damagedPage(t, p)
	d = open(t, p, config())
	err = d.View(func(tx *bolt.Tx) error { return tx.Bucket(bucketData).ForEach(func(k, v []byte) error { return nil }) })
	if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), p) {
		t.Errorf("View of a damaged page: %v", err)
	}
	if err := d.Write(t.Context(), put("x")); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), p) {
		t.Errorf("Write to a damaged page: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close after a panic: %v", err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kit.db")
	cfg := config()
	cfg.NameFile = true
	open(t, path, cfg).Close()
	cfg.Schema.Version = 4
	want := fmt.Sprintf("kit: %s has schema version 3; this program reads version 4", path)
	for _, ro := range []bool{false, true} {
		cfg.ReadOnly = ro
		if _, err := Open(path, cfg); err == nil || err.Error() != want || errors.Is(err, errCorrupt) {
			t.Errorf("read-only %v: %v; want %q", ro, err, want)
		}
	}
}

// block queues a write that holds the committer inside its transaction until release is
// closed, and returns once it is there; its result arrives on the returned channel.
func block(t *testing.T, d *DB) (release chan struct{}, result chan error) {
	t.Helper()
	release, result = make(chan struct{}), make(chan error, 1)
	started := make(chan struct{})
	var once sync.Once
	go func() {
		result <- d.Write(t.Context(), func(tx *bolt.Tx) error {
			once.Do(func() { close(started) })
			<-release
			return nil
		})
	}()
	<-started
	return release, result
}

// queued waits until n writes wait for the committer.
func queued(t *testing.T, d *DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(d.ops) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(d.ops), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// group queues fns behind a blocked write, so that they make one group, and returns their
// results in order and the id of the transaction each last ran in.
func group(t *testing.T, d *DB, fns ...func(tx *bolt.Tx) error) ([]error, []int) {
	t.Helper()
	release, first := block(t, d)
	errs, txs := make([]error, len(fns)), make([]int, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.Write(t.Context(), func(tx *bolt.Tx) error { txs[i] = tx.ID(); return fn(tx) })
		}()
		queued(t, d, i+1) // in this order
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	return errs, txs
}

func TestGroupCommit(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "kit.db"), config())
	var fns []func(tx *bolt.Tx) error
	for i := range 50 {
		fns = append(fns, put(fmt.Sprint(i)))
	}
	errs, txs := group(t, d, fns...)
	for i := range fns {
		if errs[i] != nil || txs[i] != txs[0] || !has(t, d, fmt.Sprint(i)) {
			t.Fatalf("write %d: %v in tx %d (the first in %d)", i, errs[i], txs[i], txs[0])
		}
	}
}

func TestGroupErrors(t *testing.T) {
	for _, nameFile := range []bool{false, true} {
		t.Run(fmt.Sprint("NameFile=", nameFile), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kit.db")
			cfg := config()
			cfg.NameFile = nameFile
			d := open(t, path, cfg)
			errs, txs := group(t, d,
				put("a"),
				func(tx *bolt.Tx) error { put("b")(tx); return errHard }, // its put must not stay
				func(tx *bolt.Tx) error { return fmt.Errorf("%w: c", errSoft) },
				func(tx *bolt.Tx) error { panic("damaged page") },
				put("d"),
			)
			if errs[0] != nil || errs[4] != nil || !has(t, d, "a") || !has(t, d, "d") {
				t.Errorf("the good writes: %v %v; a stored %v, d stored %v", errs[0], errs[4], has(t, d, "a"), has(t, d, "d"))
			}
			if has(t, d, "b") {
				t.Error("the failed write's put was committed")
			}
			wantHard := errHard.Error()
			if nameFile {
				wantHard = "kit: " + path + ": " + wantHard
			}
			if !errors.Is(errs[1], errHard) || errs[1].Error() != wantHard {
				t.Errorf("hard error: %v; want %q", errs[1], wantHard)
			}
			if errs[2] == nil || errs[2].Error() != errSoft.Error()+": c" {
				t.Errorf("soft error: %v, want it as it was returned", errs[2])
			}
			if !errors.Is(errs[3], errCorrupt) || !strings.Contains(errs[3].Error(), "damaged page") || !strings.Contains(errs[3].Error(), path) {
				t.Errorf("panic: %v", errs[3])
			}
			if txs[0] == txs[4] {
				t.Error("after the group failed, the good writes still shared a transaction")
			}
			// A soft error alone does not fail its group.
			errs, txs = group(t, d, put("e"), func(tx *bolt.Tx) error { return errSoft }, put("f"))
			if errs[0] != nil || errs[1] != errSoft || errs[2] != nil || txs[0] != txs[2] || !has(t, d, "e") || !has(t, d, "f") {
				t.Errorf("group with a soft error: %v, txs %v", errs, txs)
			}
		})
	}
}

// TestCloseAnswersQueuedWrites closes a store whose committer is busy and has writes queued:
// each is committed and answered. The committer sees the queue and Close at once and may take
// either first, so this runs many times.
func TestCloseAnswersQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kit.db")
	closeQueued(t, path, 1024, "full") // a full queue
	for round := range 30 {
		closeQueued(t, path, 3, fmt.Sprint(round))
	}
}

func closeQueued(t *testing.T, path string, n int, round string) {
	t.Helper()
	d := open(t, path, config())
	release, first := block(t, d)
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- d.Write(context.Background(), put(round+fmt.Sprint(i))) }()
	}
	queued(t, d, n)
	if n == cap(d.ops) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := d.Write(ctx, put("late")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Write with a full queue and a cancelled ctx: %v", err)
		}
	}
	closed := make(chan error)
	go func() { closed <- d.Close() }()
	// Close marks the store closed, then waits for the committer, which answers the queue.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		d.mu.Lock()
		closing := d.closed
		d.mu.Unlock()
		if closing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin")
		}
	}
	close(release)
	timeout := time.After(10 * time.Second)
	for _, c := range []chan error{closed, first} {
		select {
		case err := <-c:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("Close or the busy write did not return")
		}
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("a write queued before Close: %v", err)
			}
		case <-timeout:
			t.Fatalf("round %s: a write queued before Close was never answered", round)
		}
	}
	if err := d.Write(context.Background(), put("after")); err != errClosed {
		t.Fatalf("Write after Close: %v", err)
	}
	d = open(t, path, config())
	for i := range n {
		if !has(t, d, round+fmt.Sprint(i)) {
			t.Fatalf("write %s%d was answered but is not in the file", round, i)
		}
	}
	if has(t, d, "late") || has(t, d, "after") {
		t.Fatal("a refused write is in the file")
	}
	d.Close()
}

func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestFullDisk: a write that does not fit fails with the reason and the file (NameFile), is
// not taken for corruption, and every write answered nil before it is there after a reopen.
func TestFullDisk(t *testing.T) {
	path := filepath.Join(tmpfs(t, "512k"), "kit.db")
	cfg := config()
	cfg.NameFile = true
	d, err := Open(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	var failure error
	for i := range 1000 {
		if failure = d.Write(t.Context(), func(tx *bolt.Tx) error {
			return tx.Bucket(bucketData).Put([]byte(fmt.Sprint(i)), make([]byte, 8000))
		}); failure != nil {
			break
		}
		stored++
	}
	if failure == nil || !strings.Contains(failure.Error(), "no space left on device") ||
		!strings.HasPrefix(failure.Error(), "kit: "+path+": ") || errors.Is(failure, errCorrupt) {
		t.Fatalf("after %d writes of 8 KB in 512 KB: %v", stored, failure)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = open(t, path, cfg)
	for i := range stored {
		if !has(t, d, fmt.Sprint(i)) {
			t.Fatalf("write %d was answered nil, then lost", i)
		}
	}
}

// TestReadOnlyFileSystem: Open for writing fails naming the file and the reason; a ReadOnly
// open reads, and refuses writes naming the file.
func TestReadOnlyFileSystem(t *testing.T) {
	dir := tmpfs(t, "4m")
	path := filepath.Join(dir, "kit.db")
	cfg := config()
	cfg.NameFile = true
	d := open(t, path, cfg)
	if err := d.Write(t.Context(), put("kept")); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	if d, err := Open(path, cfg); err == nil {
		d.Close()
		t.Fatal("Open for writing on a read-only file system succeeded")
	} else if want := "kit: open " + path + ": "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Open on a read-only file system: %v; want %q... read-only file system", err, want)
	}
	if _, err := Open(filepath.Join(dir, "new", "kit.db"), cfg); err == nil || !strings.HasPrefix(err.Error(), "kit: mkdir ") {
		t.Fatalf("Open in a directory it cannot create: %v", err)
	}
	cfg.ReadOnly = true
	ro := open(t, path, cfg)
	if !has(t, ro, "kept") {
		t.Fatal("a read-only open lost the data")
	}
	if err := ro.Write(t.Context(), put("x")); err == nil || !strings.HasPrefix(err.Error(), "kit: "+path+": ") {
		t.Fatalf("Write on a read-only open: %v", err)
	}
}
