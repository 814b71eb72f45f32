package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/replay"
)

// SchemaVersion is the layout of the tables Store writes.
const SchemaVersion = 1

// The tables (see the package documentation).
const (
	tableRecords = "ackmsg_history"
	tableNames   = "ackmsg_history_names"
	tableSchema  = "ackmsg_history_schema"
)

// Options configure Open.
type Options struct {
	// Retention bounds each publisher name's history.
	Retention replay.Retention
	// ReadOnly opens the history for reading only (ackmsg-replay): no lock, no tables created,
	// and every session read-only (default_transaction_read_only).
	ReadOnly bool
	// Own lists publisher names to take ownership of at Open, which then fails with an
	// *InUseError when another process holds one. (A writable store takes a name at its first
	// LastSeq or Append anyway; Own makes a publisher fail at start rather than there.)
	Own []string
	// ConnectTimeout bounds each connection attempt, unless the URL sets connect_timeout.
	// Default 10 s (pgconf.ConnectTimeout, shared with outbox/pgstore).
	ConnectTimeout time.Duration
	// Timeout bounds each operation (an append's transaction, a query) besides the caller's
	// context, so a call without a deadline still ends. Default 30 s (pgconf.Timeout, shared
	// with outbox/pgstore).
	Timeout time.Duration
	// Now is the clock for max_age. Default time.Now.
	Now func() time.Time
}

// ErrInUse is what an *InUseError is (errors.Is).
var ErrInUse = errors.New("replay/pgstore: publisher name in use by another process")

// ErrNoHistory is returned by a read-only Open of a database without the history tables.
var ErrNoHistory = errors.New("replay/pgstore: no history in this database (the ackmsg_history tables are missing: no publisher recorded one here)")

// InUseError is a publisher name whose advisory lock another session holds: another process
// publishes under that name with a history in the same database.
type InUseError struct {
	Name string
	// PID is the PostgreSQL backend process holding the lock (0 when it could not be seen).
	PID int
}

// Error names the publisher name, its lock and the session holding it.
func (e *InUseError) Error() string {
	holder := ""
	if e.PID != 0 {
		holder = ", the session of backend pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("publisher name %q is in use by another process (its history's advisory lock %d is held%s; one process per publisher name and database)",
		e.Name, LockKey(e.Name), holder)
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// LockKey is the key of name's session-level advisory lock: the FNV-1a 64-bit hash of
// "ackmsg history\x00" and the name. In pg_locks it shows as classid = the high 32 bits,
// objid = the low 32 bits, objsubid = 1.
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("ackmsg history\x00"))
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// schemaLockKey serialises the creation of the tables by processes starting together.
var schemaLockKey = LockKey("\x00schema")

// Store is the PostgreSQL history. Reads (Query, Stats, LastSeq) use a pool; appends go
// through one writer connection, owned by a committer goroutine that also holds the names'
// advisory locks. Create it with Open.
type Store struct {
	opts     Options
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig
	syncMode string

	ops     chan *op
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	closed bool

	// The committer's: the writer connection (nil when lost) and the locks held on it.
	conn *pgx.Conn
	held map[string]bool
}

// op is one request to the committer: an append, or (own) taking name's lock.
type op struct {
	own  bool
	name string
	rec  replay.Record
	done chan error
}

var _ replay.Store = (*Store)(nil)

// Open connects to the database dsn names (a postgres:// or postgresql:// URL, or a key=value
// connection string), creates the tables when missing (unless ReadOnly) and takes ownership of
// Options.Own. Its errors never carry the password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	pcfg, bounds, err := pgconf.Parse(dsn, pgconf.Bounds{ConnectTimeout: opts.ConnectTimeout, Timeout: opts.Timeout}, "ackmsg-history")
	if err != nil {
		return nil, fmt.Errorf("replay/pgstore: %w", err)
	}
	opts.ConnectTimeout, opts.Timeout = bounds.ConnectTimeout, bounds.Timeout
	ctx, cancel := pgconf.OpenContext(ctx, bounds)
	defer cancel()
	cc := pcfg.ConnConfig
	if opts.ReadOnly {
		cc.RuntimeParams["default_transaction_read_only"] = "on"
	}
	s := &Store{opts: opts, connCfg: cc.Copy(), held: map[string]bool{}, ops: make(chan *op, 1024),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	where := fmt.Sprintf("database %q on %s", cc.Database, hostPort(cc))
	if opts.ReadOnly {
		s.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
		connecting := true
		if err == nil {
			// Connect first, so that a server that does not answer is told from a slow statement.
			var conn *pgxpool.Conn
			if conn, err = s.pool.Acquire(ctx); err == nil {
				conn.Release()
				connecting = false
				err = s.checkSchema(ctx)
			}
		}
		if err != nil {
			if s.pool != nil {
				s.pool.Close()
			}
			if errors.Is(err, ErrNoHistory) {
				return nil, fmt.Errorf("%w (%s)", err, where)
			}
			what := "reading the history's schema in " + where
			if connecting {
				what = "connecting"
			}
			return nil, fmt.Errorf("replay/pgstore: %w", pgconf.Failed(dsn, what, bounds, connecting, err))
		}
		close(s.stopped)
		return s, nil
	}
	if err := s.connect(ctx); err != nil {
		return nil, fmt.Errorf("replay/pgstore: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	fail := func(err error) (*Store, error) {
		s.dropConn()
		if s.pool != nil {
			s.pool.Close()
		}
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return fail(fmt.Errorf("replay/pgstore: %w", pgconf.Failed(dsn, "creating the history tables in "+where, bounds, false, err)))
	}
	if err := s.conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&s.syncMode); err != nil {
		return fail(fmt.Errorf("replay/pgstore: %w", pgconf.Failed(dsn, where, bounds, false, err)))
	}
	for _, name := range opts.Own {
		if err := s.own(ctx, name); err != nil {
			return fail(err)
		}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fail(fmt.Errorf("replay/pgstore: %w", pgconf.Failed(dsn, where, bounds, false, err)))
	}
	go s.commit()
	return s, nil
}

// hostPort names the server of a connection configuration in messages.
func hostPort(cc *pgx.ConnConfig) string {
	if strings.HasPrefix(cc.Host, "/") {
		return "the socket in " + cc.Host
	}
	return fmt.Sprintf("%s:%d", cc.Host, cc.Port)
}

// connect opens the writer connection; the locks held on a lost one are gone with it.
func (s *Store) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	s.dropConn()
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return err
	}
	s.conn = conn
	return nil
}

