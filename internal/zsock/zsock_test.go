package zsock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	zmq "github.com/pebbe/zmq4"
	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCtx(t testing.TB) *zmq.Context {
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

func TestPubSubRoundTrip(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, []string{"org.a"}, nil)
	ctx := testbus.Within(t, 10*time.Second)
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
	in, err := sub.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Frames) != 2 || string(in.Frames[0]) != "org.a.b" || !bytes.Equal(in.Frames[1], []byte(`{"x":1}`)) {
		t.Fatalf("got %q", in.Frames)
	}
	if in.Endpoint.Name != "p" || in.Endpoint.Addr != pub.Addr() {
		t.Fatalf("endpoint %+v", in.Endpoint)
	}
	if got := pub.Sent(); got != 2 {
		t.Fatalf("Sent = %d, want 2", got)
	}
	sub.Close()
	pub.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Recv(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close = %v, want ErrClosed", err)
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
	// The cancelled waiter must be gone.
	pub.mu.Lock()
	waiters := len(pub.waiters)
	pub.mu.Unlock()
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
	ctx := testbus.Within(t, 20*time.Second)
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
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("received %d of %d: %v", len(seen), senders*each, err)
		}
		seen[string(in.Frames[1])] = true
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
	ctx := testbus.Within(t, 10*time.Second)
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

