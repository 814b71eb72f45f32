// Package pgstore is the outbox's PostgreSQL store: the transactional outbox. EnqueueTx writes
// messages inside the application's own transaction, so they are sent if and only if it
// commits; several deliverers, on several machines, may serve one table.
//
// Bounds: connecting ends after Options.ConnectTimeout (or the URL's connect_timeout), each
// operation after Options.Timeout; the defaults are replay/pgstore's (internal/pgconf).
//
// Guarantees: a nil error from a write means PostgreSQL committed it (durable as the server's
// fsync and synchronous_commit settings make commits). A claim is a lease (claimed_by,
// claim_until) taken in a short transaction; claimers are serialised by a transaction-scoped
// advisory lock, so two deliverers never hold one message, and a topic with a live claim by one
// deliverer is not started by another (store order per topic). A deliverer that dies leaves
// claims that expire at claim_until and are then taken over. Deliverers are woken by
// LISTEN/NOTIFY on commit (of Enqueue, EnqueueTx and Retry) and poll as well, so a lost
// notification only delays. Lease times are the deliverers' clocks: keep them in NTP sync.
package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/internal/pgconf"
	"github.com/ackmsg/ackmsg/outbox"
)

// Options configure Open.
type Options struct {
	// Table is the outbox table's name (with a schema if wanted). Default "ackmsg_outbox".
	Table string
	// Logger logs reconnections of the notification listener. Default: slog.Default().
	Logger *slog.Logger
	// ConnectTimeout bounds each connection attempt, unless the URL sets connect_timeout.
	// Default 10 s (pgconf.ConnectTimeout, shared with replay/pgstore).
	ConnectTimeout time.Duration
	// Timeout bounds each operation (a claim, an enqueue, a list...), or less when the
	// caller's context ends first. Default 30 s (pgconf.Timeout, shared with replay/pgstore).
	Timeout time.Duration
}

// Store is the PostgreSQL outbox store.
type Store struct {
	pool    *pgxpool.Pool
	bounds  pgconf.Bounds
	table   string
	channel string
	log     *slog.Logger

	changed chan struct{}
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

var _ outbox.TxStore = (*Store)(nil)

// Open connects, creates the table when missing and starts listening for notifications. It
// takes at most ConnectTimeout + Timeout; a server that does not answer is a
// *pgconf.NoAnswerError naming the URL (its password masked).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Table == "" {
		opts.Table = "ackmsg_outbox"
	}
	pcfg, bounds, err := pgconf.Parse(dsn, pgconf.Bounds{ConnectTimeout: opts.ConnectTimeout, Timeout: opts.Timeout}, "ackmsg-outbox")
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	ctx, cancel := pgconf.OpenContext(ctx, bounds)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	// Connect first, so that a server that does not answer is told from a slow statement.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	conn.Release()
	s := &Store{pool: pool, bounds: bounds, table: pgx.Identifier{opts.Table}.Sanitize(), channel: opts.Table + "_changed",
		log: cmp.Or(opts.Logger, slog.Default()), changed: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", pgconf.Failed(dsn, "creating the outbox table "+s.table, bounds, false, err))
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go s.listen(lctx)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	t := s.table
	_, err := s.pool.Exec(ctx, `
CREATE TABLE IF NOT EXISTS `+t+` (
	seq          bigserial PRIMARY KEY,
	msg_id       text NOT NULL UNIQUE,
	topic        text NOT NULL,
	envelope     bytea NOT NULL,
	recipients   text[] NOT NULL,
	acked        text[] NOT NULL DEFAULT '{}',
	enqueued     timestamptz NOT NULL,
	expires      timestamptz NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL,
	last_error   text NOT NULL DEFAULT '',
	state        smallint NOT NULL DEFAULT 0,
	dead_reason  text NOT NULL DEFAULT '',
	claimed_by   text,
	claim_until  timestamptz
);
CREATE INDEX IF NOT EXISTS `+pgx.Identifier{s.channel + "_due"}.Sanitize()+` ON `+t+` (state, next_attempt);
CREATE TABLE IF NOT EXISTS `+pgx.Identifier{s.channel + "_counters"}.Sanitize()+` (id integer PRIMARY KEY, delivered bigint NOT NULL);
INSERT INTO `+pgx.Identifier{s.channel + "_counters"}.Sanitize()+` VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS `+s.finished()+` (
	seq      bigserial PRIMARY KEY,
	msg_id   text NOT NULL,
	state    smallint NOT NULL,
	finished timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS `+pgx.Identifier{s.channel + "_finished_id"}.Sanitize()+` ON `+s.finished()+` (msg_id);`)
	return err
}