// dropConn forgets the writer connection, and with it the locks. On a connection that still
// works the locks are released first: the server frees a closed session's locks only once its
// backend has exited, which happens after Close returns, so a next owner could find them held.
func (s *Store) dropConn() {
	if s.conn != nil {
		if len(s.held) > 0 && !s.conn.IsClosed() {
			ctx, cancel := context.WithTimeout(context.Background(), min(s.opts.Timeout, 2*time.Second))
			_, _ = s.conn.Exec(ctx, "SELECT pg_advisory_unlock_all()") // best effort: closing frees them too
			cancel()
		}
		s.conn.Close(context.Background())
		s.conn = nil
	}
	clear(s.held)
}

// migrate creates the tables when missing and checks the schema version, under a
// transaction-scoped advisory lock so that processes starting together do not race. Tables
// that exist are not created again, so that a role with no CREATE privilege (only SELECT,
// INSERT, UPDATE, DELETE on them) can write a history someone else set up.
func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockKey); err != nil {
			return err
		}
		present, err := tablesPresent(ctx, tx)
		if err != nil {
			return err
		}
		if present {
			return schemaVersion(ctx, tx)
		}
		if _, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS `+tableSchema+` (version integer PRIMARY KEY);
CREATE TABLE IF NOT EXISTS `+tableNames+` (
	name        text PRIMARY KEY,
	last_seq_id bigint NOT NULL,
	messages    bigint NOT NULL,
	bytes       bigint NOT NULL,
	evicted     bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS `+tableRecords+` (
	name     text NOT NULL,
	seq_id   bigint NOT NULL,
	msg_id   text NOT NULL,
	ts       bigint NOT NULL,
	envelope bytea NOT NULL,
	PRIMARY KEY (name, seq_id)
);
CREATE INDEX IF NOT EXISTS `+tableRecords+`_msg_id ON `+tableRecords+` (name, msg_id) WHERE msg_id <> '';
CREATE INDEX IF NOT EXISTS `+tableRecords+`_ts ON `+tableRecords+` (name, ts);`); err != nil {
			return fmt.Errorf("creating the history tables: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+tableSchema+` (version) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM `+tableSchema+`)`,
			SchemaVersion); err != nil {
			return err
		}
		return schemaVersion(ctx, tx)
	})
}

// checkSchema is a read-only open's check: the tables exist, in a version this program reads.
func (s *Store) checkSchema(ctx context.Context) error {
	present, err := tablesPresent(ctx, s.pool)
	if err != nil {
		return err
	}
	if !present {
		return ErrNoHistory
	}
	return schemaVersion(ctx, s.pool)
}

// queryer is a connection, a pool or a transaction.
type queryer interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// tablesPresent reports whether the three tables exist (on the search_path).
func tablesPresent(ctx context.Context, q queryer) (bool, error) {
	var present bool
	err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL",
		tableSchema, tableNames, tableRecords).Scan(&present)
	return present, err
}

// schemaVersion refuses tables of another layout.
func schemaVersion(ctx context.Context, q queryer) error {
	var v *int
	if err := q.QueryRow(ctx, "SELECT max(version) FROM "+tableSchema).Scan(&v); err != nil {
		return err
	}
	if v == nil || *v != SchemaVersion {
		got := "none"
		if v != nil {
			got = strconv.Itoa(*v)
		}
		return fmt.Errorf("the history tables have schema version %s; this program reads version %d", got, SchemaVersion)
	}
	return nil
}

// own takes name's advisory lock on the writer connection, unless it is held already, trying
// once more on a new connection when the connection was lost. It runs in the committer (or in
// Open, before the committer starts).
func (s *Store) own(ctx context.Context, name string) error {
	err := s.tryOwn(ctx, name)
	if err != nil && !isServerError(err) && !errors.Is(err, ErrInUse) && ctx.Err() == nil {
		err = s.tryOwn(ctx, name)
	}
	return err
}

// tryOwn is one attempt of own.
func (s *Store) tryOwn(ctx context.Context, name string) error {
	if s.held[name] {
		return nil
	}
	if err := s.connect(ctx); err != nil {
		return fmt.Errorf("replay/pgstore: reconnecting: %w", err)
	}
	ok, err := s.lock(ctx, name)
	if err != nil {
		s.lost(err)
		return fmt.Errorf("replay/pgstore: taking the lock of %q: %w", name, err)
	}
	if !ok {
		key := uint64(LockKey(name))
		var pid int
		// Best effort: the holder's pid, for the operator.
		_ = s.conn.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
			AND classid::bigint = $1 AND objid::bigint = $2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			LIMIT 1`, int64(key>>32), int64(key&0xffffffff)).Scan(&pid)
		return &InUseError{Name: name, PID: pid}
	}
	s.held[name] = true
	return nil
}