// Close neither hangs with messages waiting and nobody reading, nor leaves a blocked Recv
// behind: the reader returns ErrClosed.
func TestCloseReleasesReaders(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, nil, nil)
	ctx := testbus.Within(t, 10*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := pub.Send([]byte("t"), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sub.Recv(ctx); err != nil { // the rest wait in libzmq
		t.Fatal(err)
	}
	idle, idleSub := pubSub(t, zctx, []string{"nothing-is-sent-here"}, nil)
	blocked := make(chan error, 1)
	go func() {
		_, err := idleSub.Recv(context.Background())
		blocked <- err
	}()
	sub.Close() // messages pending, nobody reading
	idleSub.Close()
	select {
	case err := <-blocked:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Recv returned %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Close left a Recv blocked")
	}
	pub.Close()
	idle.Close()
	zctx.Term()
}

// A Recv blocked when its context ends returns the context's error at once, and the Sub keeps
// working afterwards.
func TestRecvHonoursContext(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, nil, nil)
	ctx := testbus.Within(t, 10*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := sub.Recv(short)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv after cancel = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Recv ignored its context")
	}
	if in, ok := sub.TryRecv(); ok {
		t.Fatalf("TryRecv with nothing sent = %q", in.Frames)
	}
	if sub.Pending() {
		t.Fatal("Pending with nothing sent")
	}
	if err := pub.Send([]byte("t"), []byte("after")); err != nil {
		t.Fatal(err)
	}
	in, err := sub.Recv(ctx)
	if err != nil || string(in.Frames[1]) != "after" {
		t.Fatalf("Recv after a cancelled one = %q, %v", in.Frames, err)
	}
	// TryRecv takes what has arrived, in order, without waiting for it.
	for _, body := range []string{"b", "c"} {
		if err := pub.Send([]byte("t"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if in, err := sub.Recv(ctx); err != nil || string(in.Frames[1]) != "b" {
		t.Fatalf("Recv = %q, %v", in.Frames, err)
	}
	for !sub.Pending() { // c may still be on its way through the I/O thread
		if ctx.Err() != nil {
			t.Fatal("Pending never reported c")
		}
		runtime.Gosched()
	}
	for {
		in, ok := sub.TryRecv()
		if ok {
			if string(in.Frames[1]) != "c" {
				t.Fatalf("TryRecv = %q", in.Frames)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("TryRecv never returned c")
		}
		runtime.Gosched() // c may still be on its way through the I/O thread
	}
	if sub.Pending() {
		t.Fatal("Pending after the last message was taken")
	}
	sub.Close()
	if _, ok := sub.TryRecv(); ok {
		t.Fatal("TryRecv after Close returned a message")
	}
	pub.Close()
	zctx.Term()
}

// Several goroutines reading one Sub (as the ACK listener does) get every message exactly once.
func TestConcurrentReadersShareMessages(t *testing.T) {
	zctx := newCtx(t)
	pub, sub := pubSub(t, zctx, nil, nil)
	ctx := testbus.Within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	const n, readers = 3000, 4
	var mu sync.Mutex
	seen := make(map[string]int)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				in, err := sub.Recv(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(in.Frames[1])]++
				done := len(seen) == n
				mu.Unlock()
				if done {
					sub.Close() // releases the other readers
				}
			}
		}()
	}
	for i := range n {
		if err := pub.Send([]byte("t"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("received %d distinct of %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("message %s received %d times", k, c)
		}
	}
	pub.Close()
	zctx.Term()
}

// inprocPubs binds one Pub per name on inproc, subscribes one Sub to all of them (in that
// order) and waits until every Pub sees the subscription. closeAll closes them and terminates
// zctx.
func inprocPubs(t *testing.T, zctx *zmq.Context, ctx context.Context, prefix string, names ...string) (
	pubs []*Pub, sub *Sub, closeAll func()) {
	t.Helper()
	var eps []Endpoint
	for _, name := range names {
		p, err := NewPub(zctx, PubConfig{Bind: []string{inprocAddr(prefix)}})
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, p)
		eps = append(eps, Endpoint{Name: name, Addr: p.Addr()})
	}
	sub, err := NewSub(zctx, SubConfig{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pubs {
		if err := p.WaitSubscribed(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	return pubs, sub, func() {
		sub.Close()
		for _, p := range pubs {
			p.Close()
		}
		zctx.Term()
	}
}

// One endpoint with a long backlog does not starve another: the reader switches after maxBurst.
// The endpoints are inproc, so every message is in the Sub's pipes once Send has returned.
func TestEndpointsTakeTurns(t *testing.T) {
	zctx := newCtx(t)
	ctx := testbus.Within(t, 20*time.Second)
	pubs, sub, closeAll := inprocPubs(t, zctx, ctx, "turns", "a", "b")
	const each = 3 * maxBurst
	for _, p := range pubs {
		for range each {
			if err := p.Send([]byte("t"), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	var runs []int // lengths of runs from one endpoint
	last := ""
	for range 2 * each {
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Endpoint.Name != last {
			runs = append(runs, 0)
			last = in.Endpoint.Name
		}
		runs[len(runs)-1]++
	}
	want := []int{maxBurst, maxBurst, maxBurst, maxBurst, maxBurst, maxBurst}
	if !slices.Equal(runs, want) {
		t.Fatalf("runs %v, want %v", runs, want)
	}
	closeAll()
}

// WaitSubscribed notices a subscriber that connects while other goroutines keep sending (their
// sends may consume the ZMQ_FD edge that announced it).
func TestWaitSubscribedWhileSending(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := pub.Send([]byte("other"), []byte("x")); err != nil {
				t.Error(err)
				return
			}
			runtime.Gosched()
		}
	}()
	ctx := testbus.Within(t, 10*time.Second)
	for i := range 20 {
		sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Prefixes: []string{fmt.Sprintf("topic%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.WaitSubscribed(ctx, fmt.Sprintf("topic%d.x", i)); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		sub.Close()
	}
	close(stop)
	wg.Wait()
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
	ctx := testbus.Within(t, 10*time.Second)
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

// Sent messages arrive in order, including those libzmq still held when the Pub was closed (it
// flushes them within the linger period), and Send fails after Close.
func TestSendOrderAndFlushOnClose(t *testing.T) {
	zctx := newCtx(t)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: Options{Linger: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testbus.Within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 0; i < n; i++ {
		if err := pub.Send([]byte("t"), []byte(fmt.Sprintf("%05d", i))); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	if err := pub.Send([]byte("t"), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	for i := 0; i < n; i++ {
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("received %d of %d: %v", i, n, err)
		}
		if got, want := string(in.Frames[1]), fmt.Sprintf("%05d", i); got != want {
			t.Fatalf("message %d is %q: out of order", i, got)
		}
	}
	if pub.Sent() != n || pub.SendErrors() != 0 {
		t.Fatalf("sent %d, errors %d", pub.Sent(), pub.SendErrors())
	}
	sub.Close()
	zctx.Term()
}

// Terminating the context under an open Sub ends a waiting Recv with ErrClosed instead of
// leaving it waiting for a message that cannot come.
func TestRecvEndsWhenContextTerminates(t *testing.T) {
	zctx := newCtx(t)
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: "tcp://127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := sub.Recv(context.Background())
		errc <- err
	}()
	termed := make(chan error, 1)
	go func() { termed <- zctx.Term() }() // returns once the Sub is closed
	ctx := testbus.Within(t, 10*time.Second)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv = %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Recv kept waiting after the context was terminated")
	}
	sub.Close()
	select {
	case <-termed:
	case <-ctx.Done():
		t.Fatal("Term did not return after Close")
	}
}

// takenAddr returns a loopback address another listener holds for the rest of the test.
func takenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return "tcp://" + l.Addr().String()
}

// When no bind candidate works, the error has every candidate's own failure, each wrapping
// libzmq's errno.
func TestBindFailuresAreAggregated(t *testing.T) {
	zctx := newCtx(t)
	defer zctx.Term()
	a, b := takenAddr(t), takenAddr(t)
	_, err := NewPub(zctx, PubConfig{Bind: []string{a, b}})
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("err = %#v, want a multierror of 2", err)
	}
	for i, addr := range []string{a, b} {
		var ee *EndpointError
		if !errors.As(me.Errors[i], &ee) || ee.Op != "bind" || ee.Addr != addr || !errors.Is(ee, syscall.EADDRINUSE) {
			t.Errorf("failure %d = %#v, want EADDRINUSE binding %s", i, me.Errors[i], addr)
		}
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Error("errors.Is(err, EADDRINUSE) = false")
	}
	want := fmt.Sprintf("zsock: no address could be bound: 2 of 2 endpoints failed; bind %s: ", a)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; bind "+b+": ") {
		t.Errorf("error text %q", err)
	}
}

// A binding Sub (the relay's inbound side) tries every endpoint and reports each that failed,
// and which worked; it fails as a whole and leaves nothing bound.
func TestSubBindFailuresAreAggregated(t *testing.T) {
	zctx := newCtx(t)
	defer zctx.Term()
	a, b := takenAddr(t), takenAddr(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := "tcp://" + l.Addr().String()
	l.Close()
	_, err = NewSub(zctx, SubConfig{Bind: true, Endpoints: []Endpoint{{Name: "a", Addr: a}, {Name: "free", Addr: free}, {Name: "b", Addr: b}}})
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want two EADDRINUSE failures", err)
	}
	want := fmt.Sprintf("zsock: endpoints could not be attached: 2 of 3 endpoints failed (free worked); bind %s (a): ", a)
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; bind "+b+" (b): ") {
		t.Errorf("error text %q", err)
	}
	// The endpoint that worked was released with the others (libzmq unbinds a closed socket
	// asynchronously, in its reaper thread: poll with a deadline).
	deadline := time.Now().Add(5 * time.Second)
	for {
		sub, err := NewSub(zctx, SubConfig{Bind: true, Endpoints: []Endpoint{{Name: "free", Addr: free}}})
		if err == nil {
			sub.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint that worked is still bound: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a synchronisation
	}
}

// A Sub with many endpoints reads only the sockets whose ZMQ_FD signalled: one message at a
// time arriving on each endpoint in turn costs about two reads (the message, then the EAGAIN
// that re-arms the socket), not one per endpoint scanned. Each message arrives on a socket that was
// drained before, so a lost wake-up would hang Recv here. TryRecv and Pending see a message
// that arrived while nobody waited.
func TestRecvAsksOnlySignalledSockets(t *testing.T) {
	zctx := newCtx(t)
	ctx := testbus.Within(t, 20*time.Second)
	const n = 8
	var names []string
	for i := range n {
		names = append(names, fmt.Sprint(i))
	}
	pubs, sub, closeAll := inprocPubs(t, zctx, ctx, "signalled", names...)
	recv := func(want string) {
		t.Helper()
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Endpoint.Name != want {
			t.Fatalf("message from %s, want %s", in.Endpoint.Name, want)
		}
	}
	// Drain: every socket has said EAGAIN once.
	if err := pubs[0].Send([]byte("t"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	recv("0")
	sub.rmu.Lock()
	sub.attempts = 0
	sub.rmu.Unlock()
	const rounds = 40
	for r := range rounds * n {
		i := r * 5 % n // not the order the sockets are scanned in
		if err := pubs[i].Send([]byte("t"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		recv(fmt.Sprint(i))
	}
	sub.rmu.Lock()
	attempts := sub.attempts
	sub.rmu.Unlock()
	if max := 3 * rounds * n; attempts > max {
		t.Fatalf("%d reads for %d messages on %d endpoints, want at most %d", attempts, rounds*n, n, max)
	}

	// Nobody waits while this one arrives: TryRecv must still find it.
	if err := pubs[5].Send([]byte("t"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	for {
		in, ok := sub.TryRecv()
		if ok {
			if in.Endpoint.Name != "5" {
				t.Fatalf("TryRecv: message from %s, want 5", in.Endpoint.Name)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("TryRecv never saw a message that arrived while nobody waited")
		}
		runtime.Gosched()
	}
	if err := pubs[2].Send([]byte("t"), []byte("z")); err != nil {
		t.Fatal(err)
	}
	for !sub.Pending() {
		if ctx.Err() != nil {
			t.Fatal("Pending never saw a message that arrived while nobody waited")
		}
		runtime.Gosched()
	}
	recv("2")
	closeAll()
}

// An endpoint that said EAGAIN once is not starved by a busy one: its next message is read
// within a burst of the busy endpoint's, although nobody waits on the epoll set while the busy
// one keeps delivering.
func TestDrainedEndpointNotStarvedByBusyOne(t *testing.T) {
	zctx := newCtx(t)
	ctx := testbus.Within(t, 20*time.Second)
	pubs, sub, closeAll := inprocPubs(t, zctx, ctx, "starve", "busy", "quiet")
	// Both sockets say EAGAIN: the quiet one is now read only once its ZMQ_FD signals.
	if err := pubs[1].Send([]byte("t"), []byte("first")); err != nil {
		t.Fatal(err)
	}
	if in, err := sub.Recv(ctx); err != nil || in.Endpoint.Name != "quiet" {
		t.Fatalf("Recv = %v, %v", in.Endpoint, err)
	}
	for {
		if _, ok := sub.TryRecv(); !ok {
			break
		}
	}
	const busy = 4 * maxBurst
	for range busy {
		if err := pubs[0].Send([]byte("t"), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if in, err := sub.Recv(ctx); err != nil || in.Endpoint.Name != "busy" {
		t.Fatalf("Recv = %v, %v", in.Endpoint, err)
	}
	// inproc: the quiet socket's signal is written before Send returns.
	if err := pubs[1].Send([]byte("t"), []byte("second")); err != nil {
		t.Fatal(err)
	}
	for i := range busy {
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Endpoint.Name == "quiet" {
			if i > maxBurst {
				t.Fatalf("the quiet endpoint's message came after %d of the busy one's, want at most %d", i, maxBurst)
			}
			break
		}
		if i == busy-1 {
			t.Fatalf("the quiet endpoint's message never came while the busy one had %d queued", busy)
		}
	}
	closeAll()
}
