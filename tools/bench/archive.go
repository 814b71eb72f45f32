package main

// The archive (ackmsg-archive's store, API and ingest loop) on a throwaway PostgreSQL loaded
// with a million messages: /raw at the deepest page (by page number and by cursor) and for a
// topic with one match, next to PostgreSQL's own one-row lookup; the ingest loop's throughput
// with each message answered only after its group's commit, next to PostgreSQL's own
// INSERT+COMMIT of one message.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/archive"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/message"
)

const archiveSection = "Archive (ackmsg-archive) on PostgreSQL, fsync on: datagrepper's /raw over HTTP, and the ingest loop"

// archiveRareTopic is the topic one message of the load has.
const archiveRareTopic = "org.example.prod.rare.once"

// archiveBase is the timestamp of the first loaded message; they are 100 ms apart.
var archiveBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// archive is the scenario of the full run.
func (b *bench) archive() error {
	rows, err := archiveRows(b.quick)
	if err != nil {
		b.section(archiveSection)
		b.skip("archive", "ms", err)
		return nil
	}
	b.section(archiveSection)
	for _, r := range rows {
		b.add(r)
	}
	return nil
}

// runArchive is -only archive.
func runArchive(isQuick bool) (*Results, error) {
	start := time.Now()
	res := newResults(start, isQuick)
	rows, err := archiveRows(isQuick)
	if err != nil {
		return nil, err
	}
	res.Sections[0] = archiveSection
	for _, r := range rows {
		if r.Floor > 0 {
			r.Ratio = r.Value / r.Floor
		}
		res.Rows = append(res.Rows, r)
	}
	res.Seconds = time.Since(start).Seconds()
	res.Machine["load average at end"] = loadavg()
	return res, nil
}

