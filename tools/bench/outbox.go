package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
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
	return enqueueFigures(s, envelope, n, writers)
}

// pgEnqueue is boltEnqueue on a throwaway PostgreSQL server (internal/pgtest: initdb in a
// temporary directory, fsync on), with its floor: a one-row INSERT and COMMIT of the same bytes
// into a bare table on the same server, timed the same way.
func pgEnqueue(envelope []byte, n, writers int) (lat []time.Duration, thru float64, floor []time.Duration, err error) {
	defer pgtest.Stop()
	dsn, err := pgtest.NewDatabase()
	if err != nil {
		return nil, 0, nil, err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, 0, nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE floor (id bigserial PRIMARY KEY, data bytea NOT NULL)`); err != nil {
		return nil, 0, nil, err
	}
	for range n {
		t := time.Now()
		if _, err := conn.Exec(ctx, `INSERT INTO floor (data) VALUES ($1)`, envelope); err != nil { // autocommit: INSERT + COMMIT
			return nil, 0, nil, err
		}
		floor = append(floor, time.Since(t))
	}
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		return nil, 0, nil, err
	}
	defer s.Close()
	lat, thru, err = enqueueFigures(s, envelope, n, writers)
	return lat, thru, floor, err
}

// enqueueFigures times n single enqueues into s, then the throughput of writers concurrent ones.
func enqueueFigures(s outbox.Store, envelope []byte, n, writers int) (lat []time.Duration, thru float64, err error) {
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

// outboxEndToEnd times outbox.Publish into a boltstore file until a Deliverer in this process,
// sending through b's publisher to b's recipients, reports the message delivered: the enqueue
// fsync, the deliverer's wake-up, the acked send and the fsync of the ACKs, one message at a time.
func outboxEndToEnd(b *bus, dir string, n int) ([]time.Duration, error) {
	s, err := boltstore.Open(filepath.Join(dir, "e2e-outbox.db"), boltstore.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ob, err := config.NewOutbox(b.cfg, s)
	if err != nil {
		return nil, err
	}
	defer ob.Close()
	delivered := make(chan string, 16)
	d := outbox.NewDeliverer(s, b.pub, b.cfg.Outbox.DelivererConfig(), outbox.WithOnDelivered(func(r *outbox.Record) { delivered <- r.MsgID }))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	const warm = 5
	lat := make([]time.Duration, 0, n)
	for i := range n + warm {
		t0 := time.Now()
		id, err := ob.Publish(ctx, "order", benchBody, ack.To(b.names...), ack.Modname(benchModname))
		if err != nil {
			return nil, err
		}
		select {
		case got := <-delivered:
			if got != id {
				return nil, fmt.Errorf("outbox end to end: delivered %s, expected %s", got, id)
			}
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("outbox end to end: %s not delivered within 30 s", id)
		}
		if i >= warm {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
