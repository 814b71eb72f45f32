package archive

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ackmsg/ackmsg/internal/pgconf"
)

// SchemaVersion is the layout of the table Store writes.
const SchemaVersion = 1

// Table is the archive's table (see docs/archive.md for its columns and indexes).
const Table = "ackmsg_archive"

// schema creates the table and the indexes the queries use: every listing is ordered by
// (ts, id), and every filter of datagrepper has an index that returns its rows in that order
// (topic, category, agent) or finds them (users, packages: GIN).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS ` + Table + ` (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	msg_id   text NOT NULL,
	i        bigint NOT NULL,
	topic    text NOT NULL,
	category text NOT NULL,
	agent    text NOT NULL,
	signer   text NOT NULL,
	ts       timestamptz NOT NULL,
	users    text[] NOT NULL,
	packages text[] NOT NULL,
	envelope bytea NOT NULL,
	archived timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT ` + Table + `_msg_id UNIQUE (msg_id))`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_ts ON ` + Table + ` (ts, id)`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_topic ON ` + Table + ` (topic, ts, id)`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_category ON ` + Table + ` (category, ts, id)`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_agent ON ` + Table + ` (agent, ts, id)`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_users ON ` + Table + ` USING gin (users)`,
	`CREATE INDEX IF NOT EXISTS ` + Table + `_packages ON ` + Table + ` USING gin (packages)`,
	`CREATE TABLE IF NOT EXISTS ` + Table + `_schema (version int NOT NULL)`,
	// The number of messages per hour and topic, kept by Insert and Prune in their
	// transactions: exact totals and deep pages without walking the rows (see counts.go).
	`CREATE TABLE IF NOT EXISTS ` + CountsTable + ` (
	hour     timestamptz NOT NULL,
	topic    text NOT NULL,
	category text NOT NULL,
	n        bigint NOT NULL,
	PRIMARY KEY (hour, topic))`,
	// Who ACKed what, from the ACKs the archive receives (ackmsg-archive --record-acks): the
	// message page's "ACKed by". An ACK is also archived as a message, as datanommer does.
	`CREATE TABLE IF NOT EXISTS ` + AcksTable + ` (
	msg_id text NOT NULL,
	signer text NOT NULL,
	ts     timestamptz NOT NULL,
	PRIMARY KEY (msg_id, signer))`,
}

// AcksTable holds, per acknowledged msg_id, the CN of each verified signer of an ACK for it and
// the time of its first such ACK.
const AcksTable = Table + "_acks"

const insertAckSQL = `INSERT INTO ` + AcksTable + ` (msg_id, signer, ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

// Ack is one recorded ACK: who (the CN whose signature verified) and when.
type Ack struct {
	Signer string
	Time   time.Time
}

// Acks returns the ACKs recorded for msgID, oldest first, within ctx and QueryTimeout.
func (s *Store) Acks(ctx context.Context, msgID string) ([]Ack, error) {
	var out []Ack
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT signer, ts FROM `+AcksTable+` WHERE msg_id = $1 ORDER BY ts, signer LIMIT 1000`, msgID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ack, error) {
			var a Ack
			err := r.Scan(&a.Signer, &a.Time)
			a.Time = a.Time.UTC()
			return a, err
		})
		return err
	})
	return out, err
}

// schemaLock serialises the creation of the table by archives starting together.
var schemaLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("ackmsg archive schema"))
	return int64(h.Sum64())
}()

// Store is the archive in PostgreSQL. Its methods are safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	own    bool
	cfg    Config
	bounds pgconf.Bounds
	dsn    string
}

// Open connects to the database dsn names (a postgres:// URL or a key=value string), within
// ctx and ConnectTimeout + Timeout, and creates the table and its indexes when missing. Its
// errors never carry the password.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, bounds, err := pgconf.Parse(dsn, pgconf.Bounds{ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout}, "ackmsg-archive")
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	ctx, cancel := pgconf.OpenContext(ctx, bounds)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("archive: %w", pgconf.Failed(dsn, "connecting", bounds, true, err))
	}
	s := &Store{pool: pool, own: true, cfg: cfg, bounds: bounds, dsn: dsn}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("archive: %w", pgconf.Failed(dsn, "creating the archive table", bounds, false, err))
	}
	return s, nil
}

