package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/replay"
)

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
