package archive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Query is a search: datagrepper's filters, ANDed; within one filter the values are ORed, and
// a Not* filter excludes what matches any of its values (datanommer's conjunctive normal form).
type Query struct {
	// Start and End bound the timestamp, both included; zero means unbounded.
	Start, End time.Time

	Topics, NotTopics         []string
	Categories, NotCategories []string
	Users, NotUsers           []string
	Packages, NotPackages     []string
	Agents, NotAgents         []string
	// Contains are substrings of the envelope (matched literally).
	Contains []string

	// Desc orders newest first.
	Desc bool
	// Limit is the number of messages to return (rows_per_page).
	Limit int
	// Offset skips that many messages after After (or from the start): (page-1)*rows_per_page.
	Offset int
	// After, when set, starts after this position (a cursor from a previous Result).
	After *Cursor
}

// Cursor is a position in a listing: the (timestamp, id) of its last message.
type Cursor struct {
	Time time.Time
	ID   int64
}

// String encodes c as the opaque cursor parameter.
func (c Cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)))
}

// ErrBadCursor is ParseCursor's error.
var ErrBadCursor = errors.New("not a cursor of this archive (use next_cursor of a previous answer)")

// ParseCursor decodes a cursor parameter.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(b), ".")
	us, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{Time: time.UnixMicro(us).UTC(), ID: n}, nil
}

// Result is a page of a search.
type Result struct {
	Records []Record
	// Total is the number of messages the query matches: exact up to CountLimit, else
	// PostgreSQL's estimate (never below CountLimit+1), and then Estimated is true.
	Total     int64
	Estimated bool
	// Next is the position after the last record, when there may be more.
	Next *Cursor
}

// where builds the WHERE clause of q (without Offset and After) and its arguments.
func (q *Query) where() (string, []any) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.Start.IsZero() {
		conds = append(conds, "ts >= "+arg(q.Start))
	}
	if !q.End.IsZero() {
		conds = append(conds, "ts <= "+arg(q.End))
	}
	eq := func(col string, vals []string, not bool) {
		if len(vals) == 0 {
			return
		}
		var c string
		if len(vals) == 1 {
			c = col + " = " + arg(vals[0])
		} else {
			c = col + " = ANY(" + arg(vals) + "::text[])"
		}
		if not {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
	}
	overlap := func(col string, vals []string, not bool) {
		if len(vals) == 0 {
			return
		}
		c := col + " && " + arg(vals) + "::text[]"
		if not {
			c = "NOT (" + c + ")"
		}
		conds = append(conds, c)
	}
	eq("topic", q.Topics, false)
	eq("category", q.Categories, false)
	eq("agent", q.Agents, false)
	overlap("users", q.Users, false)
	overlap("packages", q.Packages, false)
	if len(q.Contains) > 0 {
		var or []string
		for _, s := range q.Contains {
			or = append(or, "strpos(convert_from(envelope, 'UTF8'), "+arg(s)+") > 0")
		}
		conds = append(conds, "("+strings.Join(or, " OR ")+")")
	}
	eq("topic", q.NotTopics, true)
	eq("category", q.NotCategories, true)
	eq("agent", q.NotAgents, true)
	overlap("users", q.NotUsers, true)
	overlap("packages", q.NotPackages, true)
	if len(conds) == 0 {
		return "TRUE", args
	}
	return strings.Join(conds, " AND "), args
}

