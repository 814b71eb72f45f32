package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// archiveBus is a relay bus with an "archive" certificate and an [archive] table on a fresh
// database of the throwaway PostgreSQL.
func archiveBus(t *testing.T) (b *Bus, dsn, httpAddr string) {
	dsn = pgtest.Start(t)
	httpAddr = fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b = NewBus(t, BusOptions{Certs: []string{"archive"}, Extra: fmt.Sprintf("\n[archive]\nstore = %q\nhttp_address = %q\nbatch_size = 64\n", dsn, httpAddr)})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	return b, dsn, httpAddr
}

func startArchive(t *testing.T, b *Bus) *Proc {
	p := b.Start("ackmsg-archive", "--certname", "archive")
	p.WaitLog(t, "archive running")
	return p
}

// TestArchiveProcess runs the real ackmsg-archive: an acked ackmsg-logger to recipient archive
// exits 0 and the message is then (no waiting) in /raw and /id; a bad query is a 400; /ready
// answers; SIGTERM ends it with exit 0.
func TestArchiveProcess(t *testing.T) {
	b, _, httpAddr := archiveBus(t)
	arch := startArchive(t, b)
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "archive", "--ack-timeout", "20",
		"--topic", "archived", "--message", "kept forever"); code != 0 {
		t.Fatalf("acked publish to archive: exit %d\n%s", code, stderr)
	}
	// ackmsg-logger returned: the message is committed, so it is there at the first look.
	code, body := httpGet(t, "http://"+httpAddr+"/raw?topic=org.example.test.logger.archived")
	var raw struct {
		RawMessages []struct {
			MsgID string         `json:"msg_id"`
			Msg   map[string]any `json:"msg"`
			Users []string       `json:"users"`
		} `json:"raw_messages"`
		Total int `json:"total"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &raw) != nil || raw.Total != 1 || len(raw.RawMessages) != 1 || raw.RawMessages[0].Msg["log"] != "kept forever" {
		t.Fatalf("/raw after the acked publish: %d %s", code, body)
	}
	id := raw.RawMessages[0].MsgID
	code, body = httpGet(t, "http://"+httpAddr+"/id?id="+url.QueryEscape(id))
	var one struct {
		MsgID     string `json:"msg_id"`
		Topic     string `json:"topic"`
		Signature string `json:"signature"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &one) != nil || one.MsgID != id || one.Topic != "org.example.test.logger.archived" || one.Signature == "" {
		t.Fatalf("/id: %d %s", code, body)
	}
	// ackmsg-replay --archive: the signed envelope as archived (it verifies), and --publish
	// re-sends it through the relay, where a tail sees it.
	out, stderr, rc := b.Run(20*time.Second, "", "ackmsg-replay", "--archive", "http://"+httpAddr, "--msg-id", id)
	if rc != 0 || !strings.Contains(out, `"msg_id":"`+id+`"`) {
		t.Fatalf("ackmsg-replay --archive: exit %d %q\n%s", rc, out, stderr)
	}
	if v, stderr, rc := b.Run(20*time.Second, out, "ackmsg-certs", "verify", "--dir", b.PKI, "--crl", filepath.Join(b.PKI, "crl.pem")); rc != 0 || strings.TrimSpace(v) != "ok logger" {
		t.Fatalf("ackmsg-certs verify of the archived envelope: exit %d %q\n%s", rc, v, stderr)
	}
	if _, stderr, rc := b.Run(20*time.Second, "", "ackmsg-replay", "--archive", "http://"+httpAddr, "--msg-id", "no-such-id"); rc != 1 || !strings.Contains(stderr, "no match") {
		t.Fatalf("ackmsg-replay --archive of an unknown msg_id: exit %d, want 1 (no match)\n%s", rc, stderr)
	}
	tail := b.Start("ackmsg-tail", "--json", "--count", "1", "--timeout", "30", "--topic", "org.example.test.logger.archived")
	tail.WaitLog(t, "endpoint connected")
	if out, stderr, rc := b.Run(20*time.Second, "", "ackmsg-replay", "--archive", "http://"+httpAddr, "--msg-id", id, "--publish"); rc != 0 || strings.TrimSpace(out) != id {
		t.Fatalf("ackmsg-replay --archive --publish: exit %d %q\n%s", rc, out, stderr)
	}
	if rc := tail.Wait(t, 30*time.Second); rc != 0 || !strings.Contains(tail.Stdout.String(), id) {
		t.Fatalf("the tail after the replay: exit %d %q", rc, tail.Stdout.String())
	}

	if code, body = httpGet(t, "http://"+httpAddr+"/raw?rows_per_page=10000"); code != 400 {
		t.Fatalf("rows_per_page=10000: %d %s, want 400", code, body)
	}
	if code, body = httpGet(t, "http://"+httpAddr+"/ready"); code != 200 {
		t.Fatalf("/ready: %d %s", code, body)
	}
	if code := arch.Stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, arch.Stderr.String())
	}
}