// lockWait bounds how long taking a name's lock waits for it: a session whose connection was
// just lost (ours, before a reconnect, or a previous owner's) keeps its locks until the server
// has noticed and its backend exited, which takes milliseconds; a live second owner keeps them,
// and is reported after this wait.
const lockWait = time.Second

// lock takes name's session-level advisory lock on the writer connection, waiting at most
// lockWait (the server's lock_timeout, in a transaction of its own, so that nothing else is
// affected; a session lock outlives the transaction). false: another session holds it.
func (s *Store) lock(ctx context.Context, name string) (bool, error) {
	wait := min(lockWait, s.opts.Timeout/2)
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background()) // a no-op after Commit
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", wait.Milliseconds())); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_lock($1)", LockKey(name)); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
			return false, nil
		}
		return false, err
	}
	return true, tx.Commit(ctx)
}

// lost drops the writer connection after an error that closed it (the next operation
// reconnects and takes the locks again).
func (s *Store) lost(err error) {
	if s.conn != nil && s.conn.IsClosed() || !isServerError(err) {
		s.dropConn()
	}
}

// isServerError reports whether err is an error PostgreSQL answered a statement with (the
// connection is fine), as opposed to a broken connection or a timeout.
func isServerError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && !strings.EqualFold(pe.Severity, "FATAL") && !strings.EqualFold(pe.Severity, "PANIC")
}

