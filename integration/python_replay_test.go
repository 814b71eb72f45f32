package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// Scenario 6: the real Python fedmsg.tail_messages, with replay_endpoints pointing at an ackmsg
// replay endpoint, recovers a message it missed, and validates it. fedmsg's client asks
// {"seq_id_range": [last, seq]} and delivers only the first envelope of the reply (its bug):
// with the inclusive range that would be `last` again, so the history keeps 2 messages, and the
// first one of the reply is the missed one. The driver then calls fedmsg.replay.get_replay
// itself, which parses the whole multipart reply; every envelope validates in Python, seq_id
// included (we sign it; fedmsg does not).
func TestPythonTailRecoversFromOurReplayEndpoint(t *testing.T) {
	appAddr, replayAddr := testbus.Addr(t), testbus.Addr(t)
	pb := newPyBus(t, []string{"app"}, map[string][]string{"app": {appAddr}}, nil)
	py := fmt.Sprintf("config = {'replay_endpoints': {'app': %q}}\n", replayAddr)
	if err := os.WriteFile(filepath.Join(pb.PyDir, "fedmsg.d", "replay.py"), []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: pb.Config})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Certname = "app", "app"
	cfg.PersistentStore = filepath.Join(pb.Dir, "history.db")
	cfg.ReplayEndpoints = config.StringMap{"app": replayAddr}
	cfg.HistoryMaxMessages = 2
	pub, err := publisher.New(cfg, publisher.WithModname("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	tail := pb.startPy(t, nil, "replay-tail", "--topic", "org.example.test.app.", "--stop-body", "missed")
	waitUntil(t, 30*time.Second, "the Python tail to start", func() bool { return len(events(t, tail, "starting")) > 0 }, tail)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Probes until the tail has one (the slow joiner drops the first ones); then the last probe
	// sent must arrive too, on the established connection.
	var last int64
	for len(events(t, tail, "received")) == 0 {
		m, err := pub.Publish(ctx, "probe", map[string]any{"log": "probe"})
		if err != nil {
			t.Fatal(err)
		}
		last, _ = replay.SeqID(m)
		if tail.Exited() {
			t.Fatalf("Python tail exited (%d)", tail.code)
		}
		select {
		case <-ctx.Done():
			t.Fatal("no probe reached the Python tail")
		case <-time.After(100 * time.Millisecond): // probe pacing, as the other interop tests
		}
	}
	waitUntil(t, 20*time.Second, fmt.Sprintf("probe seq_id %d at the Python tail", last), func() bool {
		for _, e := range events(t, tail, "received") {
			if n, _ := e["seq_id"].(float64); int64(n) == last {
				return true
			}
		}
		return false
	}, tail)
	// seq_id last+1 is recorded and never sent (a network cut); last+2 reveals the gap.
	var missed *message.Message
	if _, err := pub.Sequence(func(extra publisher.PublishOption) (*message.Message, []byte, error) {
		m, err := pub.Build("work", map[string]any{"log": "missed"}, extra)
		if err != nil {
			return nil, nil, err
		}
		missed = m
		f, err := m.Marshal()
		return m, f, err
	}, func(*message.Message, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	after, err := pub.Publish(ctx, "work", map[string]any{"log": "after"})
	if err != nil {
		t.Fatal(err)
	}
	if code := tail.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("Python tail exit %d", code)
	}
	var got pyEvent
	for _, e := range events(t, tail, "received") {
		if e.str("msg_id") == missed.MsgID() {
			got = e
		}
		if !e.bool("validate") {
			t.Errorf("fedmsg.crypto.validate is false for %v", e)
		}
	}
	if got == nil {
		t.Fatalf("the Python tail did not recover the missed message %s", missed.MsgID())
	}
	if n, _ := got["seq_id"].(float64); int64(n) != last+1 {
		t.Fatalf("recovered message has seq_id %v, want %d", got["seq_id"], last+1)
	}
	rep := events(t, tail, "replayed")
	if len(rep) != 2 || rep[0].str("msg_id") != missed.MsgID() || rep[1].str("msg_id") != after.MsgID() ||
		!rep[0].bool("validate") || !rep[1].bool("validate") {
		t.Fatalf("get_replay of seq_ids %d and %d: %v", last+1, last+2, rep)
	}
	if st := pub.ReplayStats(); st.Queries != 2 || st.Errors != 0 {
		t.Fatalf("replay endpoint stats %+v: want fedmsg's gap query and get_replay", st)
	}
	t.Logf("fedmsg.tail_messages recovered seq_id %d from our endpoint and validated it; get_replay validated %d envelopes", last+1, len(rep))
}
