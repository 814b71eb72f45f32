package replay

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/ackmsg/ackmsg/message"
)

// Query is a fedmsg replay query: each field set is a predicate, and a message matches when any
// predicate does (fedmsg's SqlStore OR-s them).
type Query struct {
	SeqIDs   []int64   // "seq_ids": these seq_ids
	SeqID    *int64    // "seq_id": this seq_id
	SeqRange *[2]int64 // "seq_id_range": [lo, hi], inclusive
	MsgIDs   []string  // "msg_ids": these msg_ids
	MsgID    *string   // "msg_id": this msg_id
	Time     *[2]float64
	// Time is "time": [t0, t1], Unix seconds, inclusive, on the envelope's timestamp.
}

// Field names of a query, as fedmsg spells them.
const (
	KeySeqIDs   = "seq_ids"
	KeySeqID    = "seq_id"
	KeySeqRange = "seq_id_range"
	KeyMsgIDs   = "msg_ids"
	KeyMsgID    = "msg_id"
	KeyTime     = "time"
)

// MaxQueryItems bounds the seq_ids or msg_ids one query may list.
const MaxQueryItems = 100000

// QueryError is a query the store refuses; its text is what goes on the wire after "error: ".
type QueryError struct{ Text string }

func (e *QueryError) Error() string { return e.Text }

func queryErr(format string, args ...any) error {
	return &QueryError{Text: fmt.Sprintf(format, args...)}
}

// ErrNoMatch is the reply to a query that matches nothing (fedmsg's text).
var ErrNoMatch = &QueryError{Text: "There was no match for the given query"}

// ParseQuery parses one request frame. Errors are *QueryError with fedmsg's texts where fedmsg
// has one: `Unsupported field: "<key>"` for an unknown key (fedmsg forgets to put the key's name
// in, and writes "key"), and a text naming the field for a malformed value.
func ParseQuery(data []byte) (Query, error) {
	v, err := message.Unmarshal(data)
	if err != nil {
		return Query{}, queryErr("Malformed query: not JSON (%v)", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Query{}, queryErr("Malformed query: want a JSON object")
	}
	if len(obj) == 0 {
		return Query{}, queryErr("Empty query: give seq_ids, seq_id, seq_id_range, msg_ids, msg_id or time")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q Query
	for _, k := range keys {
		if err := q.set(k, obj[k]); err != nil {
			return Query{}, err
		}
	}
	return q, nil
}

// set parses the value of the query's key k into q.
func (q *Query) set(k string, val any) error {
	bad := func(want string) error {
		return queryErr("Something went wrong when processing the field %q: want %s", k, want)
	}
	switch k {
	case KeySeqIDs:
		l, ok := val.([]any)
		if !ok || len(l) > MaxQueryItems {
			return bad(fmt.Sprintf("a list of at most %d integers", MaxQueryItems))
		}
		q.SeqIDs = make([]int64, 0, len(l))
		for _, e := range l {
			n, ok := asInt(e)
			if !ok {
				return bad("a list of integers")
			}
			q.SeqIDs = append(q.SeqIDs, n)
		}
	case KeySeqID:
		n, ok := asInt(val)
		if !ok {
			return bad("an integer")
		}
		q.SeqID = &n
	case KeySeqRange:
		l, ok := val.([]any)
		if !ok || len(l) != 2 {
			return bad("[lo, hi], two integers")
		}
		lo, ok1 := asInt(l[0])
		hi, ok2 := asInt(l[1])
		if !ok1 || !ok2 {
			return bad("[lo, hi], two integers")
		}
		q.SeqRange = &[2]int64{lo, hi}
	case KeyMsgIDs:
		l, ok := val.([]any)
		if !ok || len(l) > MaxQueryItems {
			return bad(fmt.Sprintf("a list of at most %d strings", MaxQueryItems))
		}
		q.MsgIDs = make([]string, 0, len(l))
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				return bad("a list of strings")
			}
			q.MsgIDs = append(q.MsgIDs, s)
		}
	case KeyMsgID:
		s, ok := val.(string)
		if !ok {
			return bad("a string")
		}
		q.MsgID = &s
	case KeyTime:
		l, ok := val.([]any)
		if !ok || len(l) != 2 {
			return bad("[t0, t1], two numbers of seconds")
		}
		t0, ok1 := asFloat(l[0])
		t1, ok2 := asFloat(l[1])
		if !ok1 || !ok2 {
			return bad("[t0, t1], two numbers of seconds")
		}
		q.Time = &[2]float64{t0, t1}
	default:
		return queryErr("Unsupported field: %q", k)
	}
	return nil
}

