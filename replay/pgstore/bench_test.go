package pgstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
)

// BenchmarkAppend: appends of 500-byte envelopes under the default retention, from 1 and from
// 8 goroutines, into PostgreSQL (the test server: fsync on, synchronous_commit on, on this
// machine's disk) and, for comparison, into the bbolt file fsync'd (history_fsync, the
// default). Concurrent appends share commits in both.
func BenchmarkAppend(b *testing.B) {
	ret := replay.Retention{MaxAge: 7 * 24 * time.Hour, MaxMessages: 100000, MaxBytes: 256 << 20}
	for _, tc := range []struct {
		store      string
		goroutines int
	}{{"postgres", 1}, {"postgres", 8}, {"bolt", 1}, {"bolt", 8}} {
		b.Run(fmt.Sprintf("%s/%d", tc.store, tc.goroutines), func(b *testing.B) {
			var s replay.Store
			var err error
			if tc.store == "postgres" {
				s, err = Open(context.Background(), pgtest.Start(b), Options{Retention: ret, Own: []string{"svc"}})
			} else {
				s, err = boltstore.Open(filepath.Join(b.TempDir(), "h.db"), boltstore.Options{Retention: ret})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			env := make([]byte, 500)
			var seq atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/tc.goroutines + 1
			for range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						n := seq.Add(1)
						if err := s.Append(b.Context(), "svc", replay.Record{Seq: n, MsgID: fmt.Sprint("m", n), Timestamp: time.Now().Unix(), Envelope: env}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(per*tc.goroutines)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
