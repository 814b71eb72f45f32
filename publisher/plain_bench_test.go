package publisher_test

import (
	"context"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

// BenchmarkPlainPublish: unsigned publisher.Publish to one subscriber, counted at the receiver.
func BenchmarkPlainPublish(b *testing.B) {
	cfg := testbus.Config(map[string][]string{"svc.host": {testbus.Addr(b)}})
	cfg.Name = "svc.host"
	cfg.HighWaterMark = 0
	pub, err := publisher.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := consumer.NewSubscriber(cfg, "")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		b.Fatal(err)
	}
	body := map[string]any{"pad": string(make([]byte, 1500))}
	done := make(chan int)
	go func() {
		n := 0
		for n < b.N {
			if _, err := sub.Next(ctx); err != nil {
				break
			}
			n++
		}
		done <- n
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pub.Publish(ctx, "x", body); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
