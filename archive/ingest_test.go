package archive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// chanSource is a Source fed by a test.
type chanSource struct {
	c   chan Delivery
	err error // returned once c is closed
}

func (s *chanSource) Next(ctx context.Context) (Delivery, error) {
	select {
	case d, ok := <-s.c:
		if !ok {
			return Delivery{}, s.err
		}
		return d, nil
	case <-ctx.Done():
		return Delivery{}, ctx.Err()
	}
}

func delivery(t *testing.T, r Record, done func(error)) Delivery {
	t.Helper()
	m, err := message.Decode(r.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return Delivery{Message: m, Raw: r.Envelope, Signer: r.Signer, Done: done}
}

// TestIngestAnswersAfterCommit: every message is answered nil only once its row is visible to
// another session (committed), duplicates included; the loop ends with the source's error.
func TestIngestAnswersAfterCommit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BatchSize = 7
	s := openStore(t, cfg)
	src := &chanSource{c: make(chan Delivery), err: errors.New("source closed")}
	in, err := NewIngester(s, src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var mu sync.Mutex
	var problems []string
	var answered sync.WaitGroup
	answered.Add(n + 1)
	go func() {
		for k := range n {
			r := rec(t, "org.fedoraproject.dev.test.ingest", k, map[string]any{"k": k})
			src.c <- delivery(t, r, func(err error) {
				defer answered.Done()
				// Checked from another connection: committed, not only written.
				_, gerr := s.Get(context.Background(), r.MsgID)
				if err != nil || gerr != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s: answered %v, Get %v", r.MsgID, err, gerr))
					mu.Unlock()
				}
			})
		}
		dup := rec(t, "org.fedoraproject.dev.test.ingest", 3, map[string]any{"k": 3})
		src.c <- delivery(t, dup, func(err error) {
			defer answered.Done()
			if err != nil {
				mu.Lock()
				problems = append(problems, "duplicate answered "+err.Error())
				mu.Unlock()
			}
		})
		close(src.c)
	}()
	if err := in.Run(t.Context()); err == nil || err.Error() != "source closed" {
		t.Errorf("Run = %v, want the source's error", err)
	}
	answered.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	st := in.Stats()
	if st.Received != n+1 || st.Stored != n || st.Duplicates != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// failingWriter fails every Insert.
type failingWriter struct{}

func (failingWriter) Insert(context.Context, []Record) (int, error) {
	return 0, errors.New("disk on fire")
}
func (failingWriter) Prune(context.Context, time.Time) (int64, error) {
	return 0, nil
}

// TestIngestFailureIsNoAnswer: a commit that fails answers its messages with the error (so
// no ACK), and a cancelled context ends Run with nil after every message read was answered.
func TestIngestFailureIsNoAnswer(t *testing.T) {
	src := &chanSource{c: make(chan Delivery)}
	in, err := NewIngester(failingWriter{}, src, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	go func() {
		src.c <- delivery(t, rec(t, "org.fedoraproject.dev.test.fail", 1, nil), func(err error) { got <- err })
	}()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	if err := <-got; err == nil {
		t.Error("a failed commit answered nil (would ACK)")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// TestIngestRetention: with Retention, the loop deletes what is older (here: the messages more
// than 50 s before the clock's base+100 s) while it runs, and the counts follow.
func TestIngestRetention(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention = 50 * time.Second
	cfg.PruneInterval = 10 * time.Millisecond
	cfg.Now = func() time.Time { return base.Add(100 * time.Second) }
	s := openStore(t, cfg)
	load(t, s, 100)
	in, err := NewIngester(s, &chanSource{c: make(chan Delivery)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for in.Stats().Pruned < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("pruned %d within 10 s, want 50", in.Stats().Pruned)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter the loop advances
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	res, err := s.Search(t.Context(), Query{Limit: 100})
	if err != nil || res.Total != 50 || len(res.Records) != 50 || secs(res)[0] != 50 {
		t.Errorf("after retention: total %d, %d records from %v, %v; want 50 from 50", res.Total, len(res.Records), secs(res)[:1], err)
	}
}
