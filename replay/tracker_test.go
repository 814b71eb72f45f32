package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The interleaving of a catch-up from the start while the publisher is starting: the replay
// reply brings seq_ids 1..3, and the live copies of 1..3, which arrived in the socket while the
// reply was fetched, are read after it. They are duplicates, not a reset (issue 27, defect 3:
// the tail printed 1..3 twice and warned that the publisher's history was reset).
func TestTrackerLateLiveCopiesAfterCatchUpAreDuplicates(t *testing.T) {
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"app": "tcp://127.0.0.1:1"}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := tr.Resume(); r["app"] != 0 {
		t.Fatalf("resume %v, want app from 0", r)
	}
	for n := int64(1); n <= 3; n++ {
		tr.Delivered("app", n, fmt.Sprint("m", n), true)
	}
	for n := int64(1); n <= 3; n++ {
		if v := tr.Check("app", n, fmt.Sprint("m", n)); v != Duplicate {
			t.Fatalf("live copy of seq_id %d after the catch-up: %v, want Duplicate", n, v)
		}
	}
	if v := tr.Check("app", 4, "m4"); v != InOrder {
		t.Fatalf("seq_id 4: %v, want InOrder", v)
	}
	tr.Delivered("app", 4, "m4", false)
	if st := tr.Stats(); st.Resets != 0 || st.Duplicates != 3 || st.Recovered != 3 {
		t.Fatalf("stats %+v: want 3 duplicates, no reset", st)
	}
	// Another message with seq_id 1 is a publisher whose history started again.
	if v := tr.Check("app", 1, "other"); v != Reset {
		t.Fatalf("a new seq_id 1: %v, want Reset", v)
	}
	tr.Delivered("app", 1, "other", false)
	if st := tr.Stats(); st.Resets != 1 {
		t.Fatalf("stats %+v: want the reset counted", st)
	}
	if v := tr.Check("app", 1, "m1"); v != Reset {
		t.Fatalf("the first history's seq_id 1 after the reset: %v, want Reset", v)
	}
}

func readState(t *testing.T, path string) map[string]int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last, err := lastState(data)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// With ExplicitFinish the state records the highest seq_id finished with every one delivered
// before it, whatever order they finish in.
// With FromStart a publisher the state does not know is wanted from its first message: when the
// catch-up at start found nothing (it asked before the publisher's first message reached its
// history, or before the subscription was up), the first live message is a gap back to seq_id 1,
// not the start of the sequence (an integration run printed m43 first: m1..m42 were lost).
// Without FromStart the first live message starts the sequence, as fedmsg does.
func TestTrackerFromStartFirstLiveMessageAfterEmptyCatchUp(t *testing.T) {
	for _, fromStart := range []bool{true, false} {
		tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"app": "tcp://127.0.0.1:1"}, FromStart: fromStart})
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Resume(); fromStart && got["app"] != 0 {
			t.Fatalf("Resume = %v", got)
		}
		want := InOrder
		if fromStart {
			want = Gap
		}
		if v := tr.Check("app", 43, "m43"); v != want {
			t.Errorf("FromStart %v: Check(43) after an empty catch-up = %v, want %v", fromStart, v, want)
		}
		if v := tr.Check("app", 1, "m1"); v != InOrder {
			t.Errorf("FromStart %v: Check(1) = %v, want in order", fromStart, v)
		}
		tr.Close()
	}
}

func TestTrackerExplicitFinish(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"a": "x"}, StatePath: path, ExplicitFinish: true})
	if err != nil {
		t.Fatal(err)
	}
	commit := func() map[string]int64 {
		t.Helper()
		if err := tr.Commit(0); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return map[string]int64{}
		}
		return readState(t, path)
	}
	for n := int64(1); n <= 4; n++ {
		tr.Delivered("a", n, fmt.Sprint("m", n), false)
	}
	if got := commit(); len(got) != 0 {
		t.Fatalf("nothing finished, state %v", got)
	}
	tr.Finished("a", 2)
	tr.Finished("a", 3)
	if got := commit(); len(got) != 0 {
		t.Fatalf("1 unfinished, state %v", got)
	}
	tr.Finished("a", 1)
	if got := commit(); got["a"] != 3 {
		t.Fatalf("1..3 finished, state %v, want a=3", got)
	}
	tr.GiveUp("a", 5, 6, "test") // behind 4, unfinished
	tr.Delivered("a", 7, "m7", false)
	tr.Finished("a", 7)
	if got := commit(); got["a"] != 3 {
		t.Fatalf("4 unfinished, state %v, want a=3", got)
	}
	tr.Finished("a", 4)
	tr.Finished("a", 4) // twice: no effect
	if got := commit(); got["a"] != 7 {
		t.Fatalf("all finished, state %v, want a=7", got)
	}
	if last, _ := tr.Last("a"); last != 7 {
		t.Fatalf("last %d", last)
	}
}

// Without ExplicitFinish a delivered seq_id is recorded at the next Commit.
func TestTrackerFinishedAtDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"a": "x"}, StatePath: path})
	if err != nil {
		t.Fatal(err)
	}
	tr.Delivered("a", 1, "m1", false)
	if err := tr.Commit(0); err != nil {
		t.Fatal(err)
	}
	if got := readState(t, path); got["a"] != 1 {
		t.Fatalf("state %v", got)
	}
}

// BenchmarkStateCommit is the cost of recording one finished message: a line appended to the
// state file (not fsync'd), and now and then the file rewritten to its last line.
func BenchmarkStateCommit(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.json")
	tr, err := NewTracker(TrackerConfig{Endpoints: map[string]string{"app": "x"}, StatePath: path})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for n := int64(1); b.Loop(); n++ {
		tr.Delivered("app", n, "m", false)
		if err := tr.Commit(0); err != nil {
			b.Fatal(err)
		}
	}
}
