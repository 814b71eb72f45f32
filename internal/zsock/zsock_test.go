package zsock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCtx(t *testing.T) *zmq.Context {
	t.Helper()
	zctx, err := NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	return zctx
}

func pubSub(t *testing.T, zctx *zmq.Context, prefixes []string, events chan<- Event) (*Pub, *Sub) {
	t.Helper()
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: Options{Linger: 0}})
	if err != nil {
		t.Fatal(err)
	}
	var onEvent func(Event)
	if events != nil {
		onEvent = func(e Event) {
			select {
			case events <- e:
			default:
			}
		}
	}
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Prefixes: prefixes, OnEvent: onEvent})
	if err != nil {
		pub.Close()
		t.Fatal(err)
	}
	return pub, sub
}

func within(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPubSubRoundTrip(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, []string{"org.a"}, nil)
	ctx := within(t, 10*time.Second)
	if err := sub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, "org.a.b"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send([]byte("org.other"), []byte("filtered out")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send([]byte("org.a.b"), []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case in := <-sub.C():
		if len(in.Frames) != 2 || string(in.Frames[0]) != "org.a.b" || !bytes.Equal(in.Frames[1], []byte(`{"x":1}`)) {
			t.Fatalf("got %q", in.Frames)
		}
		if in.Endpoint.Name != "p" || in.Endpoint.Addr != pub.Addr() {
			t.Fatalf("endpoint %+v", in.Endpoint)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
	if got := pub.Sent(); got != 2 {
		t.Fatalf("Sent = %d, want 2", got)
	}
	sub.Close()
	pub.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.C(); ok {
		t.Fatal("C not closed after Close")
	}
	if err := pub.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestWaitSubscribedTimesOutWithoutSubscriber(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := pub.WaitSubscribed(ctx, "t"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if n := len(pub.Subscriptions()); n != 0 {
		t.Fatalf("subscriptions = %d", n)
	}
	// The cancelled waiter must be gone: check on the owner goroutine.
	var waiters int
	_ = pub.o.call(func() error { waiters = len(pub.waiters); return nil })
	if waiters != 0 {
		t.Fatalf("%d stale waiters", waiters)
	}
	pub.Close()
	zctx.Term()
}

func TestBindFallsBackToNextCandidate(t *testing.T) {
	zctx := newCtx(t)
	first, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewPub(zctx, PubConfig{Bind: []string{first.Addr(), "tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	if second.Addr() == first.Addr() {
		t.Fatalf("second bound the busy address %s", first.Addr())
	}
	_, err = NewPub(zctx, PubConfig{Bind: []string{first.Addr(), second.Addr()}})
	if err == nil {
		t.Fatal("binding only busy addresses succeeded")
	}
	first.Close()
	second.Close()
	zctx.Term()
}

func TestConcurrentSendersAllDelivered(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, nil, nil)
	ctx := within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := pub.Send([]byte("t"), []byte(fmt.Sprintf("%d-%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	seen := make(map[string]bool)
	for len(seen) < senders*each {
		select {
		case in := <-sub.C():
			seen[string(in.Frames[1])] = true
		case <-ctx.Done():
			t.Fatalf("received %d of %d", len(seen), senders*each)
		}
	}
	wg.Wait()
	sub.Close()
	pub.Close()
	zctx.Term()
}

func TestSubReportsConnectAndDisconnect(t *testing.T) {
	zctx := newCtx(t)
	events := make(chan Event, 16)
	pub, sub := pubSub(t, zctx, nil, events)
	ctx := within(t, 10*time.Second)
	next := func() Event {
		select {
		case e := <-events:
			return e
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return Event{}
	}
	if e := next(); e.Kind != Connected {
		t.Fatalf("first event %v", e.Kind)
	}
	if eps := sub.ConnectedEndpoints(); len(eps) != 1 {
		t.Fatalf("connected endpoints %v", eps)
	}
	pub.Close()
	if e := next(); e.Kind != Disconnected {
		t.Fatalf("second event %v", e.Kind)
	}
	sub.Close()
	zctx.Term()
}

func TestCloseWhileReaderIsAbsent(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := within(t, 10*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // more than the buffer: the owner blocks delivering
		if err := pub.Send([]byte("t"), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for sub.Received() < 2 { // the owner has filled the buffer and is blocked on the second
		select {
		case <-ctx.Done():
			t.Fatal("nothing received")
		default:
			runtime.Gosched()
		}
	}
	sub.Close() // must not hang although nobody reads C
	pub.Close()
	zctx.Term()
}

// An endpoint with nothing listening settles (its connection is refused) without connecting.
func TestWaitSettledWithDeadEndpoint(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on. Closing a Go listener is synchronous; closing a zmq socket is not
	// (libzmq unbinds later, on its reaper thread, and a connect may still get through).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "tcp://" + l.Addr().String()
	l.Close()
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "up", Addr: pub.Addr()}, {Name: "down", Addr: deadAddr}},
		Options: Options{ReconnectIvl: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := within(t, 10*time.Second)
	if err := sub.WaitSettled(ctx); err != nil {
		t.Fatal(err)
	}
	eps := sub.ConnectedEndpoints()
	if len(eps) != 1 || eps[0].Name != "up" {
		t.Fatalf("connected %v, want only up", eps)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sub.WaitConnected(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected with a dead endpoint = %v", err)
	}
	sub.Close()
	pub.Close()
	zctx.Term()
}

// Enqueued messages go out in order, including those still queued when Close is called, and
// Enqueue fails after Close.
func TestEnqueueOrderAndFlushOnClose(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: Options{Linger: 5 * time.Second}, MaxQueueBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Buffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx := within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	const n = 2000 // far more bytes than MaxQueueBytes: Enqueue must block and resume
	for i := 0; i < n; i++ {
		if err := pub.Enqueue([]byte("t"), []byte(fmt.Sprintf("%05d", i))); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	if err := pub.Enqueue([]byte("t"), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close = %v", err)
	}
	for i := 0; i < n; i++ {
		select {
		case in := <-sub.C():
			if got, want := string(in.Frames[1]), fmt.Sprintf("%05d", i); got != want {
				t.Fatalf("message %d is %q: out of order", i, got)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d", i, n)
		}
	}
	if pub.Sent() != n || pub.SendErrors() != 0 {
		t.Fatalf("sent %d, errors %d", pub.Sent(), pub.SendErrors())
	}
	sub.Close()
	zctx.Term()
}
