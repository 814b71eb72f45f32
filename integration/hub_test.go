package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// hubBus is a bus with a relay and a certificate "hub", whose configuration holds hubTOML (the
// [hub] table and [[hub.consumers]]).
func hubBus(t *testing.T, hubTOML string) *Bus {
	t.Helper()
	b := NewBus(t, BusOptions{Certs: []string{"hub"}, Extra: hubTOML})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	return b
}

// startHub starts ackmsg-hub as "hub" (ACKs through the relay) and waits until it is subscribed.
func startHub(t *testing.T, b *Bus) *Proc {
	t.Helper()
	h := b.Start("ackmsg-hub", "--certname", "hub", "--log-level", "debug")
	h.WaitLog(t, "hub ready")
	h.WaitLog(t, "endpoint connected")
	return h
}

// logger runs ackmsg-logger publishing message with the hub as the recipient.
func logger(t *testing.T, b *Bus, message string, ackTimeout string) (stderr string, code int) {
	t.Helper()
	_, stderr, code = b.Run(60*time.Second, "", "ackmsg-logger", "--recipients", "hub", "--ack-timeout", ackTimeout,
		"--log-level", "info", "--message", message)
	return stderr, code
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// readLines returns the envelopes in a JSON-lines file, by their "log" body.
func readLogs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return parseLogs(t, path, string(data))
}

// parseLogs returns the "log" body of each envelope line of data, read from path.
func parseLogs(t *testing.T, path, data string) []string {
	t.Helper()
	var logs []string
	for _, l := range Lines(data) {
		m, err := message.Decode([]byte(l))
		if err != nil {
			t.Fatalf("%s: bad line %q: %v", path, l, err)
		}
		body, _ := m.Body().(map[string]any)
		s, _ := body["log"].(string)
		logs = append(logs, s)
	}
	return logs
}

// The acceptance: a hub with an exec consumer `sh -c 'cat >> out.jsonl'` for
// org.example.test.# ACKs `ackmsg-logger --recipients hub`, and /metrics shows the counts.
func TestHubAcceptanceExecConsumerAcksLogger(t *testing.T) {
	port := testbus.FreePort(t)
	b := hubBus(t, fmt.Sprintf(`
[hub]
http_address = "127.0.0.1:%d"

[[hub.consumers]]
name = "archive"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "-c", "cat >> out.jsonl"]
`, port))
	h := startHub(t, b)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if code, _ := httpGet(t, base+"/ready"); code != 200 {
		t.Fatalf("/ready: %d", code)
	}
	stderr, code := logger(t, b, "hello hub", "10")
	if code != 0 {
		t.Fatalf("logger exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "acked_by=hub") {
		t.Fatalf("logger did not report the hub's ACK:\n%s", stderr)
	}
	// The ACK came after the command: the line is there already.
	if got := readLogs(t, filepath.Join(b.Dir, "out.jsonl")); len(got) != 1 || got[0] != "hello hub" {
		t.Fatalf("out.jsonl holds %q", got)
	}
	_, metrics := httpGet(t, base+"/metrics")
	for _, line := range []string{
		"ackmsg_hub_messages_received_total 1",
		"ackmsg_hub_messages_completed_total 1",
		"ackmsg_hub_acks_sent_total 1",
		`ackmsg_hub_consumer_received_total{consumer="archive"} 1`,
		`ackmsg_hub_consumer_processed_total{consumer="archive"} 1`,
		`ackmsg_hub_consumer_failed_total{consumer="archive"} 0`,
		`ackmsg_hub_consumer_processing_seconds_count{consumer="archive",outcome="ok"} 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
	if code := h.Stop(t); code != 0 {
		t.Fatalf("hub exit %d after SIGTERM", code)
	}
}

// A failing command produces no ACK: the publisher times out naming the hub.
func TestHubFailingCommandIsNotAcked(t *testing.T) {
	b := hubBus(t, `
[[hub.consumers]]
name = "broken"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "-c", "echo 'no space left' >&2; exit 1"]
`)
	h := startHub(t, b)
	stderr, code := logger(t, b, "doomed", "2")
	if code != 3 {
		t.Fatalf("logger exit %d, want 3 (ACK timeout):\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "missing hub") {
		t.Fatalf("the timeout does not name the hub:\n%s", stderr)
	}
	if s := h.Stderr.String(); !strings.Contains(s, "processing failed") || !strings.Contains(s, "no space left") {
		t.Fatalf("the hub did not log the failure with the command's stderr:\n%s", s)
	}
}

// A command that fails once then succeeds is ACKed after the retransmission; a file consumer on
// the same topics, which succeeded the first time, is not run again.
func TestHubFailOnceThenAckedAfterRetransmission(t *testing.T) {
	b := hubBus(t, `
[[hub.consumers]]
name = "flaky"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "-c", "[ \"$ACKMSG_ATTEMPT\" -ge 2 ] || { echo 'not yet' >&2; exit 1; }; cat >> flaky.jsonl"]

[[hub.consumers]]
name = "journal"
kind = "file"
topics = ["org.example.test.logger.*"]
path = "journal.jsonl"
`)
	h := startHub(t, b)
	stderr, code := logger(t, b, "second time lucky", "15")
	if code != 0 {
		t.Fatalf("logger exit %d:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "sends=1 ") {
		t.Fatalf("ACKed on the first send, before the retransmission:\n%s", stderr)
	}
	if got := readLogs(t, filepath.Join(b.Dir, "flaky.jsonl")); len(got) != 1 || got[0] != "second time lucky" {
		t.Fatalf("flaky.jsonl holds %q", got)
	}
	if got := readLogs(t, filepath.Join(b.Dir, "journal.jsonl")); len(got) != 1 {
		t.Fatalf("journal.jsonl holds %d lines, want 1 (not re-run)", len(got))
	}
	if s := h.Stderr.String(); !strings.Contains(s, "consumer=flaky") || !strings.Contains(s, "attempt=1") || !strings.Contains(s, "not yet") {
		t.Fatalf("the hub did not log the first failure:\n%s", s)
	}
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// A hung command is killed at its timeout, with its whole process group; nothing is ACKed.
func TestHubHungCommandKilledAtTimeout(t *testing.T) {
	b := hubBus(t, `
[hub]
max_attempts = 2

[[hub.consumers]]
name = "hang"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "-c", "sleep 100 & echo $! >> sleep.pids; wait"]
timeout = 0.5
`)
	h := startHub(t, b)
	start := time.Now()
	stderr, code := logger(t, b, "never finishes", "3")
	if code != 3 {
		t.Fatalf("logger exit %d, want 3:\n%s", code, stderr)
	}
	if s := h.Stderr.String(); !strings.Contains(s, "timed out after 500ms") || !strings.Contains(s, "killed (with its process group)") {
		t.Fatalf("the hub did not log the timeout:\n%s", s)
	}
	data, err := os.ReadFile(filepath.Join(b.Dir, "sleep.pids"))
	if err != nil {
		t.Fatal(err)
	}
	pids := Lines(string(data))
	if len(pids) == 0 || len(pids) > 2 {
		t.Fatalf("%d runs, want 1 or 2 (max_attempts = 2)", len(pids))
	}
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		testbus.Eventually(t, 5*time.Second, "sleep "+p+" to be killed", func() bool { return !pidAlive(pid) })
	}
	if len(pids) == 2 {
		h.WaitLog(t, "poison message")
	}
	t.Logf("logger gave up after %s; %d runs killed", time.Since(start).Round(time.Millisecond), len(pids))
}

// SIGTERM during work: the hub takes no new message, finishes what it can before
// shutdown_timeout and kills the rest. Every message whose publisher got the ACK was processed
// (its line is written); none that was not finished was ACKed.
func TestHubSIGTERMLosesNothingAckedAcksNothingUnfinished(t *testing.T) {
	b := hubBus(t, `
