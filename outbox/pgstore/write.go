package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ackmsg/ackmsg/outbox"
)

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
