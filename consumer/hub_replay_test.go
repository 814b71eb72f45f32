package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/replay"
)

func stateOf(t *testing.T, path string) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		LastSeqIDs map[string]int64 `json:"last_seq_ids"`
	}
	// The file is a log of states, one a line; the last is current (replay/state.go).
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if err := json.Unmarshal(lines[len(lines)-1], &doc); err != nil {
		t.Fatal(err)
	}
	return doc.LastSeqIDs
}

// A hub's state file records a message only once its consumer finished it: messages still in
// the inbox when the hub stops are not recorded, so the restarted hub catches up on them
// (issue 27, defect 4: the state counted them as delivered and plain messages were lost).
func TestHubStateRecordsOnlyFinishedMessages(t *testing.T) {
	pub, cfg := replayBus(t, nil)
	cfg.ReplayState = filepath.Join(t.TempDir(), "state.json")
	cfg.Hub.ShutdownTimeout = 0.2
	var mu sync.Mutex
	var seen []int64
	record := func(m *message.Message) {
		n, _ := replay.SeqID(m)
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
	}
	started2 := make(chan struct{})
	run := func(c consumer.Consumer) (*consumer.Hub, context.CancelFunc, chan error) {
		h, err := config.NewHub(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Add(c, consumer.DefaultConsumerConfig("c")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx); close(done) }() // a second receive gets nil
		t.Cleanup(func() { cancel(); <-done })
		return h, cancel, done
	}
	// First run: seq_id 1 is processed; 2 blocks until the shutdown cancels it; 3..5 wait.
	h, cancel, done := run(consumer.Func(func(ctx context.Context, m *message.Message) error {
		if n, _ := replay.SeqID(m); n == 2 {
			close(started2)
			<-ctx.Done()
			return ctx.Err()
		}
		record(m)
		return nil
	}, "#"))
	ctx := testbus.Within(t, 15*time.Second)
	if err := h.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 5; n++ {
		if _, err := pub.Publish(ctx, "t", n); err != nil {
			t.Fatal(err)
		}
	}
	<-started2
	for h.Stats().Received < 5 {
		select {
		case <-ctx.Done():
			t.Fatalf("the hub read %d of 5 messages", h.Stats().Received)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, cfg.ReplayState)["svc.host"]; got != 1 {
		t.Fatalf("state after the first run: seq_id %d, want 1 (2 was cut, 3..5 never started)", got)
	}

	// Second run: catches up on 2..5.
	_, cancel2, done2 := run(consumer.Func(func(_ context.Context, m *message.Message) error {
		record(m)
		return nil
	}, "#"))
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 5 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("processed %v, want 1..5", seen)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel2()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []int64{1, 2, 3, 4, 5}) {
		t.Fatalf("processed %v, want 1..5 once each", seen)
	}
	if got := stateOf(t, cfg.ReplayState)["svc.host"]; got != 5 {
		t.Fatalf("state after the second run: seq_id %d, want 5", got)
	}
}
