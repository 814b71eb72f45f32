package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ackmsg/ackmsg/replay"
)

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
	b, aggs := appendBatch(ops)
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
	err := batchResults(br, ops, aggs, evict, again)
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

// appendBatch queues the statements of ops' records and then of each name's counters; aggs
// are the names in the order their counters are queued.
func appendBatch(ops []*op) (b *pgx.Batch, aggs []*nameAgg) {
	b = &pgx.Batch{}
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
	return b, aggs
}

// batchResults reads the answers of write's batch in the order it was queued: the records, the
// counters and (with evict) each name's eviction count, into its nameAgg. A duplicate seq_id is
// errDuplicate when write may check it (again, one op).
func batchResults(br pgx.BatchResults, ops []*op, aggs []*nameAgg, evict, again bool) error {
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
