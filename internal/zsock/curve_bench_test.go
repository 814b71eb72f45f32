package zsock

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCurveThroughput is plain PUB -> SUB throughput of 1 KiB messages over loopback TCP,
// plaintext next to CURVE (issue 28: CurveZMQ's cost per message, without signatures or ACKs).
func BenchmarkCurveThroughput(b *testing.B) {
	for _, mode := range []string{"none", "curve"} {
		b.Run("security="+mode, func(b *testing.B) {
			zctx := newCtx(b)
			bus := newCurveBus(b)
			srv, cli := Options{}, Options{}
			if mode == "curve" {
				srv, cli = bus.server.options(), bus.alice.options()
			}
			pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: srv})
			if err != nil {
				b.Fatal(err)
			}
			sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Options: cli})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := pub.WaitSubscribed(ctx, "t"); err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 1024)
			done := make(chan int)
			go func() {
				n := 0
				for {
					if _, err := sub.Recv(ctx); err != nil {
						done <- n
						return
					}
					n++
					if n == b.N {
						done <- n
						return
					}
				}
			}()
			start := time.Now()
			for range b.N {
				if err := pub.Send([]byte("t"), body); err != nil {
					b.Fatal(err)
				}
			}
			if n := <-done; n != b.N {
				b.Fatalf("received %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			sub.Close()
			pub.Close()
			zctx.Term()
		})
	}
}
