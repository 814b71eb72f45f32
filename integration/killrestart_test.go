package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// killTotal messages, consumers killed killCount times.
const killTotal, killCount = 1000, 3

// killPoints are killCount random output line counts, increasing, well inside killTotal, so
// every kill lands while the consumer is working through the stream.
func killPoints(t *testing.T) []int {
	seed := time.Now().UnixNano()
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	var pts []int
	for i := range killCount {
		pts = append(pts, 100+i*250+r.IntN(200))
	}
	t.Logf("kill points %v (seed %d)", pts, seed)
	return pts
}

// midStream fails unless a consumer killed after printing lines had more to do.
func midStream(t *testing.T, lines int) {
	t.Helper()
	if lines >= killTotal {
		t.Fatalf("killed after %d lines: the stream was over, not a kill in the middle of it", lines)
	}
	t.Logf("killed after %d lines", lines)
}

// checkKilledRun fails unless the bodies ("m<n>", in output order) hold 1..killTotal, nothing
// missing, in order, and each repeat is the message printed just before (the one being
// processed at a kill), at most one per kill.
func checkKilledRun(t *testing.T, bodies []string, kills int) {
	t.Helper()
	top, repeats := 0, 0
	for i, b := range bodies {
		n, err := strconv.Atoi(strings.TrimPrefix(b, "m"))
		if err != nil {
			t.Fatalf("output line %d: body %q", i, b)
		}
		switch {
		case n == top+1:
			top = n
		case n == top:
			repeats++
		case n < top:
			t.Fatalf("output line %d is m%d after m%d: more than the message being processed came again", i, n, top)
		default:
			t.Fatalf("output line %d is m%d after m%d: messages missing", i, n, top)
		}
	}
	if top != killTotal {
		t.Fatalf("output ends at m%d, want m%d", top, killTotal)
	}
	if repeats > kills {
		t.Fatalf("%d messages repeated after %d kills, want at most one per kill", repeats, kills)
	}
	t.Logf("%d lines: m1..m%d, %d repeated after %d kills", len(bodies), killTotal, repeats, kills)
}

// feedRate paces the publisher (250 messages a second; the report had about 500) so
// that the consumer is killed while messages keep coming, not after it read them all.
const feedRate = 4 * time.Millisecond

// feed starts the numbered publisher and writes m1..m<killTotal> to it at feedRate; the
// returned channel yields the write error (or nil) at the end.
func feed(t *testing.T, b *Bus) <-chan error {
	t.Helper()
	app, _ := startApp(t, b)
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(feedRate)
		defer tick.Stop()
		for n := 1; n <= killTotal; n++ {
			<-tick.C
			if _, err := fmt.Fprintf(app, "m%d\n", n); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// completeLines is s up to its last newline: a file another process is appending to may end in
// a line it is still writing (a reader can see part of a write(2) to a regular file).
func completeLines(s string) string { return s[:strings.LastIndex(s, "\n")+1] }

// A consumer with a state file killed with -9 three times at random points while 1000
// messages flow: restarted each time, it catches up from its state; in the end it has output
// every message, in order, and repeated at most the one message it was processing at each kill
// (issue 27, defect 4: the state was written every 200 ms, and 12 to 123 messages came twice).
func TestReplayKilledConsumerRepeatsAtMostOne(t *testing.T) {
	t.Run("tail", func(t *testing.T) {
		b, _, _ := replayBus(t, "history_fsync = false")
		out := filepath.Join(b.Dir, "out")
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		start := func() *Proc {
			return b.StartTo(f, "ackmsg-tail", "--json", "--state", filepath.Join(b.Dir, "s.json"), "--from-start",
				"--topic", "org.example.test.logger", "--log-level", "info")
		}
		bodies := func() []string {
			var bs []string
			for _, l := range printed(t, completeLines(readFile(t, out))) {
				bs = append(bs, l.Msg.Log)
			}
			return bs
		}
		tail := start()
		fed := feed(t, b)
		for _, pt := range killPoints(t) {
			testbus.Eventually(t, 60*time.Second, fmt.Sprintf("the tail printing %d lines", pt), func() bool { return len(bodies()) >= pt })
			tail.Kill(t)
			midStream(t, len(bodies()))
			tail = start()
		}
		if err := <-fed; err != nil {
			t.Fatal(err)
		}
		recorded(t, b, killTotal)
		testbus.Eventually(t, 60*time.Second, "the tail printing m1000", func() bool {
			bs := bodies()
			return len(bs) > 0 && bs[len(bs)-1] == fmt.Sprint("m", killTotal)
		})
		if code := tail.Stop(t); code != 0 {
			t.Fatalf("tail exit %d:\n%s", code, tail.Stderr.String())
		}
		if o := readFile(t, out); !strings.HasSuffix(o, "\n") {
			t.Fatalf("the output ends in a torn line: %q", o[strings.LastIndex(o, "\n")+1:])
		}
		checkKilledRun(t, bodies(), killCount)
	})
	t.Run("hub", func(t *testing.T) {
		b := NewBus(t, BusOptions{Certs: []string{"app", "hub"}, Endpoints: map[string]string{"app": testbus.Addr(t)},
			Extra: fmt.Sprintf(`persistent_store = "history.db"
replay_endpoints = { app = %q }
replay_timeout = 2
history_fsync = false
replay_state = "hub.state"

[[hub.consumers]]
name = "journal"
kind = "file"
topics = ["org.example.test.logger.#"]
path = "journal.jsonl"
fsync = "never"
`, testbus.Addr(t))})
		b.Start("ackmsg-relay").WaitLog(t, "relay ready") // the hub's ACKs go through it
		// A state that knows app at seq_id 0: the first hub fetches app's history from the start,
		// whatever it missed before its subscription was in place.
		if err := os.WriteFile(filepath.Join(b.Dir, "hub.state"), []byte(`{"version":1,"last_seq_ids":{"app":0}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		journal := filepath.Join(b.Dir, "journal.jsonl")
		journaled := func() []string { return parseLogs(t, journal, completeLines(readFile(t, journal))) }
		start := func() *Proc { return b.Start("ackmsg-hub", "--certname", "hub", "--log-level", "info") }
		hub := start()
		fed := feed(t, b)
		for _, pt := range killPoints(t) {
			testbus.Eventually(t, 60*time.Second, fmt.Sprintf("the hub journaling %d messages", pt), func() bool { return len(journaled()) >= pt })
			hub.Kill(t)
			midStream(t, len(journaled()))
			hub = start()
		}
		if err := <-fed; err != nil {
			t.Fatal(err)
		}
		recorded(t, b, killTotal)
		testbus.Eventually(t, 60*time.Second, "the hub journaling m1000", func() bool {
			ls := journaled()
			return len(ls) > 0 && ls[len(ls)-1] == fmt.Sprint("m", killTotal)
		})
		if code := hub.Stop(t); code != 0 {
			t.Fatalf("hub exit %d:\n%s", code, hub.Stderr.String())
		}
		checkKilledRun(t, readLogs(t, journal), killCount)
	})
}
