package ack_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/ackmsg/ackmsg/ack"
)

// BenchmarkInflightMemory is the live heap each acked message holds while it waits for an
// absent recipient (so it stays in flight): the heap after a GC with inflight messages waiting,
// minus the heap after a GC with none, divided by inflight (make bench's memory row, in
// process). B/msg is that figure; frame-B the signed frame's size it stands beside.
// ACKMSG_HEAPPROFILE=file writes the heap profile taken with the messages in flight.
func BenchmarkInflightMemory(b *testing.B) {
	for _, n := range []int{256, 1000} {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			if os.Getenv("ACKMSG_HEAPPROFILE") != "" {
				defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
				runtime.MemProfileRate = 1
			}
			bus := newBenchBus(b, 1)
			var perMsg, frame float64
			for b.Loop() {
				perMsg, frame = inflightHeap(b, bus, n)
			}
			b.ReportMetric(perMsg, "B/msg")
			b.ReportMetric(frame, "frame-B")
		})
	}
}

func inflightHeap(b *testing.B, bus *benchBus, n int) (perMsg, frame float64) {
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := make([]*ack.Future, 0, n)
	for range n {
		f, err := bus.pub.PublishAsync(ctx, "order", benchBody, ack.To("absent"),
			ack.Modname(benchModname), ack.Within(benchWithin))
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, f)
	}
	if got := bus.pub.Stats().InFlight; got < n {
		b.Fatalf("%d in flight, want %d", got, n)
	}
	loaded := heap()
	if path := os.Getenv("ACKMSG_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	m := fs[0].Message()
	enc, err := m.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	cancel()
	for _, f := range fs {
		<-f.Finished()
	}
	return (float64(loaded) - float64(base)) / float64(n), float64(len(enc))
}
