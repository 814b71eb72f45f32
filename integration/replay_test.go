package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/faultproxy"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// replayBus is a bus where "app" (an ackmsg-logger --passive, fed by the test through a pipe)
// binds appAddr, numbers its messages into history.db and serves replayAddr.
func replayBus(t *testing.T, extra string) (b *Bus, appAddr, replayAddr string) {
	t.Helper()
	appAddr, replayAddr = testbus.Addr(t), testbus.Addr(t)
	b = NewBus(t, BusOptions{Certs: []string{"app"}, Endpoints: map[string]string{"app": appAddr},
		Extra: fmt.Sprintf("persistent_store = \"history.db\"\nreplay_endpoints = { app = %q }\nreplay_timeout = 2\n%s", replayAddr, extra)})
	return b, appAddr, replayAddr
}

// startApp starts the numbered publisher; each line written to the returned writer is a message.
func startApp(t *testing.T, b *Bus, args ...string) (io.WriteCloser, *Proc) {
	t.Helper()
	// An *os.File, so the child reads the pipe itself (exec copies any other reader on a
	// goroutine that Wait would wait for).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	p := b.StartInput(r, "ackmsg-logger", append([]string{"--passive", "--name", "app", "--certname", "app", "--log-level", "info"}, args...)...)
	p.WaitLog(t, "replay endpoint ready")
	return w, p
}

// recorded waits until the app's history holds seq_id n (asked through its replay endpoint).
func recorded(t *testing.T, b *Bus, n int) {
	t.Helper()
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--seq", fmt.Sprint(n), "--wait", "15"); code != 0 {
		t.Fatalf("seq_id %d not recorded: exit %d\n%s", n, code, stderr)
	}
}

type line struct {
	Seq int64 `json:"seq_id"`
	Msg struct {
		Log string `json:"log"`
	} `json:"msg"`
}

// printed parses a tail's --json output.
func printed(t *testing.T, out string) []line {
	t.Helper()
	var ls []line
	for _, l := range Lines(out) {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("tail printed %q: %v", l, err)
		}
		ls = append(ls, x)
	}
	return ls
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// checkRun fails unless ls are messages from..to, each once, in order.
func checkRun(t *testing.T, ls []line, from, to int) {
	t.Helper()
	if len(ls) != to-from+1 {
		t.Fatalf("printed %d messages, want %d (%d..%d)", len(ls), to-from+1, from, to)
	}
	for i, l := range ls {
		if want := from + i; l.Seq != int64(want) || l.Msg.Log != fmt.Sprint("m", want) {
			t.Fatalf("message %d: seq_id %d %q, want %d \"m%d\"", i, l.Seq, l.Msg.Log, want, want)
		}
	}
}

// A tail stopped while the publisher sends 1000 messages, and started again with its state
// file, prints all 1000 exactly once, in order.
func TestReplayTailRestartPrintsAllOnce(t *testing.T) {
	b, _, _ := replayBus(t, "history_fsync = false") // the fsync is the publisher's business; measured elsewhere
	app, _ := startApp(t, b)
	state := filepath.Join(b.Dir, "s.json")
	out1, out2 := filepath.Join(b.Dir, "out1"), filepath.Join(b.Dir, "out2")
	f1, err := os.Create(out1)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	tail1 := b.StartTo(f1, "ackmsg-tail", "--json", "--state", state, "--from-start", "--topic", "org.example.test.logger")
	const total = 1000
	for n := 1; n <= total; n++ {
		fmt.Fprintf(app, "m%d\n", n)
		if n == 300 {
			testbus.Eventually(t, 20*time.Second, "the first tail printing", func() bool { return len(Lines(readFile(t, out1))) >= 50 })
			if code := tail1.Stop(t); code != 0 {
				t.Fatalf("tail stopped with %d:\n%s", code, tail1.Stderr.String())
			}
		}
	}
	recorded(t, b, total)
	first := printed(t, readFile(t, out1))
	checkRun(t, first, 1, len(first))
	f2, err := os.Create(out2)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	tail2 := b.StartTo(f2, "ackmsg-tail", "--json", "--state", state, "--count", fmt.Sprint(total-len(first)), "--timeout", "30",
		"--topic", "org.example.test.logger")
	if code := tail2.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("second tail exit %d:\n%s", code, tail2.Stderr.String())
	}
	all := append(first, printed(t, readFile(t, out2))...)
	checkRun(t, all, 1, total)
	if !strings.Contains(tail2.Stderr.String(), "caught up after restart") {
		t.Fatalf("the second tail did not catch up from its state:\n%s", tail2.Stderr.String())
	}
	t.Logf("first tail printed %d, the second %d after catching up", len(first), total-len(first))
}