// commit is the group committer: every op queued while one transaction is written goes into
// the next. When a transaction of several appends fails on a statement, each is retried alone,
// so one bad append (a seq_id recorded already) cannot fail the others.
func (s *Store) commit() {
	defer close(s.stopped)
	defer s.dropConn()
	for {
		var batch []*op
		stopping := false
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.stop:
			// Close sets closed before stop, so nothing more is queued: answer what is.
			stopping = true
			for len(s.ops) > 0 {
				batch = append(batch, <-s.ops)
			}
		}
	more:
		for len(batch) < 1000 {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break more
			}
		}
		s.run(batch)
		if stopping {
			return
		}
	}
}

// run answers one batch of ops. When the connection is lost during the transaction (the
// server restarted, a proxy cut it), the batch is written once more on a new connection, after
// taking the locks again: the first transaction may have committed, so a record found there
// already, identical, counts as appended.
func (s *Store) run(batch []*op) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	appends := s.owned(ctx, batch)
	if len(appends) == 0 {
		return
	}
	err := s.write(ctx, appends, false)
	again := false
	if err != nil && !isServerError(err) && ctx.Err() == nil {
		again = true
		if appends = s.owned(ctx, appends); len(appends) == 0 {
			return
		}
		err = s.write(ctx, appends, true)
	}
	if err == nil || len(appends) == 1 || !isServerError(err) {
		for _, o := range appends {
			o.done <- err
		}
		return
	}
	for _, o := range appends {
		o.done <- s.write(ctx, []*op{o}, again)
	}
}

// owned takes the locks of the ops' names, answers the ops that only asked for one and those
// whose name cannot be taken, and returns the appends left.
func (s *Store) owned(ctx context.Context, ops []*op) []*op {
	var out []*op
	for _, o := range ops {
		if err := s.own(ctx, o.name); err != nil || o.own {
			o.done <- err
			continue
		}
		out = append(out, o)
	}
	return out
}

// The statements of an append.
const (
	insertSQL = `INSERT INTO ` + tableRecords + ` (name, seq_id, msg_id, ts, envelope) VALUES ($1, $2, $3, $4, $5)`
	countSQL  = `INSERT INTO ` + tableNames + ` AS n (name, last_seq_id, messages, bytes) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET last_seq_id = greatest(n.last_seq_id, excluded.last_seq_id),
			messages = n.messages + excluded.messages, bytes = n.bytes + excluded.bytes`
	// evictSQL drops the oldest records of $1 below seq_id $2 while the history is over a
	// bound, as BoltStore does walking from the oldest: record k (1 = the oldest) goes when it
	// and every older one are over, where over is: the messages from it on exceed $4, or their
	// bytes exceed $5 (a bound of 0 is none), or its timestamp is before $6. It looks at the $3
	// oldest records only, and returns how many it dropped: as many as it looked at means
	// there may be more to drop.
	evictSQL = `
WITH st AS (
	SELECT messages, bytes FROM ` + tableNames + ` WHERE name = $1
), old AS (
	SELECT seq_id, ts, n, row_number() OVER w AS k, sum(n) OVER w AS cum
	FROM (SELECT seq_id, ts, octet_length(envelope) AS n FROM ` + tableRecords + `
	      WHERE name = $1 AND seq_id < $2 ORDER BY seq_id LIMIT $3) o
	WINDOW w AS (ORDER BY seq_id)
), flagged AS (
	SELECT old.seq_id, old.n,
		($4::bigint > 0 AND st.messages - old.k + 1 > $4::bigint) OR ($5::bigint > 0 AND st.bytes - old.cum + old.n > $5::bigint)
			OR old.ts < $6::bigint AS over
	FROM old, st
), doomed AS (
	SELECT seq_id, n FROM flagged WHERE seq_id < coalesce((SELECT min(seq_id) FROM flagged WHERE NOT over), $2)
), del AS (
	DELETE FROM ` + tableRecords + ` h USING doomed d WHERE h.name = $1 AND h.seq_id = d.seq_id RETURNING d.n
), sums AS (
	SELECT count(*) AS c, coalesce(sum(n), 0) AS b FROM del
)
UPDATE ` + tableNames + ` SET messages = messages - sums.c, bytes = bytes - sums.b, evicted = evicted + sums.c
FROM sums WHERE name = $1
RETURNING sums.c`
)

// evictScan is the records one eviction statement looks at; tests lower it.
var evictScan int64 = 64

