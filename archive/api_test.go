package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

func apiServer(t *testing.T, cfg Config, n int) (*httptest.Server, *Store) {
	t.Helper()
	s := openStore(t, cfg)
	load(t, s, n)
	api, err := NewAPI(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv, s
}

func get(t *testing.T, srv *httptest.Server, path string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// keys returns the keys of the JSON object b in their order.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var out []string
	for dec.More() {
		k, _ := dec.Token()
		out = append(out, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The field names, in order, of datagrepper's answers as its source writes them: app.py raw()
// (output and arguments), datanommer.models Message.as_dict and as_fedora_message_dict.
var (
	dgSearchKeys = []string{"raw_messages", "total", "pages", "count", "arguments"}
	dgArgKeys    = []string{"start", "delta", "end", "users", "packages", "categories", "topics", "agents", "contains",
		"not_users", "not_packages", "not_categories", "not_topics", "not_agents", "page", "rows_per_page", "order", "meta"}
	dgV1Keys = []string{"i", "msg_id", "topic", "timestamp", "certificate", "signature", "agent_name", "username", "crypto",
		"msg", "headers", "source_name", "source_version", "users", "packages"}
	dgV2Keys = []string{"body", "headers", "id", "priority", "queue", "topic"}
)

// TestAPIShape checks the answers field by field against datagrepper's serialization.
func TestAPIShape(t *testing.T) {
	srv, s := apiServer(t, DefaultConfig(), 30)
	code, b, h := get(t, srv, "/raw?rows_per_page=2&order=asc&category=c1&user=u1")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("/raw: %d %s: %s", code, h.Get("Content-Type"), b)
	}
	// datagrepper's five fields first, in its order; then ackmsg's two.
	if got := keys(t, b); !slices.Equal(got, append(slices.Clone(dgSearchKeys), "next_cursor", "total_estimated")) {
		t.Errorf("/raw keys %q, want datagrepper's %q then next_cursor, total_estimated", got, dgSearchKeys)
	}
	var out struct {
		RawMessages []json.RawMessage `json:"raw_messages"`
		Total       int               `json:"total"`
		Pages       int               `json:"pages"`
		Count       int               `json:"count"`
		Arguments   json.RawMessage   `json:"arguments"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	// k in 0..29 with k%3 == 1 and k%5 == 1: 1, 16 (7 is on the rare topic, category "rare").
	if out.Total != 2 || out.Pages != 1 || out.Count != 2 || len(out.RawMessages) != 2 {
		t.Errorf("total %d pages %d count %d, want 2 1 2", out.Total, out.Pages, out.Count)
	}
	if got := keys(t, out.Arguments); !slices.Equal(got, dgArgKeys) {
		t.Errorf("arguments keys %q, want %q", got, dgArgKeys)
	}
	var args map[string]any
	json.Unmarshal(out.Arguments, &args)
	if args["start"] != nil || args["end"] != nil || args["delta"] != nil || args["page"] != 1.0 || args["rows_per_page"] != 2.0 ||
		args["order"] != "asc" || !slices.Equal(anyStrings(args["users"]), []string{"u1"}) ||
		!slices.Equal(anyStrings(args["categories"]), []string{"c1"}) || anyStrings(args["topics"]) == nil {
		t.Errorf("arguments %s", out.Arguments)
	}

	item := out.RawMessages[0]
	if got := keys(t, item); !slices.Equal(got, dgV1Keys) {
		t.Errorf("/raw item keys %q, want as_dict's %q", got, dgV1Keys)
	}
	want, err := s.Get(t.Context(), "2026-m000001")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := message.Decode(want.Envelope)
	body, _ := message.Canonical(m.Body())
	var v1 map[string]json.RawMessage
	json.Unmarshal(item, &v1)
	for k, w := range map[string]string{
		"i": "1", "msg_id": `"2026-m000001"`, "topic": `"org.fedoraproject.dev.c1.t1"`,
		"timestamp": jsonInt(base.Unix()+1) + ".0", "certificate": "null", "signature": "null",
		"agent_name": `"apache"`, "username": `"apache"`, "crypto": "null", "msg": string(body), "headers": "null",
		"source_name": `"ackmsg-archive"`, "source_version": `"1"`, "users": `["apache","logger-host","u1"]`, "packages": `["p1"]`,
	} {
		if string(v1[k]) != w {
			t.Errorf("/raw item %s = %s, want %s", k, v1[k], w)
		}
	}

	// /id answers the item itself; /v2/id as_fedora_message_dict.
	code, b, _ = get(t, srv, "/id?id=2026-m000001")
	if code != 200 || !bytes.Equal(b, item) {
		t.Errorf("/id: %d %s, want the /raw item %s", code, b, item)
	}
	code, b, _ = get(t, srv, "/v2/id?id=2026-m000001")
	if code != 200 {
		t.Fatalf("/v2/id: %d %s", code, b)
	}
	if got := keys(t, b); !slices.Equal(got, dgV2Keys) {
		t.Errorf("/v2/id keys %q, want %q", got, dgV2Keys)
	}
	var v2 map[string]json.RawMessage
	json.Unmarshal(b, &v2)
	for k, w := range map[string]string{"body": string(body), "id": `"2026-m000001"`, "priority": "0", "queue": "null",
		"topic": `"org.fedoraproject.dev.c1.t1"`, "headers": `{"sent-at":"2026-03-01T12:00:01+00:00"}`} {
		if string(v2[k]) != w {
			t.Errorf("/v2/id %s = %s, want %s", k, v2[k], w)
		}
	}
	code, b, _ = get(t, srv, "/v2/search?rows_per_page=1&topic=org.fedoraproject.dev.rare.one&meta=usernames&meta=subtitle")
	var v2s struct {
		RawMessages []map[string]json.RawMessage `json:"raw_messages"`
	}
	json.Unmarshal(b, &v2s)
	if code != 200 || len(v2s.RawMessages) != 1 || string(v2s.RawMessages[0]["id"]) != `"2026-m000007"` ||
		string(v2s.RawMessages[0]["meta"]) != `{"WARNING":["Meta subtitle is deprecated and has been replaced by summary"],"subtitle":"","usernames":["apache","logger-host","u2"]}` {
		t.Errorf("/v2/search with meta: %d %s", code, b)
	}

	// ackmsg's envelope=true: the stored frame, byte for byte.
	code, b, _ = get(t, srv, "/id?id=2026-m000001&envelope=true")
	if code != 200 || !bytes.Equal(b, want.Envelope) {
		t.Errorf("/id?envelope=true: %d %s, want the stored envelope %s", code, b, want.Envelope)
	}

	// JSONP, as datagrepper's callback.
	code, b, h = get(t, srv, "/id?id=2026-m000001&callback=cb")
	if code != 200 || h.Get("Content-Type") != "application/javascript" || !bytes.Equal(b, []byte("cb("+string(item)+");")) {
		t.Errorf("JSONP: %d %s %s", code, h.Get("Content-Type"), b)
	}
	if code, _, _ = get(t, srv, "/id?id=nope"); code != 404 {
		t.Errorf("/id of an unknown msg_id: %d, want 404", code)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func anyStrings(v any) []string {
	l, ok := v.([]any)
	if !ok {
		return nil
	}
	out := []string{}
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}

// TestAPITimeRangeAndPaging: start/end/delta select as datagrepper's assemble_timerange, and
// next_cursor continues where a page ended.
func TestAPITimeRangeAndPaging(t *testing.T) {
	srv, _ := apiServer(t, DefaultConfig(), 30)
	start := base.Add(5 * time.Second).Format(time.RFC3339)
	ids := func(path string) ([]string, string) {
		code, b, _ := get(t, srv, path)
		var out struct {
			RawMessages []struct {
				MsgID string `json:"msg_id"`
			} `json:"raw_messages"`
			NextCursor string `json:"next_cursor"`
		}
		if code != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		var got []string
		for _, m := range out.RawMessages {
			got = append(got, strings.TrimPrefix(m.MsgID, "2026-m0000"))
		}
		return got, out.NextCursor
	}
	got, next := ids("/raw?order=asc&rows_per_page=3&delta=4&start=" + url.QueryEscape(start))
	if !slices.Equal(got, []string{"05", "06", "07"}) || next == "" {
		t.Errorf("start+delta: %v next %q", got, next)
	}
	got, _ = ids("/raw?order=asc&rows_per_page=3&delta=4&cursor=" + next + "&start=" + url.QueryEscape(start))
	if !slices.Equal(got, []string{"08", "09"}) {
		t.Errorf("after the cursor: %v, want 08 09 (start+4 s included)", got)
	}
	got, _ = ids("/raw?rows_per_page=2&page=2&end=" + jsonInt(base.Unix()+10))
	if !slices.Equal(got, []string{"08", "07"}) {
		t.Errorf("end, page 2 desc: %v", got)
	}
}

// TestAPIBadQueries: every refusal is a 400 with a message naming the parameter, never a 500,
// and nothing is lost.
func TestAPIBadQueries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return base.Add(24 * time.Hour) }
	srv, s := apiServer(t, cfg, 10)
	recent := url.QueryEscape(base.Format(time.RFC3339))
	for _, tc := range []struct{ query, want string }{
		{"/raw?start=yesterday-ish", "start: cannot parse"},
		{"/raw?end=2024-13-45", "end: cannot parse"},
		{"/raw?start=NaN", "start: "},
		{"/raw?delta=-5", "delta: "},
		{"/raw?delta=lots", "delta: "},
		{"/raw?start=100&end=50", "end: is before start"},
		{"/raw?rows_per_page=10000", "rows_per_page: must be between 1 and 100, not 10000"},
		{"/raw?rows_per_page=0", "rows_per_page: must be between 1 and 100"},
		{"/raw?page=0", "page: must be between 1"},
		{"/raw?page=abc", `page: "abc" is not an integer`},
		{"/raw?order=sideways", "order: must be either 'desc' or 'asc'"},
		{"/raw?meta=bogus", "meta: must be in"},
		{"/raw?size=huge", "size: must be one of"},
		{"/raw?chrome=maybe", "chrome: should be either"},
		{"/raw?cursor=xyz", "cursor: not a cursor"},
		{"/raw?callback=" + url.QueryEscape("<script>"), "callback: "},
		{"/raw?topic=a&contains=x", "contains: when using contains, specify a start"},
		{"/raw?start=" + recent + "&contains=x", "contains: when using contains, specify either a topic or a category"},
		{"/raw?category=c1&start=" + recent + "&contains=" + url.QueryEscape("' OR 1=1 --"), "contains: "},
		{"/raw?category=c1&start=" + recent + "&contains=" + url.QueryEscape("x'; DROP TABLE ackmsg_archive; --"), "contains: "},
		{"/raw?category=c1&start=" + recent + "&contains=" + url.QueryEscape(`"msg"`), "contains: "},
		{"/raw?category=c1&start=" + recent + "&contains=" + url.QueryEscape("50%"), "contains: "},
		{"/raw?category=c1&start=" + recent + "&contains=" + url.QueryEscape("a /* b"), "contains: "},
		{"/raw?category=c1&start=" + recent + "&contains=" + strings.Repeat("a", 201), "contains: longer than"},
		{"/id", "id: missing"},
		{"/v2/id?id=x&is_raw=perhaps", "is_raw: should be"},
		{"/id?id=x&envelope=please", "envelope: should be"},
	} {
		code, b, _ := get(t, srv, tc.query)
		var e struct{ Error string }
		if code != 400 || json.Unmarshal(b, &e) != nil || !strings.HasPrefix(e.Error, tc.want) {
			t.Errorf("%s: %d %s, want 400 with an error starting %q", tc.query, code, b, tc.want)
		}
	}
	res, err := s.Search(t.Context(), Query{Limit: 100})
	if err != nil || len(res.Records) != 10 {
		t.Errorf("after the bad queries: %d messages, %v; want the 10 loaded", len(res.Records), err)
	}
	// Plain text in contains is matched literally: "u4" is in message 4 alone of category c1.
	code, b, _ := get(t, srv, "/raw?category=c1&contains=u4&start="+recent)
	if code != 200 || !strings.Contains(string(b), `"total":1,`) || !strings.Contains(string(b), `"msg_id":"2026-m000004"`) {
		t.Errorf("contains=u4: %d %s, want message 4 alone", code, b)
	}
}

// failingReader answers every query with err.
type failingReader struct{ err error }

func (f failingReader) Get(context.Context, string) (Record, error)   { return Record{}, f.err }
func (f failingReader) Search(context.Context, Query) (Result, error) { return Result{}, f.err }

// TestAPIUnavailable: a query PostgreSQL cancelled at the statement timeout, or a database out
// of reach, is a 503 saying so, never a 500.
func TestAPIUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w (5s)", ErrQueryTimeout), "narrow the query"},
		{errors.New("PostgreSQL postgres://db/archive: querying: connection refused"), "connection refused"},
	} {
		api, err := NewAPI(failingReader{tc.err}, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api.Handler())
		for _, path := range []string{"/raw?topic=x", "/id?id=x"} {
			code, b, _ := get(t, srv, path)
			if code != http.StatusServiceUnavailable || !strings.Contains(string(b), tc.want) {
				t.Errorf("%s with %v: %d %s, want 503 saying %q", path, tc.err, code, b, tc.want)
			}
		}
		srv.Close()
	}
}
