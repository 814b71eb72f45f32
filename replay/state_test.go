package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func stateLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// The state is a log: each save appends a line (no rename per message), a reopen reads the
// last one, and close leaves the one-line file earlier versions read.
func TestStateFileAppendsAndCloseLeavesOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st, last, err := openState(path)
	if err != nil || len(last) != 0 {
		t.Fatalf("open: %v %v", last, err)
	}
	for n := int64(1); n <= 5; n++ {
		if err := st.save(map[string]int64{"app": n}, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := stateLines(t, path); len(got) != 5 {
		t.Fatalf("after 5 saves the file has %d lines, want 5 (appended):\n%s", len(got), strings.Join(got, "\n"))
	}
	// A consumer killed now: the next one reads the last line.
	if _, last, err := openState(path); err != nil || last["app"] != 5 {
		t.Fatalf("reopened while open: %v %v", last, err)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	if got := stateLines(t, path); len(got) != 1 || got[0] != `{"version":1,"last_seq_ids":{"app":5}}` {
		t.Fatalf("after close: %q", got)
	}
	if st.f != nil {
		t.Fatal("close left the file open")
	}
}

// A torn last line (a crash or a full disk in the middle of an append) or zeros where the
// machine crashed before the data reached the disk: the line before it is the state.
func TestStateFileSkipsATornEnd(t *testing.T) {
	for name, tail := range map[string]string{
		"torn":   `{"version":1,"last_seq_ids":{"ap`,
		"zeros":  string(make([]byte, 40)),
		"joined": `{"version":1,"last_se{"version":1,"last_seq_ids":{"app":9}}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			data := `{"version":1,"last_seq_ids":{"app":3}}` + "\n" + `{"version":1,"last_seq_ids":{"app":4}}` + "\n" + tail
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, last, err := openState(path)
			if err != nil || last["app"] != 4 {
				t.Fatalf("got %v %v, want app=4", last, err)
			}
		})
	}
}

// What is not a state at all is still refused, and so is another version.
func TestStateFileRefusesWhatIsNotAState(t *testing.T) {
	for name, c := range map[string]struct{ data, want string }{
		"garbage": {"hello\n", "not a consumer state"},
		"other":   {`{"cursor":3}` + "\n", "not a consumer state"},
		"version": {`{"version":1,"last_seq_ids":{}}` + "\n" + `{"version":2,"last_seq_ids":{}}` + "\n", "version 2"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := openState(path); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Past stateCompactAt the file is rewritten to its last line, so it stays small.
func TestStateFileCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st, _, err := openState(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	for n := int64(1); n <= 5000; n++ {
		if err := st.save(map[string]int64{"app": n}, 0); err != nil {
			t.Fatal(err)
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > stateCompactAt {
		t.Fatalf("the file is %d bytes, past %d", info.Size(), stateCompactAt)
	}
	data, _ := os.ReadFile(path)
	if last, err := lastState(data); err != nil || last["app"] != 5000 {
		t.Fatalf("last = %v %v", last, err)
	}
	if n := bytes.Count(data, []byte("\n")); n >= 5000 {
		t.Fatalf("%d lines: never compacted", n)
	}
}
