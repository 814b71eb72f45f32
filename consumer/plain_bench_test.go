package consumer_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// plainFrame is make bench's plain-publish envelope (tools/bench): its body padded so that the
// unsigned envelope is 2233 bytes, the size of a signed frame.
func plainFrame(b *testing.B) (topic string, frame []byte) {
	b.Helper()
	const fullTopic = "org.example.test.bench.order"
	body := map[string]any{"order": 1234, "items": []any{"widget", "gadget"}, "note": "benchmark"}
	encode := func() []byte {
		m, err := message.Build(fullTopic, body, 1, "", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		frame, err := m.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		return frame
	}
	body["pad"] = strings.Repeat("x", 2233-len(encode())-len(`,"pad":""`))
	return fullTopic, encode()
}

// BenchmarkPlainReceive is the receiving side of plain publishing alone: a bare zmq4 XPUB sends the
// same 2233-byte unsigned envelope b.N times, received by a non-validating consumer.Subscriber
// (Subscriber) or by a bare zmq4 SUB socket (raw, the floor), in the same run. Compare the msgs/s.
func BenchmarkPlainReceive(b *testing.B) {
	topic, frame := plainFrame(b)
	b.Run("raw", func(b *testing.B) {
		plainReceive(b, topic, frame, func(addr string, ready chan<- error) int {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			zctx, err := zmq.NewContext()
			if err != nil {
				ready <- err
				return 0
			}
			defer zctx.Term()
			sub, err := zctx.NewSocket(zmq.SUB)
			if err != nil {
				ready <- err
				return 0
			}
			defer sub.Close()
			for _, err := range []error{sub.SetLinger(0), sub.SetRcvhwm(0), sub.SetSubscribe(""), sub.Connect(addr)} {
				if err != nil {
					ready <- err
					return 0
				}
			}
			ready <- nil
			n := 0
			for n < b.N {
				if _, err := sub.RecvMessageBytes(0); err != nil {
					break
				}
				n++
			}
			return n
		})
	})
	b.Run("Subscriber", func(b *testing.B) {
		plainReceive(b, topic, frame, func(addr string, ready chan<- error) int {
			cfg := testbus.Config(map[string][]string{"peer.host": {addr}})
			cfg.HighWaterMark = 0
			sub, err := consumer.NewSubscriber(cfg, "")
			if err != nil {
				ready <- err
				return 0
			}
			defer sub.Close()
			ready <- nil
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			n := 0
			for n < b.N {
				if _, err := sub.Next(ctx); err != nil {
					break
				}
				n++
			}
			return n
		})
	})
}

// plainReceive binds a bare zmq4 XPUB, starts receive (which reports on ready once connected and
// returns how many messages it got), waits for its subscription, then sends [topic, frame] b.N
// times and reports the rate at which they were received.
func plainReceive(b *testing.B, topic string, frame []byte, receive func(addr string, ready chan<- error) int) {
	addr := testbus.Addr(b)
	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctx.Term()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pub, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	for _, err := range []error{pub.SetLinger(0), pub.SetSndhwm(0), pub.Bind(addr)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	ready := make(chan error, 1)
	done := make(chan int, 1)
	go func() { done <- receive(addr, ready) }()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	if _, err := pub.RecvBytes(0); err != nil { // the subscription is in
		b.Fatal(err)
	}
	t := []byte(topic)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pub.SendMessage(t, frame); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
