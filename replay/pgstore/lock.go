package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrInUse is what an *InUseError is (errors.Is).
var ErrInUse = errors.New("replay/pgstore: publisher name in use by another process")

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
