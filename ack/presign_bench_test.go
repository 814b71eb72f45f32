package ack_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// BenchmarkAckedPublishProcessing is acked publish latency (RSA-2048, one recipient in this
// process, after processing) when the recipient's processing takes proc of CPU, about one
// ACK signature for proc=1ms: with the ACK signed while the message is processed, a publish
// costs max(processing, signature) on top of the round trip rather than their sum. proc=0 is the
// control. x-proc is p50 / proc.
func BenchmarkAckedPublishProcessing(b *testing.B) {
	for _, proc := range []time.Duration{0, time.Millisecond} {
		b.Run(fmt.Sprintf("proc=%v", proc), func(b *testing.B) {
			eps := map[string][]string{"pub.host": {testbus.Addr(b)}, "sub01.host": {testbus.Addr(b)}}
			cfg := configtest.Sign(configtest.Config(eps), "pub01")
			cfg.Name = "pub.host"
			p, err := config.NewAckPublisher(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			scfg := configtest.Sign(configtest.Config(eps), "sub01")
			scfg.Name = "sub01.host"
			runProcessingAcker(b, scfg, benchTopic, proc)
			bus := &benchBus{pub: p, names: []string{"sub01"}}
			for range 5 {
				bus.publish(b)
			}
			lat := make([]time.Duration, 0, 1<<12)
			for b.Loop() {
				t0 := time.Now()
				bus.publish(b)
				lat = append(lat, time.Since(t0))
			}
			p50 := reportLatencies(b, lat)
			if proc > 0 {
				b.ReportMetric(float64(p50)/float64(proc), "x-proc")
			}
		})
	}
}
