package archive

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// CountsTable holds the number of archived messages per hour (of their timestamp, UTC) and
// topic, and per hour over all topics (the rows whose topic is "", which a message's topic
// never is: a query without topic or category filters reads one row per hour). Insert and Prune keep it in the same transaction as the rows; Recount rebuilds it
// (after rows were loaded without Insert, e.g. with COPY).
//
// It makes the queries whose filters are a time range, topics and categories ("countable")
// cheap at any size: their total is exact (the full hours summed, the partial hours at the
// range's ends counted on the index), and page N starts by finding the hour holding its first
// message from the running sums, then walking the index inside that hour alone.
const CountsTable = Table + "_counts"

// allTopics is the topic of the per-hour totals in CountsTable.
const allTopics = ""

type bucketKey struct {
	hour  time.Time
	topic string
}

// bucketCounts accumulates a transaction's new rows per hour and topic.
type bucketCounts struct {
	m   map[bucketKey]int64
	cat map[string]string
}

func (c *bucketCounts) add(r *Record) {
	if c.m == nil {
		c.m, c.cat = map[bucketKey]int64{}, map[string]string{}
	}
	hour := r.Time.UTC().Truncate(time.Hour)
	c.m[bucketKey{hour, r.Topic}]++
	c.m[bucketKey{hour, allTopics}]++
	c.cat[r.Topic] = r.Category
}

// save adds the counts in tx.
func (c *bucketCounts) save(ctx context.Context, tx pgx.Tx) error {
	if len(c.m) == 0 {
		return nil
	}
	var hours []time.Time
	var topics, cats []string
	var ns []int64
	for k, n := range c.m {
		hours, topics, cats, ns = append(hours, k.hour), append(topics, k.topic), append(cats, c.cat[k.topic]), append(ns, n)
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+CountsTable+` (hour, topic, category, n)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[])
ON CONFLICT (hour, topic) DO UPDATE SET n = `+CountsTable+`.n + EXCLUDED.n`, hours, topics, cats, ns)
	return err
}

// pruneSQL deletes the rows before $1 and takes them off the counts; it returns how many.
const pruneSQL = `WITH d AS (DELETE FROM ` + Table + ` WHERE ts < $1 RETURNING ts, topic),
g AS (SELECT date_trunc('hour', ts, 'UTC') AS hour, topic, count(*) AS c FROM d
       GROUP BY ROLLUP (date_trunc('hour', ts, 'UTC'), topic) HAVING GROUPING(date_trunc('hour', ts, 'UTC')) = 0),
u AS (UPDATE ` + CountsTable + ` SET n = ` + CountsTable + `.n - g.c FROM g
      WHERE ` + CountsTable + `.hour = g.hour AND ` + CountsTable + `.topic = coalesce(g.topic, '` + allTopics + `'))
SELECT coalesce(sum(c), 0)::bigint FROM g WHERE topic IS NOT NULL`

