package publisher_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

// BenchmarkPublishHistory: unsigned Publish (no subscriber: the cost is building, recording
// and handing to libzmq) without a history, with one fsync'd (history_fsync, the default),
// with one not fsync'd and with one in PostgreSQL (the test server, fsync and
// synchronous_commit on), from 1 and from 8 goroutines (concurrent publishes share commits).
func BenchmarkPublishHistory(b *testing.B) {
	for _, tc := range []struct {
		name                   string
		store, fsync, postgres bool
		goroutines             int
	}{
		{"none/1", false, false, false, 1}, {"fsync/1", true, true, false, 1}, {"nosync/1", true, false, false, 1},
		{"postgres/1", true, true, true, 1},
		{"none/8", false, false, false, 8}, {"fsync/8", true, true, false, 8}, {"nosync/8", true, false, false, 8},
		{"postgres/8", true, true, true, 8},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(b)}})
			cfg.Name = "svc.host"
			if tc.store {
				cfg.PersistentStore = filepath.Join(b.TempDir(), "h.db")
				cfg.HistoryFsync = tc.fsync
			}
			if tc.postgres {
				cfg.PersistentStore = pgtest.Start(b)
			}
			pub, err := config.NewPublisher(b.Context(), cfg, publisher.WithModname("bench"))
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			body := map[string]any{"pad": string(make([]byte, 500))}
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/tc.goroutines + 1
			for range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						if _, err := pub.Publish(ctx, "t", body); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(per*tc.goroutines)/b.Elapsed().Seconds(), "msg/s")
			if tc.store {
				if last, _ := pub.History().Store().LastSeq(b.Context(), "svc.host"); last != int64(per*tc.goroutines) {
					b.Fatalf("last seq_id %d, want %d", last, per*tc.goroutines)
				}
			}
		})
	}
}