// A network cut between a tail and the publisher loses messages in flight; the next message
// reveals the gap, and the tail fills it from the replay endpoint.
func TestReplayNetworkCutFilled(t *testing.T) {
	b, appAddr, replayAddr := replayBus(t, "")
	app, _ := startApp(t, b)
	proxy, err := faultproxy.New("127.0.0.1:0", strings.TrimPrefix(appAddr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// The tail's own configuration: it reaches "app" through the proxy (the replay endpoint directly).
	conf := strings.Replace(readFile(t, b.Config), fmt.Sprintf("%q = [%q]", "app", appAddr), fmt.Sprintf("%q = [%q]", "app", "tcp://"+proxy.Addr()), 1)
	if !strings.Contains(conf, proxy.Addr()) || !strings.Contains(conf, replayAddr) {
		t.Fatalf("configuration not rewritten:\n%s", conf)
	}
	tailConf := filepath.Join(b.Dir, "tail.toml")
	os.WriteFile(tailConf, []byte(conf), 0o644)
	tail := b.Start("ackmsg-tail", "--config", tailConf, "--json", "--count", "30", "--timeout", "30", "--topic", "org.example.test.logger")
	tail.WaitLog(t, "endpoint connected")
	for n := 1; n <= 10; n++ { // until the tail has one: the first one may beat the subscription
		fmt.Fprintf(app, "m%d\n", n)
	}
	testbus.Eventually(t, 20*time.Second, "the tail printing m10", func() bool { return strings.Contains(tail.Stdout.String(), `"m10"`) })
	proxy.Stall(true)
	for n := 11; n <= 20; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	recorded(t, b, 20)
	proxy.Cut() // what was queued is gone
	proxy.Stall(false)
	testbus.Eventually(t, 20*time.Second, "the tail reconnecting", func() bool {
		return strings.Count(tail.Stderr.String(), "endpoint connected") >= 2
	})
	for n := 21; n <= 30; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	if code := tail.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("tail exit %d:\n%s", code, tail.Stderr.String())
	}
	ls := printed(t, tail.Stdout.String())
	checkRun(t, ls[len(ls)-20:], 11, 30)
	checkRun(t, ls, int(ls[0].Seq), 30)
	if !strings.Contains(tail.Stderr.String(), "gap in seq_ids filled") {
		t.Fatalf("no gap was filled (did the cut lose nothing?):\n%s", tail.Stderr.String())
	}
}

// A gap beyond the publisher's retention is reported with its size, and what is retained is
// still delivered.
func TestReplayGapBeyondRetention(t *testing.T) {
	b, _, _ := replayBus(t, "history_max_messages = 5")
	app, _ := startApp(t, b)
	state := filepath.Join(b.Dir, "s.json")
	tail1 := b.Start("ackmsg-tail", "--json", "--state", state, "--from-start", "--count", "3", "--timeout", "30", "--topic", "org.example.test.logger")
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	if code := tail1.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("first tail exit %d:\n%s", code, tail1.Stderr.String())
	}
	checkRun(t, printed(t, tail1.Stdout.String()), 1, 3)
	for n := 4; n <= 20; n++ { // the tail is down; the history keeps the last 5
		fmt.Fprintf(app, "m%d\n", n)
	}
	recorded(t, b, 20)
	tail2 := b.Start("ackmsg-tail", "--json", "--state", state, "--count", "5", "--timeout", "30", "--topic", "org.example.test.logger")
	if code := tail2.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("second tail exit %d:\n%s", code, tail2.Stderr.String())
	}
	checkRun(t, printed(t, tail2.Stdout.String()), 16, 20)
	if e := tail2.Stderr.String(); !strings.Contains(e, "not recoverable") || !strings.Contains(e, "gap=12") ||
		!strings.Contains(e, "from_seq_id=4") || !strings.Contains(e, "to_seq_id=15") {
		t.Fatalf("the lost messages 4..15 were not reported:\n%s", e)
	}
}