// archiveEnvelope is a realistic signed-size envelope of message k.
func archiveEnvelope(k int, topic string) ([]byte, *message.Message, error) {
	m, err := message.Build(topic, map[string]any{"user": fmt.Sprintf("u%d", k%1000), "package": fmt.Sprintf("pkg%d", k%500),
		"build": map[string]any{"id": k, "nvr": fmt.Sprintf("pkg%d-1.%d-1.fc40", k%500, k%97)}}, int64(k), "bench",
		archiveBase.Add(time.Duration(k)*100*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	m.Set(message.FieldSignature, "c2lnbmF0dXJl"+fmt.Sprintf("%0300d", k)) // the size of an RSA-2048 one
	m.Set(message.FieldCertificate, "Y2VydGlmaWNhdGU=")
	raw, err := m.Marshal()
	return raw, m, err
}

func archiveRows(isQuick bool) ([]Row, error) {
	n, samples, ingestN := 1_000_000, 300, 100_000
	if isQuick {
		n, samples, ingestN = 50_000, 50, 10_000
	}
	defer pgtest.Stop()
	dsn, err := pgtest.NewDatabase()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	cfg := archive.DefaultConfig()
	s, err := archive.Open(ctx, dsn, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()

	if err := archiveLoad(ctx, s, n); err != nil {
		return nil, err
	}
	rows, err := archiveQueryRows(s, cfg, n, samples)
	if err != nil {
		return nil, err
	}
	ingestRows, err := archiveIngestRows(ctx, s, cfg, ingestN, isQuick)
	if err != nil {
		return nil, err
	}
	return append(rows, ingestRows...), nil
}

// archiveLoad loads n messages into the archive with COPY, then counts and analyzes them.
func archiveLoad(ctx context.Context, s *archive.Store, n int) error {
	step("archive: loading %d messages with COPY", n)
	t0 := time.Now()
	k := 0
	_, err := s.Pool().CopyFrom(ctx, pgx.Identifier{archive.Table},
		[]string{"msg_id", "i", "topic", "category", "agent", "signer", "ts", "users", "packages", "envelope"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if k == n {
				return nil, nil
			}
			topic := fmt.Sprintf("org.example.prod.c%d.t%d", k%20, k%50)
			if k == n/3 {
				topic = archiveRareTopic
			}
			raw, m, err := archiveEnvelope(k, topic)
			if err != nil {
				return nil, err
			}
			r, err := archive.NewRecord(m, raw, "bench", time.Now())
			if err != nil {
				return nil, err
			}
			k++
			return []any{r.MsgID, r.I, r.Topic, r.Category, r.Agent, r.Signer, r.Time, r.Users, r.Packages, r.Envelope}, nil
		}))
	if err != nil {
		return fmt.Errorf("loading the archive: %w", err)
	}
	if err := s.Recount(ctx); err != nil { // COPY bypasses Insert, which keeps the counts
		return err
	}
	if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE "+archive.Table); err != nil {
		return err
	}
	step("archive: loaded in %s", time.Since(t0).Round(time.Second))
	return nil
}

// archiveQueryRows times the API's queries on the loaded archive next to a one-row lookup.
func archiveQueryRows(s *archive.Store, cfg archive.Config, n, samples int) ([]Row, error) {
	ctx := context.Background()
	api, err := archive.NewAPI(s, cfg)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	client := srv.Client()
	get := func(path string) (time.Duration, []byte, error) {
		t := time.Now()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("%s: %s: %s", path, resp.Status, body)
		}
		return time.Since(t), body, err
	}
	timeIt := func(path string) ([]time.Duration, error) {
		var lat []time.Duration
		for range samples {
			d, _, err := get(path)
			if err != nil {
				return nil, err
			}
			lat = append(lat, d)
		}
		return lat, nil
	}
	queries, err := archiveQueries(get, n)
	if err != nil {
		return nil, err
	}

	// PostgreSQL's own floor: one indexed row by primary key, over one pgx connection.
	var floor []time.Duration
	for i := range samples {
		t := time.Now()
		var env []byte
		if err := s.Pool().QueryRow(ctx, "SELECT envelope FROM "+archive.Table+" WHERE id = $1", 1+i*(n/samples)).Scan(&env); err != nil {
			return nil, err
		}
		floor = append(floor, time.Since(t))
	}
	floorP99 := ms(quantile(floor, 0.99))
	var rows []Row
	for _, q := range queries {
		step("archive: %s", q.name)
		lat, err := timeIt(q.path)
		if err != nil {
			return nil, err
		}
		p99 := ms(quantile(lat, 0.99))
		r := Row{Name: fmt.Sprintf("/raw p99, %s, %d messages", q.name, n), Unit: "ms", Value: p99, Floor: floorP99,
			Of: "PostgreSQL: one row by primary key (pgx, p99)", Note: fmt.Sprintf("p50 %.2f ms", ms(quantile(lat, 0.5)))}
		if q.path[:3] == "/id" {
			r.Name = fmt.Sprintf("/id p99, %d messages", n)
		}
		ok := p99 <= 50
		r.Target, r.Met = "≤ 50 ms", &ok
		rows = append(rows, r)
	}

	return rows, nil
}

// archiveQuery is one timed API request.
type archiveQuery struct{ name, path string }

