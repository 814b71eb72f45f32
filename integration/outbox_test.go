package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

type listed struct {
	MsgID      string   `json:"msg_id"`
	State      string   `json:"state"`
	Acked      []string `json:"acked"`
	Missing    []string `json:"missing"`
	Attempts   int      `json:"attempts"`
	DeadReason string   `json:"dead_reason"`
}

func outboxBus(t *testing.T, certs []string, outbox string) *Bus {
	return NewBus(t, BusOptions{Certs: certs, Extra: "[outbox]\nstore = \"" + filepath.Join(t.TempDir(), "outbox.db") + "\"\n" + outbox})
}

// outboxList runs ackmsg-outbox list --json.
func outboxList(t *testing.T, b *Bus) []listed {
	t.Helper()
	out, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "list", "--json")
	if code != 0 {
		t.Fatalf("ackmsg-outbox list: exit %d\n%s", code, stderr)
	}
	var recs []listed
	for _, l := range Lines(out) {
		var r listed
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("list line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitList polls the outbox until ok holds (20 s at most).
func waitList(t *testing.T, b *Bus, what string, ok func([]listed) bool) []listed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := outboxList(t, b)
		if ok(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox never reached %s: %+v", what, recs)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's state
	}
}

func startServe(t *testing.T, b *Bus) *Proc {
	t.Helper()
	p := b.Start("ackmsg-outbox", "serve", "--log-level", "debug")
	p.WaitLog(t, "deliverer running")
	return p
}

func outboxPublish(t *testing.T, b *Bus, recipients, text string) string {
	t.Helper()
	start := time.Now()
	out, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--outbox", "--recipients", recipients,
		"--modname", "work", "--topic", "x", "--message", text)
	if code != 0 {
		t.Fatalf("logger --outbox: exit %d\n%s", code, stderr)
	}
	t.Logf("logger --outbox stored %q in %s", text, time.Since(start).Round(time.Millisecond))
	return strings.TrimSpace(out)
}