// nameAgg sums one name's appends in a transaction.
type nameAgg struct {
	name             string
	last, n, nbytes  int64
	maxSeq, evicting int64
}

// write appends ops in one transaction: the records, each name's counters and retention, as
// one pipelined batch (one implicit transaction, committed when its results end). Names whose
// retention has more to drop than one statement looks at are trimmed further in transactions
// of their own, after the commit (the records are durable then; the trimming only catches up).
// With again (a retry after a lost connection), one op whose seq_id is recorded already with
// the same msg_id, timestamp and envelope was committed by the lost transaction: nil.
func (s *Store) write(ctx context.Context, ops []*op, again bool) error {
	if err := s.connect(ctx); err != nil {
		return fmt.Errorf("replay/pgstore: reconnecting: %w", err)
	}
	b := &pgx.Batch{}
	var aggs []*nameAgg
	byName := map[string]*nameAgg{}
	for _, o := range ops {
		r := o.rec
		env := r.Envelope
		if env == nil {
			env = []byte{} // the column is NOT NULL; an empty envelope is what BoltStore keeps too
		}
		b.Queue(insertSQL, o.name, r.Seq, r.MsgID, r.Timestamp, env)
		a := byName[o.name]
		if a == nil {
			a = &nameAgg{name: o.name, last: r.Seq, maxSeq: r.Seq}
			byName[o.name] = a
			aggs = append(aggs, a)
		}
		a.last, a.maxSeq = max(a.last, r.Seq), max(a.maxSeq, r.Seq)
		a.n++
		a.nbytes += int64(len(r.Envelope))
	}
	for _, a := range aggs {
		b.Queue(countSQL, a.name, a.last, a.n, a.nbytes)
	}
	ret, oldest := s.opts.Retention, int64(math.MinInt64)
	if ret.MaxAge > 0 {
		oldest = s.opts.Now().Add(-ret.MaxAge).Unix()
	}
	evict := ret.MaxAge > 0 || ret.MaxMessages > 0 || ret.MaxBytes > 0
	if evict {
		for _, a := range aggs {
			b.Queue(evictSQL, a.name, a.maxSeq, evictScan, ret.MaxMessages, ret.MaxBytes, oldest)
		}
	}
	br := s.conn.SendBatch(ctx, b)
	err := func() error {
		for _, o := range ops {
			if _, err := br.Exec(); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "23505" {
					if again && len(ops) == 1 {
						return errDuplicate
					}
					return fmt.Errorf("replay/pgstore: seq_id %d of %q is already recorded: %w", o.rec.Seq, o.name, err)
				}
				return fmt.Errorf("replay/pgstore: recording seq_id %d of %q: %w", o.rec.Seq, o.name, err)
			}
		}
		for range aggs {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("replay/pgstore: counting: %w", err)
			}
		}
		if evict {
			for _, a := range aggs {
				if err := br.QueryRow().Scan(&a.evicting); err != nil {
					return fmt.Errorf("replay/pgstore: retention of %q: %w", a.name, err)
				}
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("replay/pgstore: committing: %w", cerr)
	}
	if err == errDuplicate {
		return s.recorded(ctx, ops[0])
	}
	if err != nil {
		s.lost(err)
		return err
	}
	for _, a := range aggs {
		for n := a.evicting; n == evictScan; {
			if err := s.conn.QueryRow(ctx, evictSQL, a.name, a.maxSeq, evictScan, ret.MaxMessages, ret.MaxBytes, oldest).Scan(&n); err != nil {
				s.lost(err)
				break // the next append of the name trims again
			}
		}
	}
	return nil
}

// errDuplicate is write's signal to check a retried record against the one found.
var errDuplicate = errors.New("replay/pgstore: duplicate on retry")

// recorded returns nil when o's seq_id holds exactly o's record (committed by a transaction
// whose answer was lost), else the duplicate's error.
func (s *Store) recorded(ctx context.Context, o *op) error {
	var msgID string
	var ts int64
	var env []byte
	err := s.conn.QueryRow(ctx, `SELECT msg_id, ts, envelope FROM `+tableRecords+` WHERE name = $1 AND seq_id = $2`, o.name, o.rec.Seq).
		Scan(&msgID, &ts, &env)
	if err != nil {
		s.lost(err)
		return fmt.Errorf("replay/pgstore: checking seq_id %d of %q after a lost connection: %w", o.rec.Seq, o.name, err)
	}
	if msgID == o.rec.MsgID && ts == o.rec.Timestamp && bytes.Equal(env, o.rec.Envelope) {
		return nil
	}
	return fmt.Errorf("replay/pgstore: seq_id %d of %q is already recorded", o.rec.Seq, o.name)
}