func (s *Store) counters() string { return pgx.Identifier{s.channel + "_counters"}.Sanitize() }

// finished is the table of the msg_ids that left the outbox (the last outbox.FinishedKept).
func (s *Store) finished() string { return pgx.Identifier{s.channel + "_finished"}.Sanitize() }

// remember records, in tx, that msgID left the outbox; every pruneEvery-th time it forgets
// what is beyond outbox.FinishedKept.
func (s *Store) remember(ctx context.Context, tx pgx.Tx, msgID string, state outbox.State) error {
	var seq int64
	if err := tx.QueryRow(ctx, `INSERT INTO `+s.finished()+` (msg_id, state) VALUES ($1, $2) RETURNING seq`, msgID, int16(state)).Scan(&seq); err != nil {
		return err
	}
	if seq%pruneEvery == 0 {
		_, err := tx.Exec(ctx, `DELETE FROM `+s.finished()+` WHERE seq <= $1`, seq-finishedKept)
		return err
	}
	return nil
}

// finishedKept is outbox.FinishedKept, and the finished table is pruned every pruneEvery
// finishes; tests lower both.
var finishedKept, pruneEvery int64 = outbox.FinishedKept, 1000

// listen feeds Changed from LISTEN on a dedicated connection, reconnecting when it is lost.
func (s *Store) listen(ctx context.Context) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := s.pool.Acquire(ctx)
		if err == nil {
			octx, cancel := s.op(ctx)
			_, err = conn.Exec(octx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
			cancel()
			if err == nil {
				backoff = 100 * time.Millisecond
				s.notify() // anything committed while we were not listening
				for err == nil {
					_, err = conn.Conn().WaitForNotification(ctx)
					if err == nil {
						s.notify()
					}
				}
			}
			conn.Release()
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("outbox notifications lost; reconnecting (deliverers poll meanwhile)", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// op bounds one operation by Options.Timeout.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return pgconf.OpContext(ctx, s.bounds)
}

func (s *Store) live() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return outbox.ErrClosed
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) insert(ctx context.Context, q execer, recs []*outbox.Record) error {
	for _, r := range recs {
		if r.MsgID == "" {
			return errors.New("pgstore: a record without msg_id")
		}
		if err := insertErr(r, q.QueryRow(ctx, insertSQL(s.table), insertArgs(r)...).Scan(&r.Seq)); err != nil {
			return err
		}
	}
	if _, err := q.Exec(ctx, "SELECT pg_notify($1, '')", s.channel); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// Enqueue implements outbox.Store: all records in one transaction.
func (s *Store) Enqueue(ctx context.Context, recs ...*outbox.Record) error {
	if err := s.live(); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if len(recs) == 0 {
		return nil
	}
	// One round trip: the INSERTs and the notification go as one batch, which PostgreSQL runs
	// as one implicit transaction (all or none), committed when the batch's results end. Four
	// round trips (BEGIN, INSERT, NOTIFY, COMMIT) halved the throughput of concurrent writers.
	b := &pgx.Batch{}
	for _, r := range recs {
		if r.MsgID == "" {
			return errors.New("pgstore: a record without msg_id")
		}
		b.Queue(insertSQL(s.table), insertArgs(r)...)
	}
	b.Queue("SELECT pg_notify($1, '')", s.channel)
	br := s.pool.SendBatch(ctx, b)
	seqs := make([]uint64, len(recs)) // set on the records once committed
	for i, r := range recs {
		if err := insertErr(r, br.QueryRow().Scan(&seqs[i])); err != nil {
			br.Close()
			return err
		}
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("pgstore: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("pgstore: committing: %w", err)
	}
	for i, r := range recs {
		r.Seq = seqs[i]
	}
	return nil
}

func insertSQL(table string) string {
	return `INSERT INTO ` + table + ` (msg_id, topic, envelope, recipients, acked, enqueued, expires, next_attempt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`
}

func insertArgs(r *outbox.Record) []any {
	acked := r.Acked
	if acked == nil {
		acked = []string{}
	}
	return []any{r.MsgID, r.Topic, r.Envelope, r.Recipients, acked, r.Enqueued, r.Expires, r.NextAttempt}
}

// insertErr turns an INSERT's error into the store's: a unique violation is ErrDuplicate.
func insertErr(r *outbox.Record, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: %s", outbox.ErrDuplicate, r.MsgID)
	}
	if err != nil {
		return fmt.Errorf("pgstore: storing %s: %w", r.MsgID, err)
	}
	return nil
}

// EnqueueTx implements outbox.TxStore: the records are written in the caller's transaction and
// exist (and wake the deliverers) only if it commits.
func (s *Store) EnqueueTx(ctx context.Context, tx pgx.Tx, recs ...*outbox.Record) error {
	if err := s.live(); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if tx == nil {
		return errors.New("pgstore: EnqueueTx without a transaction")
	}
	// A savepoint, so that a duplicate does not abort the caller's whole transaction.
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { return s.insert(ctx, sp, recs) })
}

const columns = `seq, msg_id, topic, envelope, recipients, acked, enqueued, expires, attempts, next_attempt, last_error, state, dead_reason`

func scan(rows pgx.Rows) ([]*outbox.Record, error) {
	defer rows.Close()
	var out []*outbox.Record
	for rows.Next() {
		var r outbox.Record
		var state int16
		if err := rows.Scan(&r.Seq, &r.MsgID, &r.Topic, &r.Envelope, &r.Recipients, &r.Acked, &r.Enqueued, &r.Expires,
			&r.Attempts, &r.NextAttempt, &r.LastError, &state, &r.DeadReason); err != nil {
			return nil, fmt.Errorf("pgstore: %w", err)
		}
		r.State = outbox.State(state)
		if len(r.Acked) == 0 {
			r.Acked = nil
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return out, nil
}

// Claim implements outbox.Store. Claimers take a transaction-scoped advisory lock first, so the
// check "no live claim by another owner on this topic" and the claim itself are one step for
// every deliverer; the lock is held for one short statement.
func (s *Store) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	if n <= 0 {
		return nil, nil
	}
	var out []*outbox.Record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", s.table); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
UPDATE `+s.table+` SET claimed_by = $1, claim_until = $3
WHERE seq IN (
	SELECT seq FROM `+s.table+` o
	WHERE state = 0 AND next_attempt <= $2 AND (claim_until IS NULL OR claim_until <= $2)
	  AND NOT EXISTS (SELECT 1 FROM `+s.table+` b WHERE b.topic = o.topic AND b.state = 0
	                  AND b.claim_until > $2 AND b.claimed_by <> $1)
	ORDER BY seq LIMIT $4
	FOR UPDATE SKIP LOCKED)
RETURNING `+columns, owner, now, now.Add(lease), n)
		if err != nil {
			return err
		}
		out, err = scan(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: claim: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// MarkAcked implements outbox.Store.
func (s *Store) MarkAcked(ctx context.Context, msgID string, recipients ...string) (bool, error) {
	if err := s.live(); err != nil {
		return false, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var done bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var want, acked []string
		err := tx.QueryRow(ctx, `SELECT recipients, acked FROM `+s.table+` WHERE msg_id = $1 FOR UPDATE`, msgID).Scan(&want, &acked)
		if errors.Is(err, pgx.ErrNoRows) {
			return outbox.ErrNotFound
		}
		if err != nil {
			return err
		}
		changed := false
		for _, r := range recipients {
			if slices.Contains(want, r) && !slices.Contains(acked, r) {
				acked = append(acked, r)
				changed = true
			}
		}
		slices.Sort(acked)
		if len(acked) == len(want) {
			done = true
			if _, err := tx.Exec(ctx, `DELETE FROM `+s.table+` WHERE msg_id = $1`, msgID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE `+s.counters()+` SET delivered = delivered + 1 WHERE id = 1`); err != nil {
				return err
			}
			return s.remember(ctx, tx, msgID, outbox.Delivered)
		}
		if !changed {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE `+s.table+` SET acked = $2 WHERE msg_id = $1`, msgID, acked)
		return err
	})
	if err != nil {
		if errors.Is(err, outbox.ErrNotFound) {
			return false, err
		}
		return false, fmt.Errorf("pgstore: recording ACKs of %s: %w", msgID, err)
	}
	return done, nil
}

// missing tells ErrNotFound from ErrNotClaimed after an UPDATE that changed nothing.
func (s *Store) missing(ctx context.Context, msgID string, otherwise error) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM `+s.table+` WHERE msg_id = $1`, msgID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return outbox.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return otherwise
}

// Release implements outbox.Store. A claim that ran out is still owner's if nobody took it
// over: then no one else is delivering the message.
func (s *Store) Release(ctx context.Context, owner, msgID string, next time.Time, lastErr string) error {
	if err := s.live(); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.table+` SET attempts = attempts + 1, next_attempt = $3,
		last_error = CASE WHEN $4 = '' THEN last_error ELSE $4 END, claimed_by = NULL, claim_until = NULL
		WHERE msg_id = $1 AND claimed_by = $2`, msgID, owner, next, lastErr)
	if err != nil {
		return fmt.Errorf("pgstore: release %s: %w", msgID, err)
	}
	if tag.RowsAffected() == 0 {
		return s.missing(ctx, msgID, outbox.ErrNotClaimed)
	}
	_, _ = s.pool.Exec(ctx, "SELECT pg_notify($1, '')", s.channel)
	return nil
}

