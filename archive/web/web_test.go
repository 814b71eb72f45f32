package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/archive"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

type withServer struct{ m *testing.M }

func (w withServer) Run() int { return pgtest.Main(w.m) }

// TestMain runs the tests on a throwaway PostgreSQL and checks that nothing leaks goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withServer{m}) }

// base is the time of the first test message: the chart's first hour.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hostile is a body meant to run script or break the page if it were not escaped.
var hostile = map[string]any{"user": `"><script>document.title="pwned"</script>`,
	"text": `</pre><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'"`}

// fixture is an archive in a throwaway database with signed test messages, and the web view
// and API over it.
type fixture struct {
	store    *archive.Store
	feed     *Feed
	writer   archive.Writer
	srv      *httptest.Server
	verifier *certs.X509Verifier
	signers  map[string]*certs.X509Signer
	seq      int
}

// plan is what newFixture loads: per topic, the messages in each hour from base.
var plan = map[string][]int{
	"org.fedoraproject.dev.bodhi.update": {30, 10, 0},
	"org.fedoraproject.dev.koji.build":   {0, 5, 20},
	"org.fedoraproject.dev.evil.page":    {0, 0, 1}, // the hostile body
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	store, err := archive.Open(t.Context(), pgtest.Start(t), archive.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	pki := testbus.PKIDir()
	tc := certs.DefaultTrustConfig(pki + "/ca.crt")
	tc.CRLFile = pki + "/crl.pem"
	v, err := certs.NewVerifier(tc)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, feed: NewFeed(nil), verifier: v, signers: map[string]*certs.X509Signer{}}
	for _, name := range []string{"pub01", "revoked01", "sub01"} {
		if f.signers[name], err = certs.LoadSigner(pki+"/"+name+".crt", pki+"/"+name+".key"); err != nil {
			t.Fatal(err)
		}
	}
	f.writer = f.feed.Writer(store)
	var recs []archive.Record
	for topic, hours := range plan {
		for h, n := range hours {
			for k := range n {
				body := map[string]any{"user": fmt.Sprintf("user%d", k%3), "package": "pkg" + topic[len("org.fedoraproject.dev."):][:4], "k": k}
				if strings.Contains(topic, "evil") {
					body = hostile
				}
				recs = append(recs, f.record(t, "pub01", topic, base.Add(time.Duration(h)*time.Hour+time.Duration(k)*time.Second), body))
			}
		}
	}
	if _, err := f.writer.Insert(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	w, err := New(store, Config{Verifier: v, Feed: f.feed, Acks: true})
	if err != nil {
		t.Fatal(err)
	}
	api, err := archive.NewAPI(store, archive.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, routes := range []map[string]http.Handler{api.Routes(), w.Routes()} {
		for p, h := range routes {
			mux.Handle(p, h)
		}
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.feed.Close()
		f.srv.Close()
	})
	return f
}

// record is a message on topic at ts, signed by the certificate name, as the archive stores it.
func (f *fixture) record(t testing.TB, signer, topic string, ts time.Time, body map[string]any) archive.Record {
	t.Helper()
	f.seq++
	m, err := message.Build(topic, body, int64(f.seq), "apache", ts)
	if err != nil {
		t.Fatal(err)
	}
	m.Set(message.FieldMsgID, fmt.Sprintf("2026-web%05d", f.seq))
	if err := f.signers[signer].Sign(m); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := archive.NewRecord(m, raw, signer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var rowRE = regexp.MustCompile(`<td class="topic">([^<]*)</td>`)

func TestSearchPage(t *testing.T) {
	f := newFixture(t)
	v := url.Values{"topic": {"org.fedoraproject.dev.koji.build"}, "start": {base.Format(time.RFC3339)}, "rows_per_page": {"20"}}
	code, page := f.get(t, "/web/?"+v.Encode())
	if code != http.StatusOK {
		t.Fatalf("search: %d %s", code, page)
	}
	rows := rowRE.FindAllStringSubmatch(page, -1)
	if len(rows) != 20 || !strings.Contains(page, `<p id="total">25 messages</p>`) {
		t.Fatalf("want 20 rows of 25 koji messages, got %d rows:\n%s", len(rows), page)
	}
	for _, r := range rows {
		if r[1] != "org.fedoraproject.dev.koji.build" {
			t.Fatalf("row of topic %q", r[1])
		}
	}
	// The next page by cursor holds the other 5.
	next := regexp.MustCompile(`<a id="next" href="([^"]*)"`).FindStringSubmatch(page)
	if next == nil {
		t.Fatal("no next link")
	}
	code, page = f.get(t, strings.ReplaceAll(next[1], "&amp;", "&"))
	if rows = rowRE.FindAllStringSubmatch(page, -1); code != http.StatusOK || len(rows) != 5 {
		t.Fatalf("next page: %d, %d rows", code, len(rows))
	}
	// user and package filters.
	code, page = f.get(t, "/web/?user=user1&package=pkgbodh")
	if rows = rowRE.FindAllStringSubmatch(page, -1); code != http.StatusOK || !strings.Contains(page, `<p id="total">13 messages</p>`) {
		t.Fatalf("user+package: %d, %d rows:\n%s", code, len(rows), page)
	}
	// A bad query is a 400 on the page, with the API's reason.
	code, page = f.get(t, "/web/?start=yesterday-ish")
	if code != http.StatusBadRequest || !strings.Contains(page, `id="error"`) || !strings.Contains(page, "start") {
		t.Fatalf("bad start: %d\n%s", code, page)
	}
}

func TestMessagePage(t *testing.T) {
	f := newFixture(t)
	code, page := f.get(t, "/web/message?id=2026-web00001")
	if code != http.StatusOK {
		t.Fatalf("message: %d %s", code, page)
	}
	for _, want := range []string{`<td id="signer">pub01</td>`, `class="ok">signature verifies (signed by pub01)</td>`, "no ACK seen by the archive", `&#34;msg_id&#34;: &#34;2026-web00001&#34;`} {
		if !strings.Contains(page, want) {
			t.Fatalf("message page lacks %s:\n%s", want, page)
		}
	}
	// sub01's ACK of it, archived: the page names sub01 as having ACKed it.
	ack := f.record(t, "sub01", "org.fedoraproject.dev.gilmsg.ack", time.Now(), map[string]any{"ack_msg_id": "2026-web00001"})
	if _, err := f.writer.Insert(t.Context(), []archive.Record{ack}); err != nil {
		t.Fatal(err)
	}
	if _, page = f.get(t, "/web/message?id=2026-web00001"); !strings.Contains(page, `<span class="ack">sub01</span>`) {
		t.Fatalf("the ACK of sub01 is not shown:\n%s", page)
	}
	// Without recorded ACKs, the page says so.
	noAcks, err := New(f.store, Config{Verifier: f.verifier})
	if err != nil {
		t.Fatal(err)
	}
	rw := httptest.NewRecorder()
	noAcks.Handler().ServeHTTP(rw, httptest.NewRequest("GET", "/web/message?id=2026-web00001", nil))
	if !strings.Contains(rw.Body.String(), "not recorded: this archive does not record ACKs") {
		t.Fatalf("without ACKs:\n%s", rw.Body.String())
	}
	// Signed by a certificate the CRL revokes: archived (then valid, say), refused now.
	rec := f.record(t, "revoked01", "org.fedoraproject.dev.bodhi.update", base, map[string]any{"k": 1})
	if _, err := f.writer.Insert(t.Context(), []archive.Record{rec}); err != nil {
		t.Fatal(err)
	}
	_, page = f.get(t, "/web/message?id="+rec.MsgID)
	if !strings.Contains(page, `class="bad">signature does not verify now: `) {
		t.Fatalf("revoked signer's message:\n%s", page)
	}
	if code, _ := f.get(t, "/web/message?id=nope"); code != http.StatusNotFound {
		t.Fatalf("unknown id: %d", code)
	}
}

// TestHostileBody: a body with script, quotes and markup is shown as text on every page.
func TestHostileBody(t *testing.T) {
	f := newFixture(t)
	res, err := f.store.Search(t.Context(), archive.Query{Topics: []string{"org.fedoraproject.dev.evil.page"}, Limit: 1})
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("evil message: %v %d", err, len(res.Records))
	}
	id := res.Records[0].MsgID
	for _, path := range []string{"/web/message?id=" + id, "/web/?topic=org.fedoraproject.dev.evil.page&user=" + url.QueryEscape(hostile["user"].(string))} {
		code, page := f.get(t, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		if strings.Contains(page, "<script>document") || strings.Contains(page, "<script>window") || strings.Contains(page, "<img") || strings.Contains(page, "</pre><") {
			t.Fatalf("%s: the body's markup is in the page unescaped:\n%s", path, page)
		}
		if strings.Count(page, "<script>") > 0 && !strings.Contains(path, "live") {
			t.Fatalf("%s: a script element on a page that has none:\n%s", path, page)
		}
		if !strings.Contains(page, "&lt;script&gt;") {
			t.Fatalf("%s: the body's text is not shown:\n%s", path, page)
		}
	}
}

var barRE = regexp.MustCompile(`<g class="topic" data-topic="([^"]*)">|<rect class="bar" data-hour="([^"]*)" data-n="(\d+)"`)

// chartBars reads the chart's bars: topic → hour → n.
func chartBars(page string) map[string]map[string]string {
	out := map[string]map[string]string{}
	topic := ""
	for _, m := range barRE.FindAllStringSubmatch(page, -1) {
		if m[1] != "" {
			topic = m[1]
			out[topic] = map[string]string{}
			continue
		}
		out[topic][m[2]] = m[3]
	}
	return out
}

// wantBars is what plan draws.
func wantBars() map[string]map[string]string {
	out := map[string]map[string]string{}
	for topic, hours := range plan {
		out[topic] = map[string]string{}
		for h, n := range hours {
			if n > 0 {
				out[topic][base.Add(time.Duration(h)*time.Hour).Format("2006-01-02T15:04Z")] = fmt.Sprint(n)
			}
		}
	}
	return out
}

func TestChart(t *testing.T) {
	f := newFixture(t)
	v := url.Values{"start": {base.Format(time.RFC3339)}, "end": {base.Add(3*time.Hour - time.Second).Format(time.RFC3339)}}
	code, page := f.get(t, "/web/chart?"+v.Encode())
	if code != http.StatusOK {
		t.Fatalf("chart: %d %s", code, page)
	}
	got, want := chartBars(page), wantBars()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bars: got %v, want %v", got, want)
	}
	// The busiest topic first; the tallest bar is the busiest hour (60 px).
	if !strings.Contains(page, `data-n="30" x="0" y="14" width="40" height="60"`) || strings.Index(page, "bodhi.update") > strings.Index(page, "koji.build") {
		t.Fatalf("layout:\n%s", page)
	}
	if code, _ := f.get(t, "/web/chart?start=2026-01-01&end=2026-03-01"); code != http.StatusBadRequest {
		t.Fatalf("two months: %d, want 400", code)
	}
}

// TestLiveFeedMokshaProtocol: a client speaking moksha's protocol gets what is committed on
// its topics, as moksha's frame {"topic", "body": envelope}, and nothing else.
func TestLiveFeedMokshaProtocol(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, path := range []string{"/", "/ws"} {
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := json.Marshal(map[string]string{"topic": "__topic_subscribe__", "body": "org.fedoraproject.dev.koji.*"})
		if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
			t.Fatal(err)
		}
		// Subscribed once a frame sent after the subscription arrives: send until one does.
		other := f.record(t, "pub01", "org.fedoraproject.dev.bodhi.update", time.Now(), map[string]any{"k": 0})
		got := make(chan []byte, 1)
		go func() {
			_, b, err := conn.Read(ctx)
			if err == nil {
				got <- b
			}
			close(got)
		}()
		var b []byte
		var want archive.Record
	send:
		for {
			want = f.record(t, "pub01", "org.fedoraproject.dev.koji.build", time.Now(), map[string]any{"k": 1})
			if _, err := f.writer.Insert(ctx, []archive.Record{other, want}); err != nil {
				t.Fatal(err)
			}
			select {
			case b = <-got:
				break send
			case <-time.After(100 * time.Millisecond): // retransmit: the subscription may not be read yet
			case <-ctx.Done():
				t.Fatal("no frame")
			}
		}
		var fr struct {
			Topic string         `json:"topic"`
			Body  map[string]any `json:"body"`
		}
		if err := json.Unmarshal(b, &fr); err != nil {
			t.Fatal(err)
		}
		if fr.Topic != "org.fedoraproject.dev.koji.build" || fr.Body["topic"] != fr.Topic || fr.Body["signature"] == nil || fr.Body["msg"].(map[string]any)["k"] != 1.0 {
			t.Fatalf("frame %s", b)
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
	testbus.Eventually(t, 5*time.Second, "clients gone", func() bool { return f.feed.Clients() == 0 })
}

// BenchmarkSearchPage times the search page (the query, the rendering, loopback HTTP) on the
// test data: a topic's first page of 25 rows.
func BenchmarkSearchPage(b *testing.B) {
	f := newFixture(b)
	path := "/web/?topic=org.fedoraproject.dev.bodhi.update&rows_per_page=25"
	for b.Loop() {
		if code, page := f.get(b, path); code != http.StatusOK || len(rowRE.FindAllString(page, -1)) != 25 {
			b.Fatalf("search page: %d", code)
		}
	}
}