// The acceptance: with sub01 down the logger exits 0 at once; list shows it missing
// sub01; the deliverer is killed with -9 and restarted; sub01 starts and gets m once; the
// outbox is empty.
func TestOutboxRecipientDownKill9(t *testing.T) {
	b := outboxBus(t, []string{"sub01"}, "")
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")

	id := outboxPublish(t, b, "sub01", "m")
	recs := outboxList(t, b)
	if len(recs) != 1 || recs[0].MsgID != id || strings.Join(recs[0].Missing, ",") != "sub01" || recs[0].State != "pending" {
		t.Fatalf("list after enqueue: %+v", recs)
	}

	serve := startServe(t, b)
	// The deliverer is trying (sub01 is down); kill it mid-attempt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _, _ := b.Run(20*time.Second, "", "ackmsg-outbox", "stats")
		if strings.Contains(st, "in_flight 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deliverer never claimed the message:\n%s", st)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's state
	}
	serve.Kill(t)
	serve = startServe(t, b)

	out, err := os.Create(filepath.Join(t.TempDir(), "sub01.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	startAcker(t, b, "sub01", out, "--topic", "org.example.test.work")
	waitList(t, b, "empty (m delivered)", func(r []listed) bool { return len(r) == 0 })

	// Exactly once: a second message, delivered after m, is the only other line sub01 printed.
	outboxPublish(t, b, "sub01", "end")
	waitList(t, b, "empty (end delivered)", func(r []listed) bool { return len(r) == 0 })
	deadline = time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(out.Name())
		lines := Lines(string(data))
		if len(lines) >= 2 && strings.Contains(lines[len(lines)-1], `"log":"end"`) {
			if len(lines) != 2 || !strings.Contains(lines[0], `"log":"m"`) || !strings.Contains(lines[0], id) {
				t.Fatalf("sub01 printed:\n%s", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sub01 printed:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := serve.Stop(t); code != 0 {
		t.Fatalf("serve exit %d\n%s", code, serve.Stderr.String())
	}
}

// A deliverer killed after one of two recipients ACKed waits, after its restart, only for the
// other: the message is delivered with the first recipient gone.
func TestOutboxPartialProgressSurvivesKill(t *testing.T) {
	b := outboxBus(t, []string{"sub01", "sub02"}, "")
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	sub01 := startAcker(t, b, "sub01", nil)
	serve := startServe(t, b)
	id := outboxPublish(t, b, "sub01,sub02", "half")
	waitList(t, b, "sub01's ACK recorded", func(r []listed) bool {
		return len(r) == 1 && strings.Join(r[0].Acked, ",") == "sub01" && strings.Join(r[0].Missing, ",") == "sub02"
	})
	serve.Kill(t)
	sub01.Stop(t)

	serve = startServe(t, b)
	startAcker(t, b, "sub02", nil)
	waitList(t, b, "empty", func(r []listed) bool { return len(r) == 0 })
	// The record leaves the store before the deliverer logs it: wait for the line.
	serve.WaitLog(t, "msg=delivered")
	if l := serve.Stderr.String(); !strings.Contains(l, "msg_id="+id) {
		t.Fatalf("the restarted deliverer did not deliver %s:\n%s", id, serve.Stderr.String())
	}
}

// A message that expires goes to the dead letters with a reason; retry delivers it once the
// recipient is back.
func TestOutboxExpiryDeadLetterRetry(t *testing.T) {
	b := outboxBus(t, []string{"sub01"}, "expiry = 1.5\nattempt_timeout = 0.5\nclaim_lease = 5\nretry_max = 0.5\n")
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	serve := startServe(t, b)
	id := outboxPublish(t, b, "sub01", "late")
	recs := waitList(t, b, "dead", func(r []listed) bool { return len(r) == 1 && r[0].State == "dead" })
	if !strings.Contains(recs[0].DeadReason, "expired") || !strings.Contains(recs[0].DeadReason, "sub01 missing") {
		t.Fatalf("dead reason %q", recs[0].DeadReason)
	}
	text, _, _ := b.Run(20*time.Second, "", "ackmsg-outbox", "list")
	if !strings.Contains(text, id) || !strings.Contains(text, "dead") {
		t.Fatalf("list:\n%s", text)
	}
	if _, _, code := b.Run(20*time.Second, "", "ackmsg-outbox", "retry", "no-such-id"); code != 1 {
		t.Fatalf("retry of an unknown msg_id: exit %d, want 1", code)
	}

	startAcker(t, b, "sub01", nil)
	if out, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "retry", "--all-dead"); code != 0 || !strings.Contains(out, "1 messages due now") {
		t.Fatalf("retry --all-dead: exit %d\n%s%s", code, out, stderr)
	}
	waitList(t, b, "empty", func(r []listed) bool { return len(r) == 0 })
	st, _, _ := b.Run(20*time.Second, "", "ackmsg-outbox", "stats")
	if !strings.Contains(st, "delivered 1\n") || !strings.Contains(st, "dead 0\n") {
		t.Fatalf("stats:\n%s", st)
	}
	// wait knows a delivered message from one it never stored.
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "wait", id); code != 0 {
		t.Fatalf("wait for the delivered %s: exit %d\n%s", id, code, stderr)
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "wait", "no-such-id"); code != 1 || !strings.Contains(stderr, "not in the outbox") {
		t.Fatalf("wait for an unknown msg_id: exit %d, want 1\n%s", code, stderr)
	}
	serve.Stop(t)
}

// Clear errors: no store configured, no recipients, a corrupt store file.
func TestOutboxCLIErrors(t *testing.T) {
	b := NewBus(t, BusOptions{})
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--outbox", "--recipients", "x", "--message", "m"); code != 1 ||
		!strings.Contains(stderr, "no outbox store configured") {
		t.Fatalf("no store: exit %d\n%s", code, stderr)
	}
	store := filepath.Join(t.TempDir(), "outbox.db")
	if err := os.WriteFile(store, []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	b = NewBus(t, BusOptions{Extra: fmt.Sprintf("[outbox]\nstore = %q\n", store)})
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--outbox", "--message", "m"); code != 2 ||
		!strings.Contains(stderr, "--outbox needs --recipients") {
		t.Fatalf("no recipients: exit %d\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"ackmsg-logger", "--outbox", "--recipients", "x", "--message", "m"},
		{"ackmsg-outbox", "list"},
		{"ackmsg-outbox", "serve"},
	} {
		if _, stderr, code := b.Run(20*time.Second, "", args[0], args[1:]...); code != 1 || !strings.Contains(stderr, "corrupt") || !strings.Contains(stderr, store) {
			t.Fatalf("%v on a corrupt store: exit %d\n%s", args, code, stderr)
		}
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "frobnicate"); code != 2 || !strings.Contains(stderr, "want a command") {
		t.Fatalf("unknown command: exit %d\n%s", code, stderr)
	}
}

// PostgreSQL: two deliverers serve one outbox; one is killed with -9 mid-stream. Every message
// is delivered, the recipient prints each once, and the outbox ends empty.
func TestOutboxPostgresTwoDeliverersOneKilled(t *testing.T) {
	dsn := pgtest.Start(t)
	b := NewBus(t, BusOptions{Certs: []string{"sub01"},
		Extra: fmt.Sprintf("[outbox]\nstore = %q\nclaim_lease = 4\nattempt_timeout = 2\nretry_max = 1\n", dsn)})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	d1 := startServe(t, b)

	const n = 40
	var input strings.Builder
	for i := range n {
		fmt.Fprintf(&input, "m%02d\n", i)
	}
	stdout, stderr, code := b.Run(60*time.Second, input.String(), "ackmsg-logger", "--outbox", "--recipients", "sub01",
		"--modname", "work", "--topic", "x")
	if code != 0 || len(Lines(stdout)) != n {
		t.Fatalf("logger --outbox: exit %d, %d msg_ids\n%s", code, len(Lines(stdout)), stderr)
	}
	// sub01 is down: d1 claims everything and keeps trying. Kill it holding its claims.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _, _ := b.Run(20*time.Second, "", "ackmsg-outbox", "stats")
		if strings.Contains(st, fmt.Sprintf("in_flight %d\n", n)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("d1 never claimed all %d:\n%s", n, st)
		}
		time.Sleep(50 * time.Millisecond) // polling another process's state
	}
	d2 := startServe(t, b)
	d1.Kill(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "sub01.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	startAcker(t, b, "sub01", out)
	waitList(t, b, "empty", func(r []listed) bool { return len(r) == 0 })
	// The records leave the store before the deliverer logs them: wait for the first line (it
	// fails the test, naming d2, if d2 delivered nothing: the dead deliverer's claims were not
	// taken over).
	d2.WaitLog(t, "msg=delivered")

	deadline = time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(out.Name())
		lines := Lines(string(data))
		if len(lines) >= n {
			seen := map[string]int{}
			for _, l := range lines {
				seen[l[strings.Index(l, `"log":"`):][:10]]++
			}
			if len(lines) != n || len(seen) != n {
				t.Fatalf("sub01 printed %d lines, %d distinct messages:\n%s", len(lines), len(seen), data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sub01 printed %d of %d", len(lines), n)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's output
	}
	if st, _, _ := b.Run(20*time.Second, "", "ackmsg-outbox", "stats"); !strings.Contains(st, fmt.Sprintf("delivered %d\n", n)) {
		t.Fatalf("stats:\n%s", st)
	}
	d2.Stop(t)
}

// Commands share a file store: none holds its lock beyond one operation, and every one works
// while another process owns it. wait (no deliverer yet) polls for a minute while a logger
// --outbox stores, list lists and serve starts; a logger --outbox reading an open pipe is
// listed meanwhile; once a recipient ACKs, wait exits 0.
func TestOutboxCommandsShareTheFileStore(t *testing.T) {
	b := outboxBus(t, []string{"sub01"}, "")
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	first := outboxPublish(t, b, "sub01", "first")

	w := b.Start("ackmsg-outbox", "wait", "--timeout", "60", "--log-level", "debug", first)
	w.WaitLog(t, "msg=waiting")
	second := outboxPublish(t, b, "sub01", "second") // while wait runs

	in, feed := io.Pipe()
	defer feed.Close()
	logger := b.StartInput(in, "ackmsg-logger", "--outbox", "--recipients", "sub01", "--modname", "work", "--topic", "x")
	if _, err := io.WriteString(feed, "third\n"); err != nil {
		t.Fatal(err)
	}
	third := waitLine(t, logger)
	if ids := listedIDs(outboxList(t, b)); ids != strings.Join(sorted([]string{first, second, third}), ",") {
		t.Fatalf("list while wait and a logger run: %s; want %s, %s, %s", ids, first, second, third)
	}

	serve := startServe(t, b) // neither wait nor the logger keeps it out
	if _, err := io.WriteString(feed, "fourth\n"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, logger)
	feed.Close()
	if code := logger.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("logger --outbox: exit %d\n%s", code, logger.Stderr.String())
	}
	if w.Exited() {
		t.Fatalf("wait exited before %s was delivered:\n%s", first, w.Stderr.String())
	}
	startAcker(t, b, "sub01", nil)
	if code := w.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("wait: exit %d once delivered\n%s", code, w.Stderr.String())
	}
	waitList(t, b, "empty", func(r []listed) bool { return len(r) == 0 })
	serve.Stop(t)
}

// buildOutboxOwner builds integration/testdata/outboxowner, a library program using a store file.
func buildOutboxOwner(t *testing.T) {
	t.Helper()
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "outboxowner"), "./integration/testdata/outboxowner")
	build.Dir = testbus.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building outboxowner: %v\n%s", err, out)
	}
}

// A library program that owns a file store (boltstore.Open) answers the commands on the
// store's socket: list, stats, retry and drop work while it runs, and serve is refused (one
// deliverer per file) with a clear error rather than a hang. One that shares it
// (boltstore.OpenShared) leaves it to serve, which starts beside it and serves its writes.
func TestOutboxCommandsWhileALibraryUsesTheStore(t *testing.T) {
	buildOutboxOwner(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	b := NewBus(t, BusOptions{Extra: fmt.Sprintf("[outbox]\nstore = %q\n", store)})
	in, feed := io.Pipe()
	defer feed.Close()
	owner := b.StartInput(in, "outboxowner", store, "own")
	owner.WaitLog(t, "ready")

	if ids := listedIDs(outboxList(t, b)); ids != "own-1" {
		t.Fatalf("list while a library owns the store: %q; want own-1", ids)
	}
	for _, args := range [][]string{{"stats"}, {"retry", "own-1"}, {"drop", "own-1"}} {
		if out, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", args...); code != 0 {
			t.Fatalf("ackmsg-outbox %v while a library owns the store: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-outbox", "serve"); code != 1 || !strings.Contains(stderr, "locked") {
		t.Fatalf("a second owner (serve): exit %d; want 1, locked\n%s", code, stderr)
	}
	feed.Close()
	if code := owner.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("outboxowner own: exit %d\n%s", code, owner.Stderr.String())
	}
	if ids := listedIDs(outboxList(t, b)); ids != "" {
		t.Fatalf("list after the owner left: %q; want empty", ids)
	}

	in, feed = io.Pipe()
	defer feed.Close()
	sharer := b.StartInput(in, "outboxowner", store, "share")
	sharer.WaitLog(t, "ready")
	serve := b.Start("ackmsg-outbox", "serve", "--log-level", "debug")
	serve.WaitLog(t, "deliverer running") // the sharing program does not keep it out
	if _, err := io.WriteString(feed, "share-2\n"); err != nil {
		t.Fatal(err)
	}
	sharer.WaitLog(t, "stored share-2") // over serve's socket
	if ids := listedIDs(outboxList(t, b)); ids != "share-1,share-2" {
		t.Fatalf("list with serve and a sharing program: %q; want share-1,share-2", ids)
	}
	feed.Close()
	if code := sharer.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("outboxowner share: exit %d\n%s", code, sharer.Stderr.String())
	}
	serve.Stop(t)
}

// listedIDs is the sorted msg_ids of a list, comma-separated.
func listedIDs(recs []listed) string {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.MsgID)
	}
	return strings.Join(sorted(ids), ",")
}