// Kill implements outbox.Store.
func (s *Store) Kill(ctx context.Context, msgID, reason string) error {
	if err := s.live(); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.table+` SET state = 1, dead_reason = $2, claimed_by = NULL, claim_until = NULL
		WHERE msg_id = $1`, msgID, reason)
	if err != nil {
		return fmt.Errorf("pgstore: kill %s: %w", msgID, err)
	}
	if tag.RowsAffected() == 0 {
		return outbox.ErrNotFound
	}
	return nil
}

// Retry implements outbox.Store.
func (s *Store) Retry(ctx context.Context, expires time.Time, msgIDs ...string) (int, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var tag pgconn.CommandTag
	var err error
	set := `UPDATE ` + s.table + ` SET state = 0, dead_reason = '', next_attempt = now(), expires = $1 `
	if len(msgIDs) == 0 {
		tag, err = s.pool.Exec(ctx, set+`WHERE state = 1`, expires)
	} else {
		tag, err = s.pool.Exec(ctx, set+`WHERE msg_id = ANY($2)`, expires, msgIDs)
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: retry: %w", err)
	}
	if tag.RowsAffected() > 0 {
		_, _ = s.pool.Exec(ctx, "SELECT pg_notify($1, '')", s.channel)
	}
	return int(tag.RowsAffected()), nil
}

