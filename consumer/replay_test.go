package consumer_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// replayBus is bus with a signed, numbered publisher serving its replay endpoint.
func replayBus(t *testing.T, tune func(*config.Config)) (*publisher.Publisher, *config.Config) {
	t.Helper()
	cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(t)}})
	cfg.Name = "svc.host"
	configtest.Sign(cfg, "pub01")
	cfg.PersistentStore = filepath.Join(t.TempDir(), "history.db")
	cfg.ReplayEndpoints = config.StringMap{"svc.host": testbus.Addr(t)}
	cfg.ReplayTimeout = 2
	if tune != nil {
		tune(cfg)
	}
	pub, err := config.NewPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	if !pub.Numbered() || pub.ReplayAddr() == "" {
		t.Fatalf("publisher numbered %v, replay at %q", pub.Numbered(), pub.ReplayAddr())
	}
	return pub, cfg
}

func subscribe(t *testing.T, pub *publisher.Publisher, cfg *config.Config, topic string) *consumer.Subscriber {
	t.Helper()
	sub, err := config.NewSubscriber(cfg, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ctx := testbus.Within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, topic); err != nil {
		t.Fatal(err)
	}
	return sub
}

// lose numbers and records a message without sending it: what a network cut does.
func lose(t *testing.T, pub *publisher.Publisher, topic string, body any) {
	t.Helper()
	_, err := pub.Sequence(t.Context(), func(extra publisher.PublishOption) (*message.Message, []byte, error) {
		m, err := pub.Build(topic, body, extra)
		if err != nil {
			return nil, nil, err
		}
		f, err := m.Marshal()
		return m, f, err
	}, func(*message.Message, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
}

func seqOf(t *testing.T, d consumer.Delivery) int64 {
	t.Helper()
	n, ok := replay.SeqID(d.Message)
	if !ok {
		t.Fatalf("delivery without seq_id: %v", d.Message.Fields())
	}
	return n
}

func TestGapFilledByReplay(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	sub := subscribe(t, pub, cfg, "")
	ctx := testbus.Within(t, 10*time.Second)
	if _, err := pub.Publish(ctx, "t", map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for n := 2; n <= 4; n++ {
		lose(t, pub, "t", map[string]any{"n": n})
	}
	if _, err := pub.Publish(ctx, "t", map[string]any{"n": 5}); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 5; want++ {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := seqOf(t, d); got != want || d.Signer == nil || d.Replayed != (want >= 2 && want <= 4) {
			t.Fatalf("delivery %d: seq_id %d, signer %v, replayed %v", want, got, d.Signer, d.Replayed)
		}
	}
	st := sub.Stats().Replay
	if st.Gaps != 1 || st.Recovered != 3 || st.Unrecoverable != 0 || st.Queries != 1 {
		t.Fatalf("replay stats %+v", st)
	}
	if s := pub.ReplayStats(); s.Queries != 1 || s.Messages != 3 {
		t.Fatalf("server stats %+v", s)
	}
}

func TestGapBeyondRetention(t *testing.T) {
	pub, cfg := replayBus(t, func(c *config.Config) { c.HistoryMaxMessages = 3 })
	sub := subscribe(t, pub, cfg, "")
	ctx := testbus.Within(t, 10*time.Second)
	pub.Publish(ctx, "t", 1)
	for n := 2; n <= 7; n++ { // 2..7 lost; retention keeps 5..7 (then 6..8)
		lose(t, pub, "t", n)
	}
	pub.Publish(ctx, "t", 8)
	var got []int64
	for range 4 {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, seqOf(t, d))
	}
	if fmt.Sprint(got) != "[1 6 7 8]" {
		t.Fatalf("delivered %v, want [1 6 7 8]", got)
	}
	if st := sub.Stats().Replay; st.Unrecoverable != 4 || st.Lost != 1 || st.Recovered != 2 {
		t.Fatalf("replay stats %+v: want 4 unrecoverable in one gap", st)
	}
}

func TestGapEndpointDown(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	c2 := *cfg
	c2.ReplayEndpoints = config.StringMap{"svc.host": testbus.Addr(t)} // nobody there
	c2.ReplayTimeout = 0.2
	sub := subscribe(t, pub, &c2, "")
	ctx := testbus.Within(t, 10*time.Second)
	pub.Publish(ctx, "t", 1)
	lose(t, pub, "t", 2)
	lose(t, pub, "t", 3)
	pub.Publish(ctx, "t", 4)
	pub.Publish(ctx, "t", 5)
	var got []int64
	for range 3 {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, seqOf(t, d))
	}
	if fmt.Sprint(got) != "[1 4 5]" {
		t.Fatalf("delivered %v", got)
	}
	if st := sub.Stats().Replay; st.Unrecoverable != 2 || st.QueryErrors != 1 {
		t.Fatalf("replay stats %+v", st)
	}
}

// A restarted subscriber with a state file catches up on what was published while it was away,
// and only that, then continues live.
func TestStateCatchUp(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	cfg.ReplayState = filepath.Join(t.TempDir(), "state.json")
	ctx := testbus.Within(t, 15*time.Second)
	sub, err := config.NewSubscriber(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pub.WaitSubscribed(ctx, "")
	for n := 1; n <= 3; n++ {
		pub.Publish(ctx, "t", n)
	}
	for want := int64(1); want <= 3; want++ {
		d, err := sub.Next(ctx)
		if err != nil || seqOf(t, d) != want {
			t.Fatalf("first run: %v", err)
		}
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	for n := 4; n <= 9; n++ { // nobody listens
		pub.Publish(ctx, "t", n)
	}
	sub2 := subscribe(t, pub, cfg, "")
	for want := int64(4); want <= 9; want++ {
		d, err := sub2.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := seqOf(t, d); got != want || !d.Replayed {
			t.Fatalf("catch-up: seq_id %d replayed %v, want %d replayed", got, d.Replayed, want)
		}
	}
	pub.Publish(ctx, "t", 10)
	d, err := sub2.Next(ctx)
	if err != nil || seqOf(t, d) != 10 || d.Replayed {
		t.Fatalf("live after catch-up: %v %v", err, d.Replayed)
	}
}

// Replayed messages are filtered by the subscription's prefixes like live ones.
func TestReplayRespectsPrefix(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	sub := subscribe(t, pub, cfg, "org.example.test.svc.a")
	ctx := testbus.Within(t, 10*time.Second)
	pub.Publish(ctx, "a", 1)
	lose(t, pub, "b", 2)
	lose(t, pub, "a", 3)
	pub.Publish(ctx, "a", 4)
	var got []int64
	for range 3 {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, seqOf(t, d))
	}
	if fmt.Sprint(got) != "[1 3 4]" {
		t.Fatalf("delivered %v, want [1 3 4]", got)
	}
}

// A consumer catching up from the start while the publisher is starting: what the publisher
// sends between the subscription and the replay reply arrives twice, in the reply and live,
// and the live copies are read after the reply. They are duplicates: seq_ids 1..3 are
// delivered once, and no reset is reported (issue 27, defect 3: seq_ids 1..N printed twice,
// with "its history was reset?").
func TestCatchUpFromStartWhilePublisherStarts(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	cfg.ReplayState = filepath.Join(t.TempDir(), "state.json")
	sub, err := config.NewSubscriber(cfg, "", consumer.WithReplayFromStart())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	ctx := testbus.Within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// Live and recorded before the first Next asks the replay endpoint.
	for n := 1; n <= 3; n++ {
		if _, err := pub.Publish(ctx, "t", n); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for range 3 {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d/%v", seqOf(t, d), d.Replayed))
	}
	if _, err := pub.Publish(ctx, "t", 4); err != nil {
		t.Fatal(err)
	}
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, fmt.Sprintf("%d/%v", seqOf(t, d), d.Replayed))
	if fmt.Sprint(got) != "[1/true 2/true 3/true 4/false]" {
		t.Fatalf("delivered %v, want 1..3 replayed then 4 live, each once", got)
	}
	if st := sub.Stats().Replay; st.Resets != 0 || st.Duplicates != 3 {
		t.Fatalf("replay stats %+v: want the 3 live copies counted as duplicates, no reset", st)
	}
}
