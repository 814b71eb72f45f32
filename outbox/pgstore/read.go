package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/outbox"
)

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
