package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	pub, err := config.NewPublisher(t.Context(), cfg, publisher.WithModname("app"))
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
	if _, err := pub.Sequence(t.Context(), func(extra publisher.PublishOption) (*message.Message, []byte, error) {
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

// Scenario 7: ackmsg-tail --state catches up from a Python fedmsg publisher's ReplayContext
// (fedmsg's replay server, over a store with SqlStore's semantics: the driver's MemoryStore,
// since SqlStore needs SQLAlchemy). SqlStore fails every seq_id_range query, so the tail falls
// back to seq_ids lists. Python adds seq_id after signing, so the envelopes do not validate
// (in Python either): the tail runs with --no-validate.
func TestTailCatchesUpFromPythonReplayContext(t *testing.T) {
	appAddr, replayAddr := testbus.Addr(t), testbus.Addr(t)
	pb := newPyBus(t, []string{"app"}, map[string][]string{"pyapp": {appAddr}}, map[string]string{"pyapp": "app"})
	py := fmt.Sprintf("config = {'replay_endpoints': {'pyapp': %q}}\n", replayAddr)
	if err := os.WriteFile(filepath.Join(pb.PyDir, "fedmsg.d", "replay.py"), []byte(py), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(pb.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[replay_endpoints]\npyapp = %q\n", replayAddr)
	f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pyPub := pb.startPy(t, r, "replay-pub", "--name", "pyapp")
	waitUntil(t, 30*time.Second, "the Python publisher", func() bool { return len(events(t, pyPub, "ready")) > 0 }, pyPub)
	state := filepath.Join(pb.Dir, "s.json")
	const topic = "org.example.test.pyapp."
	tail1 := pb.Start("ackmsg-tail", "--no-validate", "--json", "--state", state, "--count", "1", "--timeout", "30", "--topic", topic)
	for !tail1.Exited() { // probes until the tail has one (slow joiner)
		fmt.Fprintln(w, "pub probe")
		select {
		case <-tail1.done:
		case <-time.After(100 * time.Millisecond): // probe pacing
		}
	}
	if tail1.code != 0 {
		t.Fatalf("first tail exit %d:\n%s", tail1.code, tail1.Stderr.String())
	}
	first := printed(t, tail1.Stdout.String())
	if len(first) != 1 {
		t.Fatalf("first tail printed %v", first)
	}
	fmt.Fprintln(w, "pub m1")
	fmt.Fprintln(w, "pub m2")
	var last int64
	waitUntil(t, 20*time.Second, "m1 and m2 published", func() bool {
		ev := events(t, pyPub, "published")
		n, _ := ev[len(ev)-1]["seq_id"].(float64)
		last = int64(n)
		return len(ev) >= 2 && int(last) == len(ev) && len(ev) >= int(first[0].Seq)+2
	}, pyPub)
	want := int(last - first[0].Seq)
	tail2 := pb.Start("ackmsg-tail", "--no-validate", "--json", "--state", state, "--count", fmt.Sprint(want), "--timeout", "30", "--topic", topic)
	if code := tail2.Wait(t, 40*time.Second); code != 0 {
		t.Fatalf("second tail exit %d:\n%s", code, tail2.Stderr.String())
	}
	got := printed(t, tail2.Stdout.String())
	for i, l := range got {
		if l.Seq != first[0].Seq+1+int64(i) {
			t.Fatalf("caught up %v, want seq_ids %d..%d", got, first[0].Seq+1, last)
		}
	}
	if got[len(got)-2].Msg.Log != "m1" || got[len(got)-1].Msg.Log != "m2" {
		t.Fatalf("caught up %v, want ... m1, m2", got)
	}
	if !strings.Contains(tail2.Stderr.String(), fmt.Sprintf("fetched=%d", want)) {
		t.Fatalf("the messages did not come from the catch-up:\n%s", tail2.Stderr.String())
	}
	t.Logf("caught up %d messages (seq_ids %d..%d) from fedmsg's ReplayContext", len(got), got[0].Seq, last)
}