// asInt accepts a JSON integer that fits in int64, or an integral float (Python compares 3.0
// equal to 3).
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case message.Int:
		return x.Int64()
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case message.Int:
		if n, ok := x.Int64(); ok {
			return float64(n), true
		}
	case float64:
		if !math.IsNaN(x) {
			return x, true
		}
	}
	return 0, false
}

// Encode returns the query as one canonical JSON frame.
func (q Query) Encode() ([]byte, error) {
	obj := map[string]any{}
	if q.SeqIDs != nil {
		obj[KeySeqIDs] = q.SeqIDs
	}
	if q.SeqID != nil {
		obj[KeySeqID] = *q.SeqID
	}
	if q.SeqRange != nil {
		obj[KeySeqRange] = []int64{q.SeqRange[0], q.SeqRange[1]}
	}
	if q.MsgIDs != nil {
		obj[KeyMsgIDs] = q.MsgIDs
	}
	if q.MsgID != nil {
		obj[KeyMsgID] = *q.MsgID
	}
	if q.Time != nil {
		obj[KeyTime] = []float64{q.Time[0], q.Time[1]}
	}
	if len(obj) == 0 {
		return nil, errors.New("replay: empty query")
	}
	norm, err := message.Normalize(obj)
	if err != nil {
		return nil, err
	}
	return message.Canonical(norm)
}

// TimeRange is the time predicate in whole seconds, the bounds every store compares envelope
// timestamps (integers) with: [t0, t1] covers ceil(t0)..floor(t1), clamped to ±2^62. ok is
// false when there is no time predicate or it covers no whole second.
func (q Query) TimeRange() (lo, hi int64, ok bool) {
	if q.Time == nil || !(q.Time[0] <= q.Time[1]) {
		return 0, 0, false
	}
	lo, hi = clampSeconds(q.Time[0], true), clampSeconds(q.Time[1], false)
	return lo, hi, lo <= hi
}

// clampSeconds turns a query bound into whole seconds: envelope timestamps are integers, so
// [t0, t1] covers ceil(t0)..floor(t1).
func clampSeconds(t float64, lower bool) int64 {
	const lim = float64(1 << 62)
	switch {
	case t >= lim:
		return 1 << 62
	case t <= -lim:
		return -1 << 62
	case lower:
		n := int64(t)
		if float64(n) < t {
			n++
		}
		return n
	default:
		n := int64(t)
		if float64(n) > t {
			n--
		}
		return n
	}
}

// Range is the query for seq_ids lo..hi inclusive.
func Range(lo, hi int64) Query { return Query{SeqRange: &[2]int64{lo, hi}} }

// Matches reports whether a record matches q (any predicate).
func (q Query) Matches(r Record) bool {
	if slices.Contains(q.SeqIDs, r.Seq) || q.SeqID != nil && *q.SeqID == r.Seq {
		return true
	}
	if q.SeqRange != nil && q.SeqRange[0] <= r.Seq && r.Seq <= q.SeqRange[1] {
		return true
	}
	if slices.Contains(q.MsgIDs, r.MsgID) || q.MsgID != nil && *q.MsgID == r.MsgID {
		return true
	}
	if q.Time != nil && q.Time[0] <= float64(r.Timestamp) && float64(r.Timestamp) <= q.Time[1] {
		return true
	}
	return false
}
