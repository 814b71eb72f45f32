package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/outbox"
)

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
