package publisher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

// plainPublish publishes body b.N times, unsigned, to a non-validating consumer.Subscriber and
// reports the rate at which the subscriber received them, and the process's CPU per message.
func plainPublish(b *testing.B, body any) {
	cfg := plainConfig(b)
	pub, err := config.NewPublisher(b.Context(), cfg, publisher.WithModname("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	sub, err := config.NewSubscriber(cfg, "")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		b.Fatal(err)
	}
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
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testbus.ProcessCPU()
	for i := 0; i < b.N; i++ {
		if _, err := pub.Publish(ctx, "order", body); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(testbus.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/msg")
}

func plainConfig(b *testing.B) *config.Config {
	cfg := configtest.Config(map[string][]string{"svc.host": {testbus.Addr(b)}})
	cfg.Name = "svc.host"
	cfg.HighWaterMark = 0
	return cfg
}

// plainEnvelopeSize is the frame size of make bench's plain-publish row (that of a signed frame).
const plainEnvelopeSize = 2233

// plainBody is make bench's plain-publish body (tools/bench), padded so that the unsigned envelope
// a Publisher with modname "bench" makes for the topic "order" is plainEnvelopeSize bytes. It
// returns that envelope too.
func plainBody(b *testing.B) (map[string]any, []byte) {
	b.Helper()
	cfg := plainConfig(b)
	pub, err := config.NewPublisher(b.Context(), cfg, publisher.WithModname("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	body := map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}
	envelope := func() []byte {
		m, err := pub.Build("order", body)
		if err != nil {
			b.Fatal(err)
		}
		frame, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		return frame
	}
	body["pad"] = strings.Repeat("x", plainEnvelopeSize-len(envelope())-len(`,"pad":""`))
	return body, envelope()
}

// BenchmarkPlainThroughput is the plain-publish row of make bench as a go benchmark: Publish is
// unsigned publisher.Publish of the 2233-byte envelope to a non-validating consumer.Subscriber,
// raw sends the same bytes on bare zmq4 sockets (the floor), in the same run. Compare the msgs/s
// of the two: the target is Publish ≥ 0.8 × raw.
func BenchmarkPlainThroughput(b *testing.B) {
	body, frame := plainBody(b)
	b.Run("raw", func(b *testing.B) { rawThroughput(b, frame) })
	b.Run("Publish", func(b *testing.B) { plainPublish(b, body) })
}

// rawThroughput sends [topic, frame] b.N times from a bare zmq4 XPUB to a SUB in another context,
// each socket used by one locked OS thread, as make bench's raw floor does.
func rawThroughput(b *testing.B, frame []byte) {
	testbus.SendAndCount(b, "org.example.test.bench.order", frame, testbus.RawReceive(b))
}

// BenchmarkPublishLoop is the publishing side alone, for make bench's 2233-byte envelope: Build
// (the envelope and its body in the value model) plus Marshal (its canonical JSON), then the
// whole Publish to a socket nobody subscribes to (libzmq drops each message as it is sent), next
// to a copy of the frame's bytes, in the same run.
func BenchmarkPublishLoop(b *testing.B) {
	body, frame := plainBody(b)
	pub, err := config.NewPublisher(b.Context(), plainConfig(b), publisher.WithModname("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	ctx := context.Background()
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			sink = append([]byte(nil), frame...)
		}
	})
	b.Run("Build+Marshal", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := pub.Build("order", body)
			if err != nil {
				b.Fatal(err)
			}
			if sink, err = m.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Publish", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pub.Publish(ctx, "order", body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var sink []byte
