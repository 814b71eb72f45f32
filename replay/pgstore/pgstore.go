package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/replay"
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

// ErrNoHistory is returned by a read-only Open of a database without the history tables.
var ErrNoHistory = errors.New("replay/pgstore: no history in this database (the ackmsg_history tables are missing: no publisher recorded one here)")

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
