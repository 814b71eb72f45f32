package ack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
)

// BenchmarkAckedPublishPayload is acked publish to one Ed25519 recipient in this process with
// large bodies, one at a time, reporting the retransmissions per publish: a message whose
// signing, sending and verifying take longer than the timeout learnt on earlier messages is
// retransmitted although nothing was lost.
func BenchmarkAckedPublishPayload(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"2KB", 2 << 10}, {"64KB", 64 << 10}, {"1MB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			bus := newEd25519BenchBus(b, 1)
			for range 20 { // the timeout learnt on small messages first, as on a real bus
				bus.publish(b)
			}
			body := map[string]any{"data": strings.Repeat("x", size.bytes)}
			before := bus.pub.Stats().Retransmits
			lat := make([]time.Duration, 0, 256)
			for b.Loop() {
				t0 := time.Now()
				if _, err := bus.pub.Publish(context.Background(), "order", body, ack.To(bus.names...),
					ack.Modname(benchModname), ack.Within(benchWithin)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.ReportMetric(float64(bus.pub.Stats().Retransmits-before)/float64(len(lat)), "retransmits/op")
			reportLatencies(b, lat)
		})
	}
}