// Drop implements outbox.Store.
func (s *Store) Drop(ctx context.Context, msgID string) error {
	if err := s.live(); err != nil {
		return err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM `+s.table+` WHERE msg_id = $1`, msgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return outbox.ErrNotFound
		}
		return s.remember(ctx, tx, msgID, outbox.Dropped)
	})
	if err != nil && !errors.Is(err, outbox.ErrNotFound) {
		return fmt.Errorf("pgstore: drop %s: %w", msgID, err)
	}
	return err
}

// Get implements outbox.Store.
func (s *Store) Get(ctx context.Context, msgID string) (*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM `+s.table+` WHERE msg_id = $1`, msgID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	recs, err := scan(rows)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		return recs[0], nil
	}
	var state int16
	var at time.Time
	err = s.pool.QueryRow(ctx, `SELECT state, finished FROM `+s.finished()+` WHERE msg_id = $1 ORDER BY seq DESC LIMIT 1`, msgID).Scan(&state, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, outbox.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return &outbox.Record{MsgID: msgID, State: outbox.State(state), Finished: at.UTC()}, nil
}

// List implements outbox.Store.
func (s *Store) List(ctx context.Context, f outbox.Filter) ([]*outbox.Record, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	states := make([]int16, 0, len(f.States))
	for _, st := range f.States {
		states = append(states, int16(st))
	}
	limit := any(nil)
	if f.Limit > 0 {
		limit = f.Limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM `+s.table+`
		WHERE (cardinality($1::smallint[]) = 0 OR state = ANY($1)) AND ($2 = '' OR topic = $2)
		ORDER BY seq LIMIT $3`, states, f.Topic, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return scan(rows)
}

// Stats implements outbox.Store.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	st := outbox.Stats{MissingByRecipient: map[string]int{}}
	if err := s.live(); err != nil {
		return st, err
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	var oldest *time.Time
	var delivered int64
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE state = 0),
		count(*) FILTER (WHERE state = 0 AND claim_until > now()),
		count(*) FILTER (WHERE state = 1),
		min(enqueued) FILTER (WHERE state = 0),
		(SELECT delivered FROM `+s.counters()+` WHERE id = 1)
		FROM `+s.table).Scan(&st.Pending, &st.InFlight, &st.Dead, &oldest, &delivered)
	if err != nil {
		return st, fmt.Errorf("pgstore: stats: %w", err)
	}
	st.Delivered = uint64(delivered)
	if oldest != nil {
		st.OldestPending = *oldest
	}
	rows, err := s.pool.Query(ctx, `SELECT r, count(*) FROM `+s.table+`, unnest(recipients) AS r
		WHERE state = 0 AND NOT (r = ANY(acked)) GROUP BY r`)
	if err != nil {
		return st, fmt.Errorf("pgstore: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return st, fmt.Errorf("pgstore: stats: %w", err)
		}
		st.MissingByRecipient[r] = n
	}
	return st, rows.Err()
}

// Changed implements outbox.Store.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Pool is the connection pool, for the application's own transactions (EnqueueTx).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the listener and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.pool.Close()
	return nil
}