// ackmsg-replay reads a history through the endpoint and from the file, and re-publishes the
// identical signed frames through the relay.
func TestReplayCommand(t *testing.T) {
	b, _, _ := replayBus(t, "")
	app, appProc := startApp(t, b)
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	recorded(t, b, 3)
	out, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--seq", "1-3")
	ls := printed(t, out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkRun(t, ls, 1, 3)
	var second struct {
		MsgID string `json:"msg_id"`
	}
	json.Unmarshal([]byte(Lines(out)[1]), &second)
	out, _, code = b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--msg-id", second.MsgID)
	if code != 0 || len(Lines(out)) != 1 || !strings.Contains(out, second.MsgID) {
		t.Fatalf("--msg-id: exit %d, %q", code, out)
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--seq", "9"); code != 1 || !strings.Contains(stderr, "no match") {
		t.Fatalf("--seq 9: exit %d, %s", code, stderr)
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", "history.db", "--stats"); code != 1 || !strings.Contains(stderr, "locked") {
		t.Fatalf("--store while the publisher runs: exit %d, %s", code, stderr)
	}

	// Re-publish seq_id 2 through the relay to a validating tail, until it arrives (the tail's
	// subscription through the relay is not observable from here).
	b.Start("ackmsg-relay")
	tail := b.Start("ackmsg-tail", "--json", "--count", "1", "--timeout", "30", "--topic", "org.example.test.logger")
	deadline := time.Now().Add(20 * time.Second)
	for !tail.Exited() && time.Now().Before(deadline) {
		if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--seq", "2", "--publish"); code != 0 {
			t.Fatalf("--publish: exit %d: %s", code, stderr)
		}
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("tail exit %d: %s", code, tail.Stderr.String())
	}
	if !strings.Contains(tail.Stdout.String(), second.MsgID) {
		t.Fatalf("the re-published message is not the original: %s", tail.Stdout.String())
	}

	app.Close()
	if code := appProc.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("app exit %d", code)
	}
	out, stderr, code = b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", "history.db", "--stats")
	if code != 0 || !strings.Contains(out, "messages 3\n") || !strings.Contains(out, "last_seq_id 3\n") {
		t.Fatalf("--stats: exit %d, %q %s", code, out, stderr)
	}
	out, _, code = b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", "history.db", "--since", "0")
	if code != 0 {
		t.Fatalf("--since: exit %d", code)
	}
	checkRun(t, printed(t, out), 1, 3)
}

// The history in PostgreSQL: ackmsg-replay reads it with --store URL while the publisher runs
// (a read-only open takes no lock), and a restarted publisher continues the numbering. The
// URL's password appears in no output.
func TestReplayCommandPostgres(t *testing.T) {
	u, err := url.Parse(pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret") // the test server trusts every login
	dsn := u.String()
	appAddr, replayAddr := testbus.Addr(t), testbus.Addr(t)
	b := NewBus(t, BusOptions{Certs: []string{"app"}, Endpoints: map[string]string{"app": appAddr},
		Extra: fmt.Sprintf("persistent_store = %q\nreplay_endpoints = { app = %q }\nreplay_timeout = 2\n", dsn, replayAddr)})
	app, appProc := startApp(t, b)
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	recorded(t, b, 3)
	out, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", dsn, "--stats")
	if code != 0 || !strings.Contains(out, "messages 3\n") || !strings.Contains(out, "last_seq_id 3\n") {
		t.Fatalf("--stats while the publisher runs: exit %d, %q %s", code, out, stderr)
	}
	out, stderr, code = b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", dsn, "--seq", "2-3")
	if code != 0 {
		t.Fatalf("--seq 2-3: exit %d: %s", code, stderr)
	}
	checkRun(t, printed(t, out), 2, 3)
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", dsn, "--seq", "9"); code != 1 || !strings.Contains(stderr, "no match") {
		t.Fatalf("--seq 9: exit %d, %s", code, stderr)
	}

	app.Close()
	if code := appProc.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("app exit %d", code)
	}
	app, appProc = startApp(t, b)
	fmt.Fprintln(app, "m4")
	recorded(t, b, 4)
	out, _, code = b.Run(20*time.Second, "", "ackmsg-replay", "--name", "app", "--store", dsn, "--since", "0")
	if code != 0 {
		t.Fatalf("--since: exit %d", code)
	}
	checkRun(t, printed(t, out), 1, 4)
	app.Close()
	if code := appProc.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("app exit %d", code)
	}
	logs := appProc.Stderr.String()
	if !strings.Contains(logs, "history open") || strings.Contains(logs, "s3cret") {
		t.Fatalf("the publisher's log (want \"history open\", without the password):\n%s", logs)
	}
}
