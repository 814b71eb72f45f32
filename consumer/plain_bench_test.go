package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
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
		testbus.SendAndCount(b, topic, frame, testbus.RawReceive(b))
	})
	b.Run("Subscriber", func(b *testing.B) {
		testbus.SendAndCount(b, topic, frame, func(addr string, ready chan<- error) int {
			cfg := configtest.Config(map[string][]string{"peer.host": {addr}})
			cfg.HighWaterMark = 0
			sub, err := config.NewSubscriber(cfg, "")
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