// storable reports whether PostgreSQL's text can hold msgID.
func storable(msgID string) bool { return utf8.ValidString(msgID) && !strings.ContainsRune(msgID, 0) }

// live returns ErrClosed once Close was called.
func (s *Store) live() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return replay.ErrClosed
	}
	return nil
}

// send queues o for the committer and waits for its answer. ctx bounds the wait for room in
// the queue; once queued, the committer writes o within Timeout and send waits for it, so that
// an append is never reported failed when it was committed.
func (s *Store) send(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err // not left to the select below, which may still pick the send
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return replay.ErrClosed
	}
	// Sent under the lock, so Close cannot stop the committer between the check and the send.
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.Unlock()
		return ctx.Err()
	}
	s.mu.Unlock()
	return <-o.done
}

// Append records r under name, committed when it returns nil (see the package documentation
// for what the commit promises). It takes name's lock first, when the store does not hold it.
// ctx bounds the wait for the group committer, as send says.
func (s *Store) Append(ctx context.Context, name string, r replay.Record) error {
	if s.opts.ReadOnly {
		return errors.New("replay/pgstore: the history is open read-only")
	}
	if !storable(r.MsgID) {
		return fmt.Errorf("replay/pgstore: seq_id %d of %q: a msg_id PostgreSQL text cannot hold (a NUL or invalid UTF-8): %q", r.Seq, name, r.MsgID)
	}
	return s.send(ctx, &op{name: name, rec: r, done: make(chan error, 1)})
}

// Own takes name's advisory lock (a no-op when held, or on a read-only store): an
// *InUseError when another session holds it. ctx bounds the wait for the committer, as
// Append's.
func (s *Store) Own(ctx context.Context, name string) error {
	if s.opts.ReadOnly {
		return s.live()
	}
	return s.send(ctx, &op{own: true, name: name, done: make(chan error, 1)})
}

// LastSeq is the highest seq_id ever appended under name; in a writable store it takes the
// name's lock first (the caller is about to number from it). ctx and Timeout bound the read,
// whichever ends first, as in every read of the store.
func (s *Store) LastSeq(ctx context.Context, name string) (int64, error) {
	if err := s.Own(ctx, name); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var last int64
	err := s.pool.QueryRow(ctx, `SELECT last_seq_id FROM `+tableNames+` WHERE name = $1`, name).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("replay/pgstore: last seq_id of %q: %w", name, err)
	}
	return last, nil
}

// Stats describes name's history.
func (s *Store) Stats(ctx context.Context, name string) (replay.StoreStats, error) {
	var st replay.StoreStats
	if err := s.live(); err != nil {
		return st, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var evicted int64
	err := s.pool.QueryRow(ctx, `SELECT n.messages, n.bytes, n.last_seq_id, n.evicted,
		coalesce((SELECT min(seq_id) FROM `+tableRecords+` WHERE name = $1), 0),
		coalesce((SELECT max(seq_id) FROM `+tableRecords+` WHERE name = $1), 0)
		FROM `+tableNames+` n WHERE n.name = $1`, name).Scan(&st.Messages, &st.Bytes, &st.LastSeq, &evicted, &st.First, &st.Last)
	if errors.Is(err, pgx.ErrNoRows) {
		return replay.StoreStats{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("replay/pgstore: stats of %q: %w", name, err)
	}
	st.Evicted = uint64(evicted)
	return st, nil
}

// Names lists the publisher names the database holds a history for.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name FROM `+tableNames+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("replay/pgstore: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("replay/pgstore: %w", err)
	}
	return names, nil
}

