package replay

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func envelope(t *testing.T, seq int64) Record {
	m, err := message.Build("org.example.test.svc.t", map[string]any{"n": seq}, seq, "u", time.Unix(1000+seq, 0))
	if err != nil {
		t.Fatal(err)
	}
	m.Set(FieldSeqID, seq)
	f, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Record{Seq: seq, MsgID: m.MsgID(), Timestamp: m.Timestamp(), Envelope: f}
}

func serve(t *testing.T, n int64, lim Limits) (*Server, *Client, Store) {
	t.Helper()
	st := newMemStore()
	for i := int64(1); i <= n; i++ {
		if err := st.Append(t.Context(), "svc", envelope(t, i)); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewServer(ServerConfig{Store: st, Name: "svc", Bind: freeAddr(t), Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := NewClient(zsock.Options{}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c, st
}

func TestServerReplies(t *testing.T) {
	srv, c, _ := serve(t, 20, Limits{MaxMessages: 5})
	ctx := context.Background()
	frames, err := c.Fetch(ctx, srv.Addr(), Range(3, 6))
	if err != nil || len(frames) != 4 {
		t.Fatalf("range: %d frames, %v", len(frames), err)
	}
	for i, f := range frames {
		m, err := message.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := SeqID(m); s != int64(3+i) {
			t.Fatalf("frame %d has seq_id %d", i, s)
		}
	}
	for q, want := range map[string]string{
		`{"seq_id_range": [1, 20]}`: "Too many messages:",
		`{"seq_id": 99}`:            "There was no match for the given query",
		`{"key": 1}`:                `Unsupported field: "key"`,
		`nope`:                      "Malformed query",
	} {
		reply, err := zsock.Request(ctx, c.zctx, srv.Addr(), zsock.Options{}, []byte(q), 2*time.Second)
		if err != nil || len(reply) != 1 || !strings.HasPrefix(string(reply[0]), "error: '"+want) || !strings.HasSuffix(string(reply[0]), "'") {
			t.Errorf("query %s: reply %q, %v; want error: '%s...'", q, reply, err, want)
		}
	}
}

// The tracker splits a range the endpoint finds too big, and gets everything, in order.
func TestTrackerSplits(t *testing.T) {
	srv, c, _ := serve(t, 50, Limits{MaxMessages: 7})
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"svc": srv.Addr()}, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Fetch(context.Background(), "svc", 2, MaxSeq)
	if err != nil || len(got) != 49 {
		t.Fatalf("fetched %d, %v", len(got), err)
	}
	for i, r := range got {
		if r.Seq != int64(2+i) {
			t.Fatalf("record %d has seq_id %d", i, r.Seq)
		}
	}
	if q := tr.Stats().Queries; q > 200 {
		t.Fatalf("%d queries for 49 messages", q)
	}
}

// A flood of bad queries from many clients does not stop the endpoint answering good ones.
func TestServerFlood(t *testing.T) {
	srv, c, _ := serve(t, 10, Limits{MaxMessages: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	bad := [][]byte{[]byte("garbage"), []byte(`{"x":1}`), []byte(`{"seq_ids":"a"}`), make([]byte, 100000), []byte(`[`)}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				zsock.Request(ctx, c.zctx, srv.Addr(), zsock.Options{}, bad[(i+w)%len(bad)], time.Second)
			}
		}()
	}
	for srv.Stats().Errors < 20 { // the flood is on
		if ctx.Err() != nil {
			t.Fatal("the flood never started")
		}
		time.Sleep(time.Millisecond) // polling a counter
	}
	before := srv.Stats().Errors
	for i := range 20 {
		frames, err := c.Fetch(ctx, srv.Addr(), Query{SeqID: ptr(int64(1 + i%10))})
		if err != nil || len(frames) != 1 {
			t.Fatalf("good query %d during the flood: %d frames, %v", i, len(frames), err)
		}
	}
	close(stop)
	wg.Wait()
	if st := srv.Stats(); st.Errors <= before || st.Messages < 20 {
		t.Fatalf("stats %+v (errors %d before the good queries): the flood did not run alongside them", st, before)
	}
}

func TestClientTimeout(t *testing.T) {
	c, err := NewClient(zsock.Options{}, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Fetch(context.Background(), freeAddr(t), Range(1, 2))
	if !IsTimeout(err) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %s; want a timeout", err, time.Since(start))
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"a": "tcp://127.0.0.1:1"}, StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	tr.Delivered("a", 5, "m5", false)
	tr.Delivered("b", 2, "m2", false)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr2, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"a": "tcp://127.0.0.1:1"}, StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	if r := tr2.Resume(); len(r) != 1 || r["a"] != 5 {
		t.Fatalf("resume %v", r)
	}
	if v := tr2.Check("a", 5, "m5"); v != Duplicate {
		t.Fatalf("seq 5 again: %v", v)
	}
	if v := tr2.Check("a", 7, "m7"); v != Gap {
		t.Fatalf("seq 7: %v", v)
	}
	if v := tr2.Check("a", 1, "m1"); v != Reset {
		t.Fatalf("seq 1: %v", v)
	}
	if v := tr2.Check("zz", 9, "z9"); v != Untracked {
		t.Fatalf("unwatched: %v", v)
	}
	writeFile(t, path, `{"version": 2, "last_seq_ids": {}}`)
	if _, err := NewTracker(TrackerConfig{StatePath: path}); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2: %v", err)
	}
	writeFile(t, path, `garbage`)
	if _, err := NewTracker(TrackerConfig{StatePath: path}); err == nil || !strings.Contains(err.Error(), "not a consumer state") {
		t.Fatalf("garbage: %v", err)
	}
}

// rangeless answers like fedmsg's SqlStore: every seq_id_range query fails.
type rangeless struct{ Store }

func (r rangeless) Query(ctx context.Context, name string, q Query, lim Limits) ([]Record, error) {
	if q.SeqRange != nil {
		return nil, &QueryError{Text: `Something went wrong when processing the field "seq_id_range"`}
	}
	return r.Store.Query(ctx, name, q, lim)
}

func TestTrackerFallsBackToSeqIDs(t *testing.T) {
	_, c, st := serve(t, 25, Limits{})
	srv, err := NewServer(ServerConfig{Store: rangeless{st}, Name: "svc", Bind: freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"svc": srv.Addr()}, Client: c, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to int64 }{{3, 7}, {2, MaxSeq}, {20, 40}} {
		got, err := tr.Fetch(context.Background(), "svc", tc.from, tc.to)
		want := min(tc.to, 25) - tc.from + 1
		if err != nil || int64(len(got)) != want || got[0].Seq != tc.from {
			t.Fatalf("Fetch(%d, %d) = %d records, %v; want %d from %d", tc.from, tc.to, len(got), err, want, tc.from)
		}
	}
}
