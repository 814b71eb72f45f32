package pgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the layout of the tables Store writes.
const SchemaVersion = 1

// The tables (see the package documentation).
const (
	tableRecords = "ackmsg_history"
	tableNames   = "ackmsg_history_names"
	tableSchema  = "ackmsg_history_schema"
)

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