// OpenPool is Open on a pool the caller owns (Close leaves it open).
func OpenPool(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bounds := pgconf.Bounds{ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout}.WithDefaults()
	s := &Store{pool: pool, cfg: cfg, bounds: bounds, dsn: pool.Config().ConnString()}
	ctx, cancel := pgconf.OpenContext(ctx, bounds)
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("archive: %w", pgconf.Failed(s.dsn, "creating the archive table", bounds, false, err))
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
			return err
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM `+Table+`_schema`).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, `INSERT INTO `+Table+`_schema (version) VALUES ($1)`, SchemaVersion)
			return err
		}
		if err == nil && v != SchemaVersion {
			err = fmt.Errorf("the archive table has schema version %d; this ackmsg knows %d", v, SchemaVersion)
		}
		return err
	})
}

// Close closes the pool Open made.
func (s *Store) Close() {
	if s.own {
		s.pool.Close()
	}
}

// Pool is the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const insertSQL = `INSERT INTO ` + Table + ` (msg_id, i, topic, category, agent, signer, ts, users, packages, envelope)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (msg_id) DO NOTHING`

// Insert stores recs in one transaction, within ctx and Timeout, and returns how many were new
// (a msg_id already archived is skipped, not an error). When it returns nil every record is
// committed: durable as PostgreSQL's synchronous_commit makes commits.
func (s *Store) Insert(ctx context.Context, recs []Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	ctx, cancel := pgconf.OpContext(ctx, s.bounds)
	defer cancel()
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range recs {
			r := &recs[i]
			b.Queue(insertSQL, r.MsgID, r.I, r.Topic, r.Category, r.Agent, r.Signer, r.Time, nonNil(r.Users), nonNil(r.Packages), r.Envelope)
		}
		acks := 0
		for i := range recs {
			// Only a verified signer says who ACKed.
			if r := &recs[i]; r.AckOf != "" && r.Signer != "" {
				b.Queue(insertAckSQL, r.AckOf, r.Signer, r.Time)
				acks++
			}
		}
		br := tx.SendBatch(ctx, b)
		var counts bucketCounts
		for i := range recs {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() == 1 {
				added++
				counts.add(&recs[i])
			}
		}
		for range acks {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		if err := br.Close(); err != nil {
			return err
		}
		return counts.save(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("archive: %w", pgconf.Failed(s.dsn, fmt.Sprintf("storing %d messages", len(recs)), s.bounds, false, err))
	}
	return added, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Prune deletes the messages whose timestamp is before cutoff and returns how many.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	ctx, cancel := pgconf.OpContext(ctx, s.bounds)
	defer cancel()
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, pruneSQL, cutoff).Scan(&n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM `+CountsTable+` WHERE n <= 0`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("archive: %w", pgconf.Failed(s.dsn, "deleting messages past retention", s.bounds, false, err))
	}
	return n, nil
}

const columns = `id, msg_id, i, topic, category, agent, signer, ts, users, packages, envelope`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.MsgID, &r.I, &r.Topic, &r.Category, &r.Agent, &r.Signer, &r.Time, &r.Users, &r.Packages, &r.Envelope)
	r.Time = r.Time.UTC()
	return r, err
}

// ErrNotFound is Get's error for a msg_id the archive does not hold.
var ErrNotFound = errors.New("archive: no message with this msg_id")

// Get returns the message msgID, within ctx and QueryTimeout.
func (s *Store) Get(ctx context.Context, msgID string) (Record, error) {
	var r Record
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanRecord(tx.QueryRow(ctx, `SELECT `+columns+` FROM `+Table+` WHERE msg_id = $1`, msgID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	return r, err
}

// ErrQueryTimeout is what the error of a query the server cancelled at QueryTimeout is.
var ErrQueryTimeout = errors.New("archive: query cancelled at the statement timeout")

// read runs f in a read-only transaction whose statements end at QueryTimeout.
func (s *Store) read(ctx context.Context, f func(pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout+s.bounds.ConnectTimeout)
	defer cancel()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Custom plans always: a generic plan does not know how selective a filter's values
		// are, and may walk the whole table for a user in one message of a thousand.
		if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true), set_config('plan_cache_mode', 'force_custom_plan', true)",
			fmt.Sprintf("%dms", s.cfg.QueryTimeout.Milliseconds())); err != nil {
			return err
		}
		return f(tx)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "57014" { // query_canceled
		return fmt.Errorf("%w (%s)", ErrQueryTimeout, s.cfg.QueryTimeout)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("archive: %w", pgconf.Failed(s.dsn, "querying", s.bounds, false, err))
	}
	return err
}
