package replay

import (
	"errors"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		match   []int64 // seq_ids of records 1..10 (msg_id "m<seq>", timestamp 100+seq) that match
	}{
		{in: `{"seq_ids": [1, 3, 99]}`, match: []int64{1, 3}},
		{in: `{"seq_id": 4}`, match: []int64{4}},
		{in: `{"seq_id": 4.0}`, match: []int64{4}},
		{in: `{"seq_id_range": [2, 5]}`, match: []int64{2, 3, 4, 5}},
		{in: `{"seq_id_range": [5, 2]}`, match: nil},
		{in: `{"msg_ids": ["m1", "m7", "x"]}`, match: []int64{1, 7}},
		{in: `{"msg_id": "m9"}`, match: []int64{9}},
		{in: `{"time": [102.5, 104]}`, match: []int64{3, 4}},
		{in: `{"seq_id": 1, "msg_id": "m2", "time": [110, 110]}`, match: []int64{1, 2, 10}},
		{in: `{"nope": 1}`, err: `Unsupported field: "nope"`},
		{in: `{"seq_id": 1, "zzz": 2}`, err: `Unsupported field: "zzz"`},
		{in: `{}`, err: "Empty query"},
		{in: `[1]`, err: "want a JSON object"},
		{in: `{"seq_id": "1"}`, err: `Something went wrong when processing the field "seq_id"`},
		{in: `{"seq_id": 1.5}`, err: `field "seq_id"`},
		{in: `{"seq_ids": 1}`, err: `field "seq_ids"`},
		{in: `{"seq_ids": [1, "a"]}`, err: `field "seq_ids"`},
		{in: `{"seq_id_range": [1]}`, err: `field "seq_id_range"`},
		{in: `{"seq_id_range": [1, 2, 3]}`, err: `field "seq_id_range"`},
		{in: `{"seq_id": 99999999999999999999999}`, err: `field "seq_id"`},
		{in: `{"msg_ids": [1]}`, err: `field "msg_ids"`},
		{in: `{"msg_id": null}`, err: `field "msg_id"`},
		{in: `{"time": [1, "x"]}`, err: `field "time"`},
		{in: `{"time": [NaN, 1]}`, err: `field "time"`},
		{in: `not json`, err: "Malformed query: not JSON"},
		{in: "{\"msg_id\": \"\xff\"}", err: "Malformed query: not JSON"},
	} {
		q, err := ParseQuery([]byte(tc.in))
		if tc.err != "" {
			var qe *QueryError
			if err == nil || !errors.As(err, &qe) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseQuery(%s) = %v; want a *QueryError containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%s): %v", tc.in, err)
			continue
		}
		var got []int64
		for n := int64(1); n <= 10; n++ {
			if q.Matches(Record{Seq: n, MsgID: "m" + itoa64(n), Timestamp: 100 + n}) {
				got = append(got, n)
			}
		}
		if !equal(got, tc.match) {
			t.Errorf("ParseQuery(%s) matches %v; want %v", tc.in, got, tc.match)
		}
		// Encode round-trips.
		if enc, err := q.Encode(); err != nil {
			t.Errorf("Encode(%s): %v", tc.in, err)
		} else if q2, err := ParseQuery(enc); err != nil {
			t.Errorf("ParseQuery(Encode(%s)) = %s: %v", tc.in, enc, err)
		} else {
			for n := int64(1); n <= 10; n++ {
				r := Record{Seq: n, MsgID: "m" + itoa64(n), Timestamp: 100 + n}
				if q.Matches(r) != q2.Matches(r) {
					t.Errorf("Encode(%s) = %s matches differently at %d", tc.in, enc, n)
				}
			}
		}
	}
}

func TestEncodeRange(t *testing.T) {
	b, err := Range(3, MaxSeq).Encode()
	if err != nil || string(b) != `{"seq_id_range":[3,9007199254740991]}` {
		t.Fatalf("Range.Encode() = %s, %v", b, err)
	}
}

func itoa64(n int64) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseQuery: any request frame gives a query or a *QueryError, never a panic, and a parsed
// query encodes to a frame that parses again.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		`{"seq_ids": [1, 2]}`, `{"seq_id": 1}`, `{"seq_id_range": [1, 10]}`, `{"msg_ids": ["a"]}`,
		`{"msg_id": "2024-x"}`, `{"time": [0, 1e10]}`, `{"key": 1}`, `{}`, `[]`, `null`, `{"seq_id": 1e400}`,
		`{"time": [-Infinity, Infinity]}`, `{"seq_ids": [[1]]}`, "{\"seq_id\": 1, \"seq_id\": 2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := ParseQuery(data)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("ParseQuery(%q): %T %v, want a *QueryError", data, err, err)
			}
			if f := ErrorFrame(err); !strings.HasPrefix(string(f), "error: '") {
				t.Fatalf("error frame %q", f)
			}
			return
		}
		enc, err := q.Encode()
		if err != nil {
			t.Fatalf("Encode of %q: %v", data, err)
		}
		if _, err := ParseQuery(enc); err != nil {
			t.Fatalf("ParseQuery(Encode(%q)) = %s: %v", data, enc, err)
		}
	})
}
