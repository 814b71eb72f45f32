package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/message"
)

type withServer struct{ m *testing.M }

func (w withServer) Run() int { return pgtest.Main(w.m) }

// TestMain runs the tests on a throwaway PostgreSQL and checks that nothing leaks goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withServer{m}) }

// base is the time of the first test message.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), pgtest.Start(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// rec builds the Record of a message on topic at base+sec seconds with body.
func rec(t testing.TB, topic string, sec int, body map[string]any) Record {
	t.Helper()
	m, err := message.Build(topic, body, int64(sec), "apache", base.Add(time.Duration(sec)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m.Set(message.FieldMsgID, fmt.Sprintf("%d-m%06d", base.Year(), sec))
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRecord(m, raw, "logger-host", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInsertGetDuplicates(t *testing.T) {
	s := openStore(t, DefaultConfig())
	ctx := t.Context()
	r := rec(t, "org.fedoraproject.dev.bodhi.update.comment", 1, map[string]any{"agent": "ralph", "package": "kernel"})
	n, err := s.Insert(ctx, []Record{r, rec(t, "org.fedoraproject.dev.git.receive", 2, nil)})
	if err != nil || n != 2 {
		t.Fatalf("Insert = %d, %v; want 2 new", n, err)
	}
	if n, err = s.Insert(ctx, []Record{r}); err != nil || n != 0 {
		t.Fatalf("Insert of a duplicate = %d, %v; want 0 new and no error", n, err)
	}
	twice := rec(t, "org.fedoraproject.dev.git.receive", 3, nil)
	if n, err = s.Insert(ctx, []Record{twice, twice}); err != nil || n != 1 {
		t.Fatalf("Insert of one message twice in a batch = %d, %v; want 1 new and no error", n, err)
	}
	got, err := s.Get(ctx, r.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != r.Topic || got.Category != "bodhi" || got.Agent != "apache" || got.Signer != "logger-host" ||
		!got.Time.Equal(base.Add(time.Second)) || string(got.Envelope) != string(r.Envelope) ||
		!slices.Equal(got.Users, []string{"apache", "logger-host", "ralph"}) || !slices.Equal(got.Packages, []string{"kernel"}) {
		t.Errorf("Get = %+v, want the columns of %+v", got, r)
	}
	if _, err := s.Get(ctx, "nope"); err != ErrNotFound {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestCategory(t *testing.T) {
	for topic, want := range map[string]string{
		"org.fedoraproject.prod.bodhi.update.comment": "bodhi",
		"/topic/VirtualTopic.eng.ci.brew-build":       "ci",
		"org.fedoraproject.prod":                      "Unclassified",
	} {
		if got := Category(topic); got != want {
			t.Errorf("Category(%q) = %q, want %q", topic, got, want)
		}
	}
}

// load inserts n messages, one a second from base, on topics t0..t9 (message k on t(k%10)),
// the message 7 alone on "org.fedoraproject.dev.rare.one".
func load(t *testing.T, s *Store, n int) {
	t.Helper()
	var recs []Record
	for k := range n {
		topic := fmt.Sprintf("org.fedoraproject.dev.c%d.t%d", k%3, k%10)
		if k == 7 {
			topic = "org.fedoraproject.dev.rare.one"
		}
		recs = append(recs, rec(t, topic, k, map[string]any{"user": fmt.Sprintf("u%d", k%5), "packages": []any{fmt.Sprintf("p%d", k%4)}, "n": k}))
	}
	if _, err := s.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
}

func secs(res Result) []int {
	var out []int
	for _, r := range res.Records {
		out = append(out, int(r.Time.Sub(base)/time.Second))
	}
	return out
}

func TestSearchFilters(t *testing.T) {
	s := openStore(t, DefaultConfig())
	load(t, s, 100)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		q    Query
		want func(k int) bool
	}{
		{"all", Query{}, func(int) bool { return true }},
		{"range", Query{Start: base.Add(10 * time.Second), End: base.Add(20 * time.Second)}, func(k int) bool { return k >= 10 && k <= 20 }},
		{"topic", Query{Topics: []string{"org.fedoraproject.dev.c0.t3"}}, func(k int) bool { return k%10 == 3 && k%3 == 0 }},
		{"topics", Query{Topics: []string{"org.fedoraproject.dev.c0.t3", "org.fedoraproject.dev.rare.one"}}, func(k int) bool { return k%10 == 3 && k%3 == 0 || k == 7 }},
		{"category", Query{Categories: []string{"c1"}}, func(k int) bool { return k%3 == 1 && k != 7 }},
		{"not_category", Query{NotCategories: []string{"c1", "c2"}}, func(k int) bool { return k%3 == 0 || k == 7 }},
		{"user", Query{Users: []string{"u2"}}, func(k int) bool { return k%5 == 2 }},
		{"not_user", Query{NotUsers: []string{"u2", "u3"}}, func(k int) bool { return k%5 != 2 && k%5 != 3 }},
		{"package and user", Query{Packages: []string{"p1"}, Users: []string{"u1", "u0"}}, func(k int) bool { return k%4 == 1 && k%5 <= 1 }},
		{"agent", Query{Agents: []string{"apache"}}, func(int) bool { return true }},
		{"not_agent", Query{NotAgents: []string{"apache"}}, func(int) bool { return false }},
		{"contains", Query{Categories: []string{"c2"}, Contains: []string{`"n":5`}}, func(k int) bool { return k%3 == 2 && k >= 50 && k < 60 || k == 5 }},
		{"not_topic", Query{NotTopics: []string{"org.fedoraproject.dev.rare.one"}}, func(k int) bool { return k != 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []int
			for k := range 100 {
				if tc.want(k) {
					want = append(want, k)
				}
			}
			q := tc.q
			q.Limit = 100
			res, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := secs(res); !slices.Equal(got, want) || res.Total != int64(len(want)) || res.Estimated {
				t.Errorf("got %v (total %d, estimated %v), want %v", got, res.Total, res.Estimated, want)
			}
		})
	}
}

// TestPaging: pages by page number and by cursor give the same messages, in both orders, and
// total is estimated beyond CountLimit.
func TestPaging(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CountLimit = 30
	s := openStore(t, cfg)
	load(t, s, 100)
	ctx := t.Context()
	for _, desc := range []bool{false, true} {
		var byPage, byCursor []int
		var after *Cursor
		for page := 1; page <= 12; page++ {
			res, err := s.Search(ctx, Query{Desc: desc, Limit: 9, Offset: (page - 1) * 9})
			if err != nil {
				t.Fatal(err)
			}
			byPage = append(byPage, secs(res)...)
			if res.Estimated || res.Total != 100 {
				t.Errorf("total = %d, estimated %v: want 100 exactly (from the counts, past CountLimit 30)", res.Total, res.Estimated)
			}
			res, err = s.Search(ctx, Query{Desc: desc, Limit: 9, After: after})
			if err != nil {
				t.Fatal(err)
			}
			byCursor = append(byCursor, secs(res)...)
			after = res.Next
			if after != nil {
				c, err := ParseCursor(after.String())
				if err != nil || c != *after {
					t.Fatalf("cursor %v does not survive its encoding: %v, %v", *after, c, err)
				}
			}
		}
		want := make([]int, 100)
		for k := range want {
			want[k] = k
			if desc {
				want[k] = 99 - k
			}
		}
		if !slices.Equal(byPage, want) || !slices.Equal(byCursor, want) {
			t.Errorf("desc=%v: by page %v, by cursor %v; want %v", desc, byPage, byCursor, want)
		}
	}
	// A filter the counts do not know: exact up to CountLimit, then the planner's estimate
	// (EXPLAIN with the query's parameters): users u0, u1 or u2, 60 messages.
	res, err := s.Search(ctx, Query{Users: []string{"u0", "u1", "u2"}, Limit: 5, Offset: 50})
	if err != nil || !res.Estimated || res.Total < 31 || len(res.Records) != 5 {
		t.Errorf("users: total %d estimated %v, %d records, %v; want an estimate above 30", res.Total, res.Estimated, len(res.Records), err)
	}
	res, err = s.Search(ctx, Query{Topics: []string{"org.fedoraproject.dev.rare.one"}, Limit: 5})
	if err != nil || res.Total != 1 || res.Estimated || res.Next != nil {
		t.Errorf("one match: total %d estimated %v next %v err %v; want an exact 1, no next", res.Total, res.Estimated, res.Next, err)
	}
}

func TestPrune(t *testing.T) {
	s := openStore(t, DefaultConfig())
	load(t, s, 10)
	n, err := s.Prune(t.Context(), base.Add(4*time.Second))
	if err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4", n, err)
	}
	res, _ := s.Search(t.Context(), Query{Limit: 100})
	if got := secs(res); !slices.Equal(got, []int{4, 5, 6, 7, 8, 9}) {
		t.Errorf("after Prune: %v", got)
	}
}

func TestQueryTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueryTimeout = time.Millisecond
	s := openStore(t, cfg)
	load(t, s, 10)
	err := s.read(context.Background(), func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), "SELECT pg_sleep(1)")
		return err
	})
	if !errors.Is(err, ErrQueryTimeout) {
		t.Fatalf("a statement past QueryTimeout: %v, want ErrQueryTimeout", err)
	}
}

// TestCountedPaging: messages every 7 minutes over 12 hours, on three topics; for time ranges
// that start and end inside hours, on hour boundaries and outside the data, with and without
// topic and category filters, in both orders, every page by number and the total match a
// brute-force listing. Retention keeps the counts right.
func TestCountedPaging(t *testing.T) {
	s := openStore(t, DefaultConfig())
	ctx := t.Context()
	var recs []Record
	type msg struct {
		sec   int
		topic string
	}
	var all []msg
	for k := range 103 {
		sec := k * 7 * 60
		topic := fmt.Sprintf("org.fedoraproject.dev.c%d.t%d", k%2, k%3)
		recs = append(recs, rec(t, topic, sec, map[string]any{"k": k}))
		all = append(all, msg{sec, topic})
	}
	// Twice: duplicates must not be counted.
	for range 2 {
		if _, err := s.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, q Query, keep func(msg) bool) {
		t.Helper()
		var want []int
		for _, m := range all {
			if (q.Start.IsZero() || !base.Add(time.Duration(m.sec)*time.Second).Before(q.Start)) &&
				(q.End.IsZero() || !base.Add(time.Duration(m.sec)*time.Second).After(q.End)) && keep(m) {
				want = append(want, m.sec)
			}
		}
		if q.Desc {
			slices.Reverse(want)
		}
		for _, limit := range []int{1, 7, 25} {
			var got []int
			for page := 0; page*limit <= len(want); page++ {
				pq := q
				pq.Limit, pq.Offset = limit, page*limit
				res, err := s.Search(ctx, pq)
				if err != nil {
					t.Fatal(err)
				}
				if res.Total != int64(len(want)) || res.Estimated {
					t.Fatalf("limit %d page %d: total %d (estimated %v), want %d", limit, page, res.Total, res.Estimated, len(want))
				}
				got = append(got, secs(res)...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("limit %d: pages give %v, want %v", limit, got, want)
			}
		}
	}
	at := func(h, m int) time.Time { return base.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	ranges := []struct {
		name       string
		start, end time.Time
	}{
		{"all", time.Time{}, time.Time{}},
		{"inside hours", at(1, 13), at(9, 41)},
		{"on hours", at(2, 0), at(6, 0)},
		{"within one hour", at(3, 5), at(3, 50)},
		{"across one boundary", at(3, 30), at(4, 30)},
		{"open start", time.Time{}, at(5, 17)},
		{"open end", at(7, 21), time.Time{}},
		{"before the data", base.Add(-5 * time.Hour), base.Add(-time.Hour)},
		{"around the data", base.Add(-5 * time.Hour), at(20, 0)},
		{"on a message", at(0, 14), at(0, 28)},
	}
	for _, r := range ranges {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s desc=%v", r.name, desc), func(t *testing.T) {
				check(t, Query{Start: r.start, End: r.end, Desc: desc}, func(msg) bool { return true })
				check(t, Query{Start: r.start, End: r.end, Desc: desc, Topics: []string{"org.fedoraproject.dev.c1.t2"}},
					func(m msg) bool { return m.topic == "org.fedoraproject.dev.c1.t2" })
				check(t, Query{Start: r.start, End: r.end, Desc: desc, Categories: []string{"c0"}, NotTopics: []string{"org.fedoraproject.dev.c0.t0"}},
					func(m msg) bool { return strings.Contains(m.topic, ".c0.") && m.topic != "org.fedoraproject.dev.c0.t0" })
			})
		}
	}
	if _, err := s.Prune(ctx, at(5, 0)); err != nil {
		t.Fatal(err)
	}
	var kept []msg
	for _, m := range all {
		if m.sec >= 5*3600 {
			kept = append(kept, m)
		}
	}
	all = kept
	t.Run("after retention", func(t *testing.T) {
		check(t, Query{Desc: true}, func(msg) bool { return true })
		check(t, Query{Start: at(4, 30), End: at(8, 10)}, func(msg) bool { return true })
	})
	if err := s.Recount(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("after Recount", func(t *testing.T) {
		check(t, Query{Start: at(6, 10), Desc: true}, func(msg) bool { return true })
		check(t, Query{Topics: []string{"org.fedoraproject.dev.c1.t2"}}, func(m msg) bool { return m.topic == "org.fedoraproject.dev.c1.t2" })
	})
}