// archiveQueries are the requests timed on an archive of n messages: the first and deepest
// pages (by number and by cursor), a one-match topic, a sparse user and /id.
func archiveQueries(get func(string) (time.Duration, []byte, error), n int) ([]archiveQuery, error) {
	// A cursor at the deepest page: the next_cursor of the page before it.
	lastPage := n / 100
	_, body, err := get(fmt.Sprintf("/raw?rows_per_page=100&page=%d", lastPage-1))
	if err != nil {
		return nil, err
	}
	var prev struct {
		NextCursor string `json:"next_cursor"`
		Count      int    `json:"count"`
	}
	if err := json.Unmarshal(body, &prev); err != nil || prev.NextCursor == "" || prev.Count != 100 {
		return nil, fmt.Errorf("page %d: %v %.200s", lastPage-1, err, body)
	}
	queries := []archiveQuery{
		{"first page (rows_per_page=100)", "/raw?rows_per_page=100"},
		{fmt.Sprintf("deepest page by number (page=%d of %d)", lastPage, lastPage), fmt.Sprintf("/raw?rows_per_page=100&page=%d", lastPage)},
		{"deepest page by cursor", "/raw?rows_per_page=100&cursor=" + url.QueryEscape(prev.NextCursor)},
		{"a topic with one match", "/raw?topic=" + archiveRareTopic},
		{fmt.Sprintf("a user in 1 of 1000 messages (%d matches), page 5", n/1000), "/raw?user=u7&page=5"},
		{"/id of one message", "/id?id=" + url.QueryEscape(fmt.Sprintf("%d-", archiveBase.Year()))},
	}
	// /id needs a real msg_id: the rare one's.
	var rare struct {
		RawMessages []struct {
			MsgID string `json:"msg_id"`
		} `json:"raw_messages"`
	}
	if _, body, err = get("/raw?topic=" + archiveRareTopic); err != nil || json.Unmarshal(body, &rare) != nil || len(rare.RawMessages) != 1 {
		return nil, fmt.Errorf("the one-match topic: %v %.200s", err, body)
	}
	queries[len(queries)-1].path = "/id?id=" + url.QueryEscape(rare.RawMessages[0].MsgID)

	return queries, nil
}