// where is the WHERE clause of q's predicates (OR-ed) for name, with its arguments; ok is false
// when no predicate can match anything.
func where(name string, q replay.Query) (clause string, args []any, ok bool) {
	args = []any{name}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var ors []string
	seqs := q.SeqIDs
	if q.SeqID != nil {
		seqs = append(seqs[:len(seqs):len(seqs)], *q.SeqID)
	}
	if len(seqs) > 0 {
		ors = append(ors, "seq_id = ANY("+arg(seqs)+"::bigint[])")
	}
	if q.SeqRange != nil && q.SeqRange[0] <= q.SeqRange[1] {
		ors = append(ors, "seq_id BETWEEN "+arg(q.SeqRange[0])+"::bigint AND "+arg(q.SeqRange[1])+"::bigint")
	}
	ids := make([]string, 0, len(q.MsgIDs)+1)
	for _, id := range q.MsgIDs {
		if id != "" && storable(id) {
			ids = append(ids, id)
		}
	}
	if q.MsgID != nil && *q.MsgID != "" && storable(*q.MsgID) {
		ids = append(ids, *q.MsgID)
	}
	if len(ids) > 0 {
		// A msg_id recorded twice answers with its latest record, as in BoltStore.
		ors = append(ors, "seq_id IN (SELECT max(seq_id) FROM "+tableRecords+" WHERE name = $1 AND msg_id <> '' AND msg_id = ANY("+
			arg(ids)+"::text[]) GROUP BY msg_id)")
	}
	if lo, hi, ok := q.TimeRange(); ok {
		ors = append(ors, "ts BETWEEN "+arg(lo)+"::bigint AND "+arg(hi)+"::bigint")
	}
	if len(ors) == 0 {
		return "", nil, false
	}
	return "name = $1 AND (" + strings.Join(ors, " OR ") + ")", args, true
}

// Query returns the retained records of name matching q, by seq_id. It reads the matching
// seq_ids and sizes first, and the envelopes only when they are within lim, in one snapshot.
func (s *Store) Query(ctx context.Context, name string, q replay.Query, lim replay.Limits) ([]replay.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	cond, args, ok := where(name, q)
	if !ok {
		return nil, replay.ErrNoMatch
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var out []replay.Record
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		limit := ""
		if lim.MaxMessages > 0 {
			limit = " LIMIT " + strconv.Itoa(lim.MaxMessages+1)
		}
		rows, err := tx.Query(ctx, "SELECT seq_id, octet_length(envelope) FROM "+tableRecords+" WHERE "+cond+" ORDER BY seq_id"+limit, args...)
		if err != nil {
			return err
		}
		var seqs []int64
		size := 0
		var n int64
		var length int
		_, err = pgx.ForEachRow(rows, []any{&n, &length}, func() error {
			seqs = append(seqs, n)
			size += length
			if lim.MaxMessages > 0 && len(seqs) > lim.MaxMessages {
				return &replay.TooManyError{Limit: lim.MaxMessages}
			}
			if lim.MaxBytes > 0 && size > lim.MaxBytes {
				return &replay.TooManyError{Limit: lim.MaxBytes, Bytes: true}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(seqs) == 0 {
			return replay.ErrNoMatch
		}
		rows, err = tx.Query(ctx, "SELECT seq_id, msg_id, ts, envelope FROM "+tableRecords+" WHERE name = $1 AND seq_id = ANY($2) ORDER BY seq_id",
			name, seqs)
		if err != nil {
			return err
		}
		out = make([]replay.Record, 0, len(seqs))
		var r replay.Record
		_, err = pgx.ForEachRow(rows, []any{&r.Seq, &r.MsgID, &r.Timestamp, &r.Envelope}, func() error {
			out = append(out, r)
			r.Envelope = nil // a fresh slice for the next row
			return nil
		})
		return err
	})
	var qe *replay.QueryError
	var tm *replay.TooManyError
	if errors.As(err, &qe) || errors.As(err, &tm) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("replay/pgstore: query of %q: %w", name, err)
	}
	return out, nil
}

// SynchronousCommit is the server's synchronous_commit for the writer's session, read at Open
// ("on", "remote_apply", "off", ...; "" for a read-only store): with "off", a commit returns
// before it is on disk, and a crash of the server can lose the last records.
func (s *Store) SynchronousCommit() string { return s.syncMode }

// Close stops the committer, releases the locks (closing the writer connection) and closes the
// pool. Appends after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if !s.opts.ReadOnly {
		close(s.stop)
	}
	<-s.stopped
	s.pool.Close()
	return nil
}