// Recount rebuilds the counts from the rows, in one transaction.
func (s *Store) Recount(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+Table+` IN SHARE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+CountsTable); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+CountsTable+` (hour, topic, category, n)
SELECT date_trunc('hour', ts, 'UTC'), coalesce(topic, '`+allTopics+`'), coalesce(min(category), ''), count(*)
FROM `+Table+` GROUP BY ROLLUP (date_trunc('hour', ts, 'UTC'), topic) HAVING GROUPING(date_trunc('hour', ts, 'UTC')) = 0`)
		return err
	})
}

// countable reports whether q's filters are all ones the counts know: time, topic, category.
func (q *Query) countable() bool {
	return len(q.Users)+len(q.NotUsers)+len(q.Packages)+len(q.NotPackages)+len(q.Agents)+len(q.NotAgents)+len(q.Contains) == 0
}

// segment is a part of a countable query's time range: a full hour (n from the counts) or a
// partial hour at an end of the range (n counted on the rows). [from, to) in time.
type segment struct {
	from, to time.Time
	n        int64
}

// segments returns q's time range cut into segments, in ascending order, with their counts.
func (s *Store) segments(ctx context.Context, tx pgx.Tx, q *Query) ([]segment, error) {
	end := q.End
	if !end.IsZero() {
		end = end.Add(time.Microsecond) // [start, end] as [start, end+1µs): ts has microseconds
	}
	firstFull := time.Time{}
	if !q.Start.IsZero() {
		firstFull = q.Start.UTC().Truncate(time.Hour)
		if firstFull.Before(q.Start) {
			firstFull = firstFull.Add(time.Hour)
		}
	}
	lastFullEnd := time.Time{}
	if !end.IsZero() {
		lastFullEnd = end.UTC().Truncate(time.Hour)
	}
	edge := func(from, to time.Time) (segment, error) {
		sub := *q
		sub.Start, sub.End = from, to.Add(-time.Microsecond)
		where, args := sub.where()
		var n int64
		err := tx.QueryRow(ctx, `SELECT count(*) FROM `+Table+` WHERE `+where, args...).Scan(&n)
		return segment{from: from, to: to, n: n}, err
	}
	if !firstFull.IsZero() && !lastFullEnd.IsZero() && !firstFull.Before(lastFullEnd) {
		// Less than the hours between: all of it is counted on the rows.
		seg, err := edge(q.Start, end)
		if err != nil {
			return nil, err
		}
		return []segment{seg}, nil
	}
	var segs []segment
	if !q.Start.IsZero() && q.Start.Before(firstFull) {
		seg, err := edge(q.Start, firstFull)
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
	}
	conds, args := q.countsWhere()
	if !firstFull.IsZero() {
		args = append(args, firstFull)
		conds += " AND hour >= $" + strconv.Itoa(len(args))
	}
	if !lastFullEnd.IsZero() {
		args = append(args, lastFullEnd)
		conds += " AND hour < $" + strconv.Itoa(len(args))
	}
	rows, err := tx.Query(ctx, `SELECT hour, sum(n)::bigint FROM `+CountsTable+` WHERE `+conds+` GROUP BY hour HAVING sum(n) > 0 ORDER BY hour`, args...)
	if err != nil {
		return nil, err
	}
	full, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (segment, error) {
		var seg segment
		err := r.Scan(&seg.from, &seg.n)
		seg.from = seg.from.UTC()
		seg.to = seg.from.Add(time.Hour)
		return seg, err
	})
	if err != nil {
		return nil, err
	}
	segs = append(segs, full...)
	if !end.IsZero() && lastFullEnd.Before(end) {
		seg, err := edge(lastFullEnd, end)
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// countsWhere is q's topic and category filters on the counts table: the per-hour totals
// without them, the per-topic rows with them.
func (q *Query) countsWhere() (string, []any) {
	sub := Query{Topics: q.Topics, NotTopics: q.NotTopics, Categories: q.Categories, NotCategories: q.NotCategories}
	where, args := sub.where()
	if where == "TRUE" {
		return "topic = '" + allTopics + "'", args
	}
	return where + " AND topic <> '" + allTopics + "'", args
}

// countedPage finds where a countable query's page starts (the message of rank q.Offset in
// q's order) and its exact total. ok is false when the page is past the end.
func (s *Store) countedPage(ctx context.Context, tx pgx.Tx, q *Query, order string) (start Cursor, total int64, ok bool, err error) {
	segs, err := s.segments(ctx, tx, q)
	if err != nil {
		return Cursor{}, 0, false, err
	}
	for _, seg := range segs {
		total += seg.n
	}
	if q.Offset == 0 || int64(q.Offset) >= total {
		return Cursor{}, total, false, nil
	}
	rank := int64(q.Offset)
	for i := range segs {
		seg := segs[i]
		if q.Desc {
			seg = segs[len(segs)-1-i]
		}
		if rank >= seg.n {
			rank -= seg.n
			continue
		}
		sub := *q
		if sub.Start.IsZero() || sub.Start.Before(seg.from) {
			sub.Start = seg.from
		}
		if segEnd := seg.to.Add(-time.Microsecond); sub.End.IsZero() || sub.End.After(segEnd) {
			sub.End = segEnd
		}
		where, args := sub.where()
		err = tx.QueryRow(ctx, `SELECT ts, id FROM `+Table+` WHERE `+where+order+` OFFSET `+strconv.FormatInt(rank, 10)+` LIMIT 1`, args...).Scan(&start.Time, &start.ID)
		return start, total, err == nil, err
	}
	return Cursor{}, total, false, nil
}

// HourCount is the number of messages archived on a topic in an hour (UTC).
type HourCount struct {
	Hour  time.Time
	Topic string
	N     int64
}

// MaxHourCounts bounds what HourCounts returns.
const MaxHourCounts = 10000

// HourCounts returns the messages per hour and topic whose hour starts in [start, end), from
// CountsTable (no row is read), ordered by hour and topic, at most MaxHourCounts rows, within
// ctx and QueryTimeout. The web view's chart draws them.
func (s *Store) HourCounts(ctx context.Context, start, end time.Time) ([]HourCount, error) {
	var out []HourCount
	err := s.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT hour, topic, n FROM `+CountsTable+` WHERE hour >= $1 AND hour < $2 AND topic <> $3 AND n > 0
ORDER BY hour, topic LIMIT `+strconv.Itoa(MaxHourCounts), start, end, allTopics)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (HourCount, error) {
			var c HourCount
			err := r.Scan(&c.Hour, &c.Topic, &c.N)
			c.Hour = c.Hour.UTC()
			return c, err
		})
		return err
	})
	return out, err
}
