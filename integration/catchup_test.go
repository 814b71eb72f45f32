package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/faultproxy"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// ackmsg-tail --state --from-start started as the publisher starts: the publisher's first
// messages reach the tail live while its catch-up query waits for the reply (held here by a
// stalled proxy in front of the replay endpoint), so they arrive twice, in the reply and live,
// the live copies after the reply. The tail prints each once and warns of no reset (issue 27,
// defect 3: seq_ids 1..N printed twice with "its history was reset?").
func TestReplayFromStartWhilePublisherStartsPrintsOnce(t *testing.T) {
	b, _, replayAddr := replayBus(t, "history_fsync = false")
	app, _ := startApp(t, b)
	proxy, err := faultproxy.New("127.0.0.1:0", strings.TrimPrefix(replayAddr, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Stall(true)
	// The tail's own configuration: its replay queries go through the proxy, with time to wait.
	conf := readFile(t, b.Config)
	conf = strings.Replace(conf, fmt.Sprintf("app = %q", replayAddr), fmt.Sprintf("app = %q", "tcp://"+proxy.Addr()), 1)
	conf = strings.Replace(conf, "replay_timeout = 2\n", "replay_timeout = 30\n", 1)
	if !strings.Contains(conf, proxy.Addr()) || !strings.Contains(conf, "replay_timeout = 30") {
		t.Fatalf("configuration not rewritten:\n%s", conf)
	}
	tailConf := filepath.Join(b.Dir, "tail.toml")
	if err := os.WriteFile(tailConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := b.Start("ackmsg-tail", "--config", tailConf, "--json", "--state", filepath.Join(b.Dir, "s.json"), "--from-start",
		"--count", "4", "--timeout", "60", "--topic", "org.example.test.logger", "--log-level", "info")
	// Its catch-up query is out (through the stalled proxy): the tail is subscribed, and
	// settled, before the publisher sends anything.
	tail.WaitLog(t, "endpoint connected")
	testbus.Eventually(t, 20*time.Second, "the tail's catch-up query", func() bool { return proxy.Accepted() > 0 })
	for n := 1; n <= 3; n++ {
		fmt.Fprintf(app, "m%d\n", n)
	}
	recorded(t, b, 3)
	proxy.Stall(false) // the reply brings 1..3; the live copies wait in the tail's socket
	testbus.Eventually(t, 20*time.Second, "the tail printing m3", func() bool { return strings.Contains(tail.Stdout.String(), `"m3"`) })
	fmt.Fprintf(app, "m4\n")
	if code := tail.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("tail exit %d:\n%s", code, tail.Stderr.String())
	}
	checkRun(t, printed(t, tail.Stdout.String()), 1, 4)
	if strings.Contains(tail.Stderr.String(), "started again at 1") {
		t.Fatalf("a false reset was reported:\n%s", tail.Stderr.String())
	}
}
