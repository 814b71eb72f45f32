package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
)

func fileConsumer(t *testing.T, fsync string) *File {
	t.Helper()
	hc := config.DefaultHubConsumer("audit", config.HubKindFile)
	hc.Topics, hc.Path = []string{"#"}, filepath.Join(t.TempDir(), "audit.jsonl")
	if fsync != "" {
		hc.Fsync = fsync
	}
	f, err := NewFile(hc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Concurrent workers each get their own complete line; with fsync "always" every Consume returned
// only after an fsync that covered its line.
func TestFileAppendsWholeLinesConcurrently(t *testing.T) {
	for _, fsync := range []string{config.HubFsyncAlways, config.HubFsyncNever} {
		t.Run(fsync, func(t *testing.T) {
			f := fileConsumer(t, fsync)
			const workers, each = 8, 40
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						m := testMsg(t, "org.example.test.audit", map[string]any{"w": w, "i": i, "pad": strings.Repeat("x", 100*i)})
						if err := f.Consume(context.Background(), m); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if fsync == config.HubFsyncAlways && f.synced != workers*each {
				t.Errorf("synced through line %d, want %d", f.synced, workers*each)
			}
			data, err := os.ReadFile(f.Path())
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != workers*each {
				t.Fatalf("%d lines, want %d", len(lines), workers*each)
			}
			seen := map[string]bool{}
			for _, l := range lines {
				m, err := message.Decode([]byte(l))
				if err != nil {
					t.Fatalf("line %q: %v", l[:min(len(l), 80)], err)
				}
				seen[m.MsgID()] = true
			}
			if len(seen) != workers*each {
				t.Fatalf("%d distinct msg_ids", len(seen))
			}
		})
	}
}

func TestFileAfterCloseFails(t *testing.T) {
	f := fileConsumer(t, "")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Consume(context.Background(), testMsg(t, "a", 1)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Consume after Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestFileOpenError(t *testing.T) {
	hc := config.DefaultHubConsumer("audit", config.HubKindFile)
	hc.Path = filepath.Join(t.TempDir(), "missing-dir", "x.jsonl")
	_, err := NewFile(hc)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("file consumer %q", "audit")) {
		t.Fatalf("err = %v", err)
	}
}
