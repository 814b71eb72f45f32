package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/internal/relay"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/transport"
)

// BenchmarkForward measures messages per second through the gateway and, in the same run, through
// the relay (the other SUB→PUB forwarder): a bare XPUB sends [topic, 512-byte body] b.N times, a
// bare SUB on the forwarder's outward side counts them. No high-water mark anywhere, so nothing
// is dropped and the receiver must get all b.N.
func BenchmarkForward(b *testing.B) {
	quiet := slog.New(slog.DiscardHandler)
	b.Run("gateway", func(b *testing.B) {
		in, out := testbus.Addr(b), testbus.Addr(b)
		forwardN(b, func(s *zmq.Socket) error { return s.Bind(in) }, out, func() (func(context.Context) error, error) {
			g, err := New(Config{Endpoints: []transport.Endpoint{{Name: "bench", Address: in}}, Bind: out}, quiet)
			if err != nil {
				return nil, err
			}
			return g.Run, nil
		})
	})
	b.Run("relay", func(b *testing.B) {
		in, out := testbus.Addr(b), testbus.Addr(b)
		forwardN(b, func(s *zmq.Socket) error { return s.Connect(in) }, out, func() (func(context.Context) error, error) {
			r, err := relay.New(relay.Config{Inbound: in, Outbound: []string{out}}, quiet)
			if err != nil {
				return nil, err
			}
			return r.Run, nil
		})
	})
}

// forwardN starts the forwarder (start returns its Run), an XPUB that attach binds or connects
// to its inward side, and a counting SUB on out; it sends warm-up messages until one has come
// through both hops (subscriptions travel asynchronously), then times b.N messages.
func forwardN(b *testing.B, attach func(*zmq.Socket) error, out string, start func() (func(context.Context) error, error)) {
	run, err := start()
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- run(ctx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			b.Error(err)
		}
	}()

	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	defer zctx.Term()
	warm := make(chan struct{})
	got := make(chan int, 1)
	go func() { got <- count(b, zctx, out, b.N, warm) }()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pub, err := zctx.NewSocket(zmq.XPUB)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	for _, err := range []error{pub.SetLinger(0), pub.SetSndhwm(0), attach(pub)} {
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pub.RecvBytes(0); err != nil { // the forwarder's subscription is in
		b.Fatal(err)
	}
	body := []byte(strings.Repeat("x", 512))
	for sent := false; !sent; {
		if _, err := pub.SendMessage("warm", body); err != nil {
			b.Fatal(err)
		}
		select {
		case <-warm:
			sent = true
		default:
			runtime.Gosched()
		}
	}
	topic := []byte("org.example.bench")
	b.SetBytes(int64(len(topic) + len(body)))
	b.ResetTimer()
	for range b.N {
		if _, err := pub.SendMessage(topic, body); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-got; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// count connects a SUB to addr, closes warm at the first warm-up message, and returns once it
// has n benchmark messages (or fewer on an error).
func count(b *testing.B, zctx *zmq.Context, addr string, n int, warm chan struct{}) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sub, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		b.Error(err)
		close(warm)
		return 0
	}
	defer sub.Close()
	for _, err := range []error{sub.SetLinger(0), sub.SetRcvhwm(0), sub.SetSubscribe(""), sub.Connect(addr)} {
		if err != nil {
			b.Error(err)
			close(warm)
			return 0
		}
	}
	got, warmed := 0, false
	for got < n {
		m, err := sub.RecvMessageBytes(0)
		if err != nil {
			b.Error(err)
			break
		}
		if bytes.Equal(m[0], []byte("warm")) {
			if !warmed {
				warmed = true
				close(warm)
			}
			continue
		}
		got++
	}
	if !warmed {
		close(warm)
	}
	return got
}