// TestArchiveKill9 is the archive's ledger: acked publishes to recipient archive run while the
// archive process is killed with -9 and restarted, twice. Afterwards every publish that
// returned nil must have its row in the database (a missing one is a false positive: "archived"
// said of a message that is not).
func TestArchiveKill9(t *testing.T) {
	b, dsn, _ := archiveBus(t)
	arch := startArchive(t, b)
	pub := b.AckPublisher(config.RelayInboundKey, "logger", nil)

	ctx, stop := context.WithTimeout(context.Background(), 9*time.Second)
	defer stop()
	var mu sync.Mutex
	var ok []string
	timeouts := 0
	var inflight sync.WaitGroup
	slots := make(chan struct{}, 16)
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			slots <- struct{}{}
			f, err := pub.PublishAsync(context.Background(), "stream", map[string]any{"i": i}, ack.To("archive"), ack.Within(4*time.Second))
			if err != nil {
				<-slots
				continue
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-slots }()
				<-f.Finished()
				mu.Lock()
				defer mu.Unlock()
				var te *ack.TimeoutError
				switch err := f.Err(); {
				case err == nil:
					ok = append(ok, f.Message().MsgID())
				case errors.As(err, &te):
					timeouts++
				}
			}()
		}
	}()
	okCount := func() int { mu.Lock(); defer mu.Unlock(); return len(ok) }
	for kill := range 2 {
		// Kill once publishes are being archived: at least 200 more returned nil.
		want := okCount() + 200
		deadline := time.Now().Add(20 * time.Second)
		for okCount() < want {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: only %d publishes returned nil", kill, okCount())
			}
			time.Sleep(5 * time.Millisecond) // polling a counter the publishers advance
		}
		arch.Kill(t)
		arch = startArchive(t, b)
	}
	<-ctx.Done()
	inflight.Wait()

	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var missing []string
	rows, err := conn.Query(t.Context(), `SELECT x FROM unnest($1::text[]) AS x WHERE NOT EXISTS (SELECT 1 FROM ackmsg_archive WHERE msg_id = x)`, ok)
	if err != nil {
		t.Fatal(err)
	}
	missing, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM ackmsg_archive`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d publishes returned nil, %d timed out, %d rows stored, across 2 kills -9", len(ok), timeouts, stored)
	if len(missing) > 0 {
		t.Fatalf("%d publishes returned nil but are not in the archive (false positives), e.g. %q", len(missing), missing[:min(5, len(missing))])
	}
	if arch.Stop(t) != 0 {
		t.Fatalf("SIGTERM: %s", arch.Stderr.String())
	}
}

// TestPythonDgReplayFromArchive: the real fedmsg-dg-replay --msg-id, pointed at ackmsg-archive
// as its --datagrepper-url, fetches the message from /id and re-publishes its body on its
// topic through the relay (signed anew, as fedmsg-dg-replay does), where a tail sees it.
func TestPythonDgReplayFromArchive(t *testing.T) {
	pb := newPyBus(t, []string{"archive"}, nil, nil)
	dsn := pgtest.Start(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	pb.Start("ackmsg-relay").WaitLog(t, "relay ready")
	arch := pb.Start("ackmsg-archive", "--certname", "archive", "--store", dsn, "--http-address", httpAddr)
	arch.WaitLog(t, "archive running")
	if _, stderr, code := pb.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "archive", "--ack-timeout", "20",
		"--topic", "archived", "--message", "replay me"); code != 0 {
		t.Fatalf("acked publish to archive: exit %d\n%s", code, stderr)
	}
	code, body := httpGet(t, "http://"+httpAddr+"/raw?topic=org.example.test.logger.archived")
	var raw struct {
		RawMessages []struct {
			MsgID string `json:"msg_id"`
		} `json:"raw_messages"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &raw) != nil || len(raw.RawMessages) != 1 {
		t.Fatalf("/raw: %d %s", code, body)
	}
	id := raw.RawMessages[0].MsgID

	tail := pb.Start("ackmsg-tail", "--json", "--count", "1", "--timeout", "60", "--topic", "org.example.test.logger.archived")
	tail.WaitLog(t, "endpoint connected")
	dg := pb.startPy(t, nil, "dg-replay", "--msg-id", id, "--url", "http://"+httpAddr)
	if code := dg.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("fedmsg-dg-replay: exit %d\n%s\n%s", code, dg.Stdout.String(), dg.Stderr.String())
	}
	if code := tail.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("tail: exit %d\n%s", code, tail.Stderr.String())
	}
	var got struct {
		MsgID string         `json:"msg_id"`
		Topic string         `json:"topic"`
		Msg   map[string]any `json:"msg"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(tail.Stdout.String())), &got); err != nil {
		t.Fatalf("tail printed %q: %v", tail.Stdout.String(), err)
	}
	if got.Topic != "org.example.test.logger.archived" || got.Msg["log"] != "replay me" || got.MsgID == id {
		t.Fatalf("replayed message %+v: want the archived body on its topic, under a new msg_id", got)
	}
	t.Logf("fedmsg-dg-replay fetched %s from the archive and re-published it as %s: %s", id, got.MsgID, dg.Stdout.String())
}
