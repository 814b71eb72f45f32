package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

// fsyncFloor times writing a record-sized block and fsync-ing it, in dir: what one durable
// write costs on this disk, the floor of a durable enqueue.
func fsyncFloor(dir string, size, n int) ([]time.Duration, error) {
	f, err := os.OpenFile(filepath.Join(dir, "fsync-floor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := []byte(strings.Repeat("x", size))
	lat := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, nil
}

func benchRecord(i int, envelope []byte) *outbox.Record {
	now := time.Now()
	return &outbox.Record{MsgID: fmt.Sprintf("2026-bench-%d", i), Topic: benchTopic, Envelope: envelope,
		Recipients: []string{"sub01"}, Enqueued: now, Expires: now.Add(time.Hour), NextAttempt: now}
}

// boltEnqueue times single enqueues (one writer: one commit each) and measures the throughput
// of writers concurrent enqueues (group commit shares the fsyncs).
func boltEnqueue(dir string, envelope []byte, n, writers int) (lat []time.Duration, thru float64, err error) {
	s, err := boltstore.Open(filepath.Join(dir, "bench-outbox.db"), boltstore.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	ctx := context.Background()
	for i := range n {
		t := time.Now()
		if err := s.Enqueue(ctx, benchRecord(i, envelope)); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	per := max(n*4/writers, 1)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := s.Enqueue(ctx, benchRecord(n+w*per+i, envelope)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, 0, err
	}
	return lat, float64(per*writers) / time.Since(start).Seconds(), nil
}