// Search runs q within ctx, every statement bounded by QueryTimeout. Paging is by keyset on
// (ts, id): a cursor (After) costs nothing however deep. A query on time, topics and categories
// alone is counted exactly from the counts table (CountsTable), and its Offset is found from
// them: the hour holding the page's first message, then the index inside that hour. Other
// filters walk the index to the Offset, and their total is exact up to CountLimit, estimated
// beyond.
func (s *Store) Search(ctx context.Context, q Query) (Result, error) {
	if q.Limit < 1 {
		q.Limit = 1
	}
	where, args := q.where()
	dir, cmp := "ASC", ">"
	if q.Desc {
		dir, cmp = "DESC", "<"
	}
	order := " ORDER BY ts " + dir + ", id " + dir
	var res Result
	err := s.read(ctx, func(tx pgx.Tx) error {
		st, err := s.countedStart(ctx, tx, &q, order)
		if err != nil {
			return err
		}
		if st.empty {
			res.Records, res.Total = []Record{}, st.total
			return nil
		}
		pos, inclusive, total := st.pos, st.inclusive, st.total
		if q.Offset > 0 && !st.offsetDone {
			w, a := where, args
			if pos != nil {
				w, a = keyset(where, args, cmp, *pos)
			}
			var c Cursor
			err := tx.QueryRow(ctx, `SELECT ts, id FROM `+Table+` WHERE `+w+order+` OFFSET `+strconv.Itoa(q.Offset)+` LIMIT 1`, a...).Scan(&c.Time, &c.ID)
			if errors.Is(err, pgx.ErrNoRows) {
				res.Records = []Record{}
				if total >= 0 {
					res.Total = total
					return nil
				}
				return s.count(ctx, tx, where, args, &res)
			}
			if err != nil {
				return err
			}
			pos, inclusive = &c, true
		}
		w, a := where, args
		if pos != nil {
			op := cmp
			if inclusive {
				op += "="
			}
			w, a = keyset(where, args, op, *pos)
		}
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM `+Table+` WHERE `+w+order+` LIMIT `+strconv.Itoa(q.Limit), a...)
		if err != nil {
			return err
		}
		res.Records, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Record, error) { return scanRecord(r) })
		if err != nil {
			return err
		}
		if n := len(res.Records); n == q.Limit {
			last := res.Records[n-1]
			res.Next = &Cursor{Time: last.Time, ID: last.ID}
		}
		if total >= 0 {
			res.Total = total
			return nil
		}
		return s.count(ctx, tx, where, args, &res)
	})
	return res, err
}

// pageStart is where a Search's page begins and what is known of its total.
type pageStart struct {
	pos        *Cursor // nil: at the first message
	inclusive  bool    // the page begins at pos itself
	total      int64   // -1 until counted
	offsetDone bool    // pos already accounts for the Offset
	empty      bool    // the Offset lies past the last message
}

// countedStart uses the counts table for a countable query: its exact total, and (without a
// cursor) the position of its Offset.
func (s *Store) countedStart(ctx context.Context, tx pgx.Tx, q *Query, order string) (pageStart, error) {
	st := pageStart{pos: q.After, total: -1}
	if !q.countable() {
		return st, nil
	}
	if q.After == nil {
		c, t, ok, err := s.countedPage(ctx, tx, q, order)
		if err != nil {
			return st, err
		}
		st.total, st.offsetDone = t, true
		if q.Offset > 0 {
			if !ok {
				st.empty = true
				return st, nil
			}
			st.pos, st.inclusive = &c, true
		}
		return st, nil
	}
	segs, err := s.segments(ctx, tx, q)
	if err != nil {
		return st, err
	}
	st.total = 0
	for _, seg := range segs {
		st.total += seg.n
	}
	return st, nil
}

func keyset(where string, args []any, op string, c Cursor) (string, []any) {
	a := append(append([]any(nil), args...), c.Time, c.ID)
	n := len(a)
	return where + fmt.Sprintf(" AND (ts, id) %s ($%d, $%d)", op, n-1, n), a
}

// count sets res.Total: exact up to CountLimit, else the planner's estimate.
func (s *Store) count(ctx context.Context, tx pgx.Tx, where string, args []any, res *Result) error {
	limit := int64(s.cfg.CountLimit)
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+Table+` WHERE `+where+` LIMIT `+strconv.FormatInt(limit+1, 10)+`) AS bounded`, args...).Scan(&n); err != nil {
		return err
	}
	if n <= limit {
		res.Total = n
		return nil
	}
	var plan []byte
	if err := tx.QueryRow(ctx, `EXPLAIN (FORMAT JSON) SELECT 1 FROM `+Table+` WHERE `+where, args...).Scan(&plan); err != nil {
		return err
	}
	var p []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &p); err != nil || len(p) == 0 {
		return fmt.Errorf("reading the planner's estimate: %v", err)
	}
	res.Total, res.Estimated = max(int64(p[0].Plan.Rows), limit+1), true
	return nil
}