// waitLine waits until p printed one more line on stdout than before, and returns it.
func waitLine(t *testing.T, p *Proc) string {
	t.Helper()
	seen := len(Lines(p.Stdout.String()))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l := Lines(p.Stdout.String()); len(l) > seen {
			return l[seen]
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s printed no new line; stderr:\n%s", p.Name, p.Stderr.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a pipe's buffer
	}
}

// ackmsg-outbox serve answers /live, /ready (the store answers) and /metrics on
// outbox.http_address, and stops serving them when it exits.
func TestOutboxServeHTTPEndpoint(t *testing.T) {
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := outboxBus(t, nil, fmt.Sprintf("http_address = %q\n", httpAddr))
	serve := startServe(t, b)
	serve.WaitLog(t, "http endpoint ready")
	base := "http://" + httpAddr
	if code, body := httpGet(t, base+"/live"); code != 200 || body != "ok\n" {
		t.Errorf("/live: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready: %d %q", code, body)
	}
	code, metrics := httpGet(t, base+"/metrics")
	for _, w := range []string{"ackmsg_outbox_pending 0\n", "ackmsg_outbox_store_up 1\n", "ackmsg_outbox_enqueued_total 0\n", "go_goroutines "} {
		if code != 200 || !strings.Contains(metrics, w) {
			t.Errorf("/metrics (%d) lacks %q", code, w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", metrics)
	}
	if code := serve.Stop(t); code != 0 {
		t.Fatalf("serve exit %d after SIGTERM:\n%s", code, serve.Stderr.String())
	}
	if resp, err := (&http.Client{}).Get(base + "/live"); err == nil {
		resp.Body.Close()
		t.Error("the endpoint still answers after serve exited")
	}
}