[hub]
shutdown_timeout = 2

[[hub.consumers]]
name = "work"
kind = "exec"
topics = ["org.example.test.#"]
command = ["sh", "work.sh"]
workers = 3
`)
	script := `in=$(cat)
touch "started-$ACKMSG_MSG_ID"
case "$in" in
*release-me*) while [ ! -e release ]; do sleep 0.02; done ;;
*hang*) while :; do sleep 0.02; done ;;
esac
printf '%s\n' "$in" >> done.jsonl
`
	if err := os.WriteFile(filepath.Join(b.Dir, "work.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, b)
	started := func() int {
		m, _ := filepath.Glob(filepath.Join(b.Dir, "started-*"))
		return len(m)
	}
	publish := func(msg, timeout string) *Proc {
		return b.StartInput(strings.NewReader(""), "ackmsg-logger", "--recipients", "hub", "--ack-timeout", timeout,
			"--log-level", "info", "--message", msg)
	}

	if stderr, code := logger(t, b, "quick", "10"); code != 0 { // ACKed before SIGTERM
		t.Fatalf("quick: exit %d\n%s", code, stderr)
	}
	slow := publish("release-me", "20") // finishes during the shutdown
	hung := publish("hang", "6")        // still running at the deadline
	testbus.Eventually(t, 20*time.Second, "three messages started", func() bool { return started() == 3 })

	h.cmd.Process.Signal(syscall.SIGTERM)
	h.WaitLog(t, "hub stopping")
	late := publish("too late", "2") // published after SIGTERM: never taken
	if err := os.WriteFile(filepath.Join(b.Dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := slow.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("the message finished during shutdown was not ACKed: exit %d\n%s", code, slow.Stderr.String())
	}
	if code := h.Wait(t, 15*time.Second); code != 0 {
		t.Errorf("hub exit %d after SIGTERM", code)
	}
	if code := hung.Wait(t, 30*time.Second); code != 3 {
		t.Errorf("the unfinished message: logger exit %d, want 3 (not ACKed)\n%s", code, hung.Stderr.String())
	}
	if code := late.Wait(t, 30*time.Second); code != 3 {
		t.Errorf("the message sent after SIGTERM: logger exit %d, want 3\n%s", code, late.Stderr.String())
	}
	done := readLogs(t, filepath.Join(b.Dir, "done.jsonl"))
	if strings.Join(sorted(done), ",") != "quick,release-me" {
		t.Errorf("done.jsonl holds %q, want quick and release-me", done)
	}
	if n := started(); n != 3 {
		t.Errorf("%d messages started, want 3 (none after SIGTERM)", n)
	}
	if s := h.Stderr.String(); !strings.Contains(s, "shutdown deadline passed") || !strings.Contains(s, "hub stopped") {
		t.Errorf("the hub did not log the deadline and the stop:\n%s", s)
	}
}
