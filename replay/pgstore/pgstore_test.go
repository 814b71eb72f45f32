package pgstore

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/internal/faultproxy"
	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/storetest"
)

// withServer runs the tests with the throwaway PostgreSQL server, stopped before goleak looks.
type withServer struct{ m *testing.M }

// Run runs the tests and stops the server.
func (w withServer) Run() int { return pgtest.Main(w.m) }

// TestMain runs the tests on a throwaway PostgreSQL and checks that nothing leaks goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withServer{m}) }

// open opens a store on dsn, closed by the test's cleanup.
func open(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// storage is the contract's storage: a fresh database per subtest.
func storage(t *testing.T) storetest.Opener {
	dsn := pgtest.Start(t)
	return func(t *testing.T, ret replay.Retention, now func() time.Time) replay.Store {
		return open(t, dsn, Options{Retention: ret, Now: now})
	}
}

// TestContract runs the store contract against PostgreSQL, a fresh database per subtest.
func TestContract(t *testing.T) { storetest.Run(t, storage) }

// TestContractShortEvictionScan runs the contract with an eviction statement that looks at 3
// records at a time, so that retention needs the catch-up after the commit.
func TestContractShortEvictionScan(t *testing.T) {
	defer func(n int64) { evictScan = n }(evictScan)
	evictScan = 3
	storetest.Run(t, storage)
}

// query runs SQL on dsn outside the store.
func query(t *testing.T, dsn, sql string, args ...any) pgx.Row {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn.QueryRow(ctx, sql, args...)
}

// holder is the backend pid holding name's lock (0 when free).
func holder(t *testing.T, dsn, name string) int {
	t.Helper()
	key := uint64(LockKey(name))
	var pid int
	err := query(t, dsn, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND classid::bigint = $1 AND objid::bigint = $2`, int64(key>>32), int64(key&0xffffffff)).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestOwnership: one process per name (a second owner fails, naming the holder), another name
// works, a read-only store takes no lock, and Close releases.
func TestOwnership(t *testing.T) {
	dsn := pgtest.Start(t)
	a := open(t, dsn, Options{Own: []string{"a"}})
	if err := a.Append(t.Context(), "a", storetest.Rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	pid := holder(t, dsn, "a")
	if pid == 0 {
		t.Fatal(`no session holds the lock of "a"`)
	}
	_, err := Open(context.Background(), dsn, Options{Own: []string{"a"}})
	var iu *InUseError
	if !errors.Is(err, ErrInUse) || !errors.As(err, &iu) || iu.PID != pid ||
		!strings.Contains(err.Error(), `publisher name "a" is in use by another process`) {
		t.Fatalf("a second owner of \"a\": %v; want an InUseError naming pid %d", err, pid)
	}
	// Another name works, and the first name stays refused at first use.
	b := open(t, dsn, Options{Own: []string{"b"}})
	if err := b.Append(t.Context(), "b", storetest.Rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(t.Context(), "a", storetest.Rec(2, 1)); !errors.Is(err, ErrInUse) {
		t.Fatalf("append to a name another process owns: %v", err)
	}
	if _, err := b.LastSeq(t.Context(), "a"); !errors.Is(err, ErrInUse) {
		t.Fatalf("LastSeq of a name another process owns: %v", err)
	}
	// A read-only store takes no lock: it reads what the owner wrote.
	ro := open(t, dsn, Options{ReadOnly: true})
	if last, err := ro.LastSeq(t.Context(), "a"); err != nil || last != 1 {
		t.Fatalf("read-only LastSeq = %d, %v", last, err)
	}
	if got, err := ro.Query(t.Context(), "a", replay.Range(1, 1), replay.Limits{}); err != nil || len(got) != 1 {
		t.Fatalf("read-only query: %v, %v", got, err)
	}
	if names, err := ro.Names(t.Context()); err != nil || strings.Join(names, ",") != "a,b" {
		t.Fatalf("names %v, %v", names, err)
	}
	if err := ro.Append(t.Context(), "a", storetest.Rec(2, 1)); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("read-only append: %v", err)
	}
	if holder(t, dsn, "a") != pid {
		t.Fatal("the read-only store changed the lock")
	}
	// Close releases: b may take "a" now.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(t.Context(), "a", storetest.Rec(2, 1)); err != nil {
		t.Fatalf("append after the owner closed: %v", err)
	}
	if last, err := b.LastSeq(t.Context(), "a"); err != nil || last != 2 {
		t.Fatalf("LastSeq = %d, %v", last, err)
	}
}

// terminate ends the backend pid and waits until it is gone.
func terminate(t *testing.T, dsn string, pid int) {
	t.Helper()
	var ok bool
	if err := query(t, dsn, "SELECT pg_terminate_backend($1, 10000)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminating backend %d: %v, %v", pid, ok, err)
	}
}

// The writer's connection is lost: the next append reconnects, takes the lock again and
// succeeds; when another process took the name meanwhile, it fails instead, clearly.
func TestConnectionLost(t *testing.T) {
	dsn := pgtest.Start(t)
	s := open(t, dsn, Options{Own: []string{"a"}})
	if err := s.Append(t.Context(), "a", storetest.Rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	terminate(t, dsn, holder(t, dsn, "a"))
	if err := s.Append(t.Context(), "a", storetest.Rec(2, 2)); err != nil {
		t.Fatalf("append after the connection was lost: %v", err)
	}
	if holder(t, dsn, "a") == 0 {
		t.Fatal("the lock was not taken again")
	}
	if _, err := Open(context.Background(), dsn, Options{Own: []string{"a"}}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second owner after the reconnection: %v", err)
	}

	terminate(t, dsn, holder(t, dsn, "a"))
	other := open(t, dsn, Options{Own: []string{"a"}})
	if err := s.Append(t.Context(), "a", storetest.Rec(3, 3)); !errors.Is(err, ErrInUse) {
		t.Fatalf("append after another process took the name: %v; want ErrInUse", err)
	}
	other.Close()
	if err := s.Append(t.Context(), "a", storetest.Rec(3, 3)); err != nil {
		t.Fatalf("append once the other process left: %v", err)
	}
	if st, err := s.Stats(t.Context(), "a"); err != nil || st.Messages != 3 || st.LastSeq != 3 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

// A retry after a lost connection finds its record committed by the lost transaction: that is
// an append, not a duplicate; a different record under the seq_id still is one.
func TestRetryFindsItsRecord(t *testing.T) {
	dsn := pgtest.Start(t)
	s := open(t, dsn, Options{})
	r := storetest.Rec(1, 1)
	if err := s.Append(t.Context(), "a", r); err != nil {
		t.Fatal(err)
	}
	// Nothing else is queued: the committer is idle, and the test may use the connection.
	ctx := context.Background()
	if err := s.write(ctx, []*op{{name: "a", rec: r}}, true); err != nil {
		t.Fatalf("the retry of a committed record: %v", err)
	}
	other := r
	other.Envelope = []byte(`{"seq_id":1,"x":1}`)
	if err := s.write(ctx, []*op{{name: "a", rec: other}}, true); err == nil || !strings.Contains(err.Error(), "already recorded") {
		t.Fatalf("the retry of another record under a recorded seq_id: %v", err)
	}
	if st, _ := s.Stats(t.Context(), "a"); st.Messages != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// withHost is dsn with its host:port replaced.
func withHost(t *testing.T, dsn, hostPort string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostPort
	return u.String()
}

// A server that stops answering fails operations after Options.Timeout, and a connection
// attempt after ConnectTimeout: errors, not hangs.
func TestBoundedWaits(t *testing.T) {
	dsn := pgtest.Start(t)
	p, err := faultproxy.New("127.0.0.1:0", hostOf(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	proxied := withHost(t, dsn, p.Addr())
	s := open(t, proxied, Options{Own: []string{"a"}, Timeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond})
	if err := s.Append(t.Context(), "a", storetest.Rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	p.Stall(true)
	start := time.Now()
	if err := s.Append(t.Context(), "a", storetest.Rec(2, 2)); err == nil {
		t.Fatal("append through a stalled connection succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("append through a stalled connection took %s", d)
	}
	for name, read := range map[string]func() error{
		"Stats": func() error { _, err := s.Stats(t.Context(), "a"); return err },
		"Names": func() error { _, err := s.Names(t.Context()); return err },
		"Query": func() error {
			_, err := s.Query(t.Context(), "a", replay.Query{SeqRange: &[2]int64{1, 9}}, replay.Limits{})
			return err
		},
	} {
		start := time.Now()
		if err := read(); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Fatalf("%s through a stalled connection: %v after %s; want a deadline exceeded after 500ms", name, err, time.Since(start))
		}
	}
	start = time.Now()
	_, err = Open(context.Background(), proxied, Options{ConnectTimeout: 300 * time.Millisecond})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("open through a stalled proxy: %v after %s", err, time.Since(start))
	}
	if !errors.Is(err, pgconf.ErrNoAnswer) || !strings.Contains(err.Error(), "PostgreSQL "+proxied+": connecting: no answer within 300ms (connect_timeout)") {
		t.Fatalf("open through a stalled proxy: %v; want pgconf.ErrNoAnswer naming %s", err, proxied)
	}
	p.Stall(false)
	p.Cut()
	if err := s.Append(t.Context(), "a", storetest.Rec(3, 3)); err != nil {
		t.Fatalf("append once the server answers again: %v", err)
	}
}

// hostOf is the host:port of dsn.
func hostOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestOpenErrors: a malformed URL, no server, no history (read-only), another schema version;
// no error carries the password.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "postgres://u:s3cret@[::1/db", Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a malformed URL: %v", err)
	}
	// Nothing listens: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := Open(ctx, "postgres://u:s3cret@"+addr+"/db?sslmode=disable", Options{}); err == nil ||
		strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("no server: %v", err)
	}

	dsn := pgtest.Start(t)
	if _, err := Open(ctx, dsn, Options{ReadOnly: true}); !errors.Is(err, ErrNoHistory) {
		t.Fatalf("read-only open of an empty database: %v; want ErrNoHistory", err)
	}
	open(t, dsn, Options{}).Close()
	if err := query(t, dsn, "UPDATE "+tableSchema+" SET version = 2 RETURNING version").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if _, err := Open(ctx, dsn, Options{ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), "schema version 2") {
			t.Fatalf("open (read-only %v) of tables of another version: %v", ro, err)
		}
	}
}

// TestSynchronousCommit: the store reports the session's synchronous_commit and never sets it.
func TestSynchronousCommit(t *testing.T) {
	dsn := pgtest.Start(t)
	if got := open(t, dsn, Options{}).SynchronousCommit(); got != "on" {
		t.Fatalf("synchronous_commit = %q; the test server has the default, on", got)
	}
	// The server's (here the session's, from the URL) setting is what the store reports and
	// keeps: it never sets one itself.
	if got := open(t, dsn+"&synchronous_commit=off", Options{}).SynchronousCommit(); got != "off" {
		t.Fatalf("synchronous_commit = %q, want off", got)
	}
}

// A role with only SELECT, INSERT, UPDATE and DELETE on the tables (no CREATE anywhere) writes
// a history someone else set up; with SELECT only, it reads it (ackmsg-replay).
func TestLeastPrivilege(t *testing.T) {
	dsn := pgtest.Start(t)
	open(t, dsn, Options{}).Close()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	writer, reader := db+"_writer", db+"_reader"
	for _, sql := range []string{
		"CREATE ROLE " + writer + " LOGIN", "CREATE ROLE " + reader + " LOGIN",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC", "REVOKE CREATE ON DATABASE " + db + " FROM PUBLIC",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON " + tableRecords + ", " + tableNames + ", " + tableSchema + " TO " + writer,
		"GRANT SELECT ON " + tableRecords + ", " + tableNames + ", " + tableSchema + " TO " + reader,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		for _, r := range []string{writer, reader} {
			conn.Exec(ctx, "DROP OWNED BY "+r)
			conn.Exec(ctx, "DROP ROLE "+r)
		}
	})
	as := func(role string) string {
		v := *u
		v.User = url.User(role)
		return v.String()
	}
	w := open(t, as(writer), Options{Own: []string{"a"}, Retention: replay.Retention{MaxMessages: 2}})
	for n := int64(1); n <= 3; n++ {
		if err := w.Append(t.Context(), "a", storetest.Rec(n, n)); err != nil {
			t.Fatalf("append as %s: %v", writer, err)
		}
	}
	r := open(t, as(reader), Options{ReadOnly: true})
	if got, err := r.Query(t.Context(), "a", replay.Range(1, 3), replay.Limits{}); err != nil || len(got) != 2 {
		t.Fatalf("query as %s: %d records, %v", reader, len(got), err)
	}
	rw := open(t, as(reader), Options{})
	if err := rw.Append(t.Context(), "b", storetest.Rec(1, 1)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("append as %s: %v; want permission denied", reader, err)
	}
}

// The URL's search_path says where the tables go.
func TestSearchPath(t *testing.T) {
	dsn := pgtest.Start(t)
	var ok bool
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA ackmsg"); err != nil {
		t.Fatal(err)
	}
	s := open(t, dsn+"&search_path=ackmsg", Options{})
	if err := s.Append(t.Context(), "a", storetest.Rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := query(t, dsn, "SELECT to_regclass('ackmsg.ackmsg_history') IS NOT NULL AND to_regclass('public.ackmsg_history') IS NULL").Scan(&ok); err != nil || !ok {
		t.Fatalf("the tables are not (only) in schema ackmsg: %v, %v", ok, err)
	}
}