// archiveIngestRows measures the ingest loop and acked publishes into the archive.
func archiveIngestRows(ctx context.Context, s *archive.Store, cfg archive.Config, ingestN int, isQuick bool) ([]Row, error) {
	var rows []Row
	ingest, inFloor, err := archiveIngest(ctx, s, cfg, ingestN)
	if err != nil {
		return nil, err
	}
	ackDur := 20 * time.Second
	if isQuick {
		ackDur = 3 * time.Second
	}
	bare, _, err := archiveAcked(ctx, nullWriter{}, cfg, ackDur)
	if err != nil {
		return nil, err
	}
	acked, retx, err := archiveAcked(ctx, s, cfg, ackDur)
	if err != nil {
		return nil, err
	}
	ok := ingest >= 5000
	rows = append(rows, Row{Name: fmt.Sprintf("ingest: messages committed and answered per second (group commit, batch ≤ %d)", cfg.BatchSize),
		Unit: "msgs/s", Value: ingest, Floor: inFloor, Of: "PostgreSQL: INSERT + COMMIT of one message at a time (one connection)",
		Target: "≥ 5000 msgs/s", Met: &ok,
		Note: "from an in-memory source: decode, columns, commit, answer; the ACK's signature is the acking subscriber's (see the acked rows)"})
	ackedOK := acked >= 5000
	rows = append(rows, Row{Name: "acked publishes archived per second: PublishAsync in-flight 256 to recipient archive, ACK after commit (Ed25519, in process)",
		Unit: "msgs/s", Value: acked, Floor: inFloor, Of: "PostgreSQL: INSERT + COMMIT of one message at a time (one connection)",
		Target: "≥ 5000 msgs/s", Met: &ackedOK, Note: fmt.Sprintf("%d retransmissions; the whole path: sign, send, verify, commit, sign and send the ACK, verify it; "+
			"the same path with a writer that stores nothing: %.0f msgs/s", retx, bare)})
	return rows, nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// sliceSource hands out prepared deliveries, then ends.
type sliceSource struct {
	ds   []archive.Delivery
	next int
}

func (s *sliceSource) Next(ctx context.Context) (archive.Delivery, error) {
	if s.next == len(s.ds) {
		<-ctx.Done()
		return archive.Delivery{}, ctx.Err()
	}
	s.next++
	return s.ds[s.next-1], nil
}

// archiveIngest measures the ingest loop on n new messages, and the floor: n/10 one-message
// INSERT+COMMITs of the same envelopes into a bare table.
func archiveIngest(ctx context.Context, s *archive.Store, cfg archive.Config, n int) (thru, floor float64, err error) {
	step("archive: ingest of %d messages", n)
	var answered atomic.Int64
	done := make(chan struct{})
	src := &sliceSource{}
	var envs [][]byte
	for k := range n {
		raw, m, err := archiveEnvelope(10_000_000+k, fmt.Sprintf("org.example.prod.ingest.t%d", k%50))
		if err != nil {
			return 0, 0, err
		}
		envs = append(envs, raw)
		src.ds = append(src.ds, archive.Delivery{Message: m, Raw: raw, Signer: "bench", Done: func(err error) {
			if err == nil && answered.Add(1) == int64(n) {
				close(done)
			}
		}})
	}
	in, err := archive.NewIngester(s, src, cfg)
	if err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	start := time.Now()
	go func() { ended <- in.Run(rctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		cancel()
		<-ended
		return 0, 0, fmt.Errorf("ingest: %d of %d answered in 10 minutes", answered.Load(), n)
	}
	thru = float64(n) / time.Since(start).Seconds()
	cancel()
	if err := <-ended; err != nil {
		return 0, 0, err
	}
	step("archive: %.0f msgs/s, %d commits", thru, in.Stats().Commits)

	conn, err := pgx.Connect(ctx, s.Pool().Config().ConnString())
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE floor (id bigserial PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		return 0, 0, err
	}
	m := max(n/10, 100)
	start = time.Now()
	for i := range m {
		if _, err := conn.Exec(ctx, `INSERT INTO floor (data) VALUES ($1)`, envs[i]); err != nil { // autocommit
			return 0, 0, err
		}
	}
	return thru, float64(m) / time.Since(start).Seconds(), nil
}

// ackSource is ackmsg-archive's adapter: an acking subscriber read by the ingest loop.
type ackSource struct{ sub *ack.Subscriber }

func (a ackSource) Next(ctx context.Context) (archive.Delivery, error) {
	d, err := a.sub.Next(ctx)
	if err != nil {
		return archive.Delivery{}, err
	}
	signer := ""
	if d.Signer != nil {
		signer = d.Signer.CN
	}
	return archive.Delivery{Message: d.Message, Raw: d.Raw, Signer: signer, Done: d.Done}, nil
}

// archiveAcked is the archive as a recipient, end to end in this process: an acking subscriber
// (Ed25519 certificate "sub01") feeding the ingest loop into s, and an acked publisher keeping
// 256 messages to it in flight for d. A publish completes only when the archive's ACK, sent
// after the commit, is back.
func archiveAcked(ctx context.Context, s archive.Writer, cfg archive.Config, d time.Duration) (float64, uint64, error) {
	step("archive: acked publishes to the archive (%T) for %s", s, d)
	dir, err := os.MkdirTemp("", "ackmsg-bench-archive-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	p, err := newPKI(dir, certs.KeyEd25519, 1)
	if err != nil {
		return 0, 0, err
	}
	eps := map[string][]string{"pub.host": {freeAddr()}, "sub01.host": {freeAddr()}}
	scfg := p.config("sub01", eps)
	scfg.Name = "sub01.host"
	sub, err := config.NewAckSubscriber(scfg, benchTopic)
	if err != nil {
		return 0, 0, err
	}
	defer sub.Close()
	in, err := archive.NewIngester(s, ackSource{sub}, cfg)
	if err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { ended <- in.Run(rctx) }()
	defer func() { cancel(); <-ended }()
	pcfg := p.config("pub", eps)
	pcfg.Name = "pub.host"
	pub, err := config.NewAckPublisher(ctx, pcfg)
	if err != nil {
		return 0, 0, err
	}
	defer pub.Close()
	b := &bus{pub: pub, cfg: pcfg, names: []string{"sub01"}}
	for range 5 { // warm: connections, subscriptions, caches
		if err := b.publish(); err != nil {
			return 0, 0, err
		}
	}
	rate, retx, err := asyncThroughput(b, 256, d)
	if err == nil {
		step("archive: %.0f acked msgs/s archived, %d retransmissions", rate, retx)
	}
	return rate, retx, err
}

// nullWriter stores nothing: the acked path's cost without the database.
type nullWriter struct{}

func (nullWriter) Insert(_ context.Context, recs []archive.Record) (int, error) {
	return len(recs), nil
}
func (nullWriter) Prune(context.Context, time.Time) (int64, error) { return 0, nil }
