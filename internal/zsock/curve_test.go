package zsock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/transport"
)

// testKeys is a Keys for tests: one own key pair, one server key for every address, and an
// allowlist (public key -> user id) swapped atomically.
type testKeys struct {
	public, secret string
	server         string
	allowed        atomic.Pointer[map[string]string]
	refused        chan string // public keys refused, when not nil (never blocks)
	failed         chan string // handshake failures reported to HandshakeFailed (never blocks)
}

func (k *testKeys) HandshakeFailed(endpoint, reason string) {
	select {
	case k.failed <- endpoint + ": " + reason:
	default:
	}
}

func newKeyPair(t testing.TB) (string, string) {
	t.Helper()
	pub, sec, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return pub, sec
}

func newTestKeys(t testing.TB, server string, allowed map[string]string) *testKeys {
	k := &testKeys{server: server, refused: make(chan string, 64), failed: make(chan string, 64)}
	k.public, k.secret = newKeyPair(t)
	k.allowed.Store(&allowed)
	return k
}

func (k *testKeys) KeyPair() (string, string, error) { return k.public, k.secret, nil }
func (k *testKeys) ServerKey(string) (string, error) { return k.server, nil }
func (k *testKeys) options() Options {
	return Options{Security: transport.Security{Mode: transport.SecurityCurve, Keys: k}}
}
func (k *testKeys) allow(m map[string]string) { k.allowed.Store(&m) }
func (k *testKeys) Authenticate(pub string) (string, error) {
	if user, ok := (*k.allowed.Load())[pub]; ok {
		return user, nil
	}
	select {
	case k.refused <- pub:
	default:
	}
	return "", fmt.Errorf("unknown key %s", pub)
}

// curveBus is a CURVE server's keys and two clients' keys, one allowed as "alice", one unknown.
type curveBus struct {
	server, alice, mallory *testKeys
}

func newCurveBus(t testing.TB) curveBus {
	spub, ssec := newKeyPair(t)
	b := curveBus{}
	b.alice = newTestKeys(t, spub, nil)
	b.mallory = newTestKeys(t, spub, nil)
	b.server = newTestKeys(t, spub, map[string]string{b.alice.public: "alice"})
	b.server.public, b.server.secret = spub, ssec
	return b
}

// A relay-shaped pair: the SUB binds as a CURVE server, publishers connect. The allowed client's
// messages arrive with its User-Id; an unknown key is refused at the handshake and its messages
// never arrive.
func TestCurveBoundSubAuthenticatesPublishers(t *testing.T) {
	zctx := newCtx(t)
	b := newCurveBus(t)
	ctx := testbus.Within(t, 10*time.Second)
	sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "in", Addr: "tcp://127.0.0.1:*"}}, Bind: true, UserID: true, Options: b.server.options()})
	if err != nil {
		t.Fatal(err)
	}
	addr := boundAddr(t, sub)
	mallory, err := NewPub(zctx, PubConfig{Connect: addr, Options: b.mallory.options()})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := NewPub(zctx, PubConfig{Connect: addr, Options: b.alice.options()})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-b.server.refused:
		if k != b.mallory.public {
			t.Fatalf("refused %s, want mallory's key", k)
		}
	case <-ctx.Done():
		t.Fatal("mallory's handshake was not refused")
	}
	// A connecting publisher is not told when the binding SUB has subscribed: retransmit until
	// something arrives. Mallory's socket never completed a handshake, so what it sends goes
	// nowhere, while alice's arrives with her User-Id.
	var in Inbound
	for got := false; !got; {
		if err := mallory.Send([]byte("t.mallory"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := alice.Send([]byte("t.alice"), []byte("y")); err != nil {
			t.Fatal(err)
		}
		wait, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		in, err = sub.Recv(wait)
		cancel()
		switch {
		case err == nil:
			got = true
		case ctx.Err() != nil:
			t.Fatal("nothing arrived from alice")
		}
	}
	for {
		if string(in.Frames[0]) != "t.alice" || in.UserID != "alice" {
			t.Fatalf("got %q from User-Id %q, want t.alice from alice", in.Frames[0], in.UserID)
		}
		var ok bool
		if in, ok = sub.TryRecv(); !ok {
			break
		}
	}
	if subs := mallory.Subscriptions(); len(subs) != 0 {
		t.Fatalf("mallory sees subscriptions %v", subs)
	}
	alice.Close()
	mallory.Close()
	sub.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
}

// boundAddr is the address a bound Sub's only socket resolved.
func boundAddr(t *testing.T, s *Sub) string {
	t.Helper()
	var addr string
	s.rmu.Lock()
	addr, err := s.socks[0].GetLastEndpoint()
	s.rmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// A PUB binding as a CURVE server: an allowed subscriber receives, an unknown one is refused, and
// a subscriber that expects another server key never connects while the right one does.
func TestCurvePubRefusesUnknownSubscribers(t *testing.T) {
	zctx := newCtx(t)
	b := newCurveBus(t)
	ctx := testbus.Within(t, 10*time.Second)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: b.server.options()})
	if err != nil {
		t.Fatal(err)
	}
	ep := []Endpoint{{Name: "p", Addr: pub.Addr()}}
	impostorKey, _ := newKeyPair(t)
	wrongServer := newTestKeys(t, impostorKey, nil)
	b.server.allow(map[string]string{b.alice.public: "alice", wrongServer.public: "w"})
	var subs []*Sub
	for _, k := range []*testKeys{b.mallory, wrongServer, b.alice} {
		s, err := NewSub(zctx, SubConfig{Endpoints: ep, Options: k.options()})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	mallory, wrong, alice := subs[0], subs[1], subs[2]
	if err := alice.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitSubscribed(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if got := pub.Subscriptions()[""]; got != 1 {
		t.Fatalf("%d subscriptions, want alice's alone", got)
	}
	if err := pub.Send([]byte("t.secret"), []byte("z")); err != nil {
		t.Fatal(err)
	}
	if in, err := alice.Recv(ctx); err != nil || string(in.Frames[0]) != "t.secret" {
		t.Fatalf("alice got %v, %v", in.Frames, err)
	}
	select {
	case <-b.server.refused:
	case <-ctx.Done():
		t.Fatal("mallory was not refused")
	}
	for name, s := range map[string]*Sub{"mallory": mallory, "wrong server key": wrong} {
		if in, ok := s.TryRecv(); ok {
			t.Fatalf("%s received %q", name, in.Frames)
		}
		if eps := s.ConnectedEndpoints(); len(eps) != 0 {
			t.Fatalf("%s completed a handshake", name)
		}
	}
	for _, s := range subs {
		s.Close()
	}
	pub.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
}

func TestCurveRequestReply(t *testing.T) {
	zctx := newCtx(t)
	b := newCurveBus(t)
	ctx := testbus.Within(t, 10*time.Second)
	rep, err := NewRep(zctx, RepConfig{Bind: "tcp://127.0.0.1:*", Options: b.server.options(),
		Handle: func(req [][]byte) [][]byte { return [][]byte{append([]byte("re:"), req[0]...)} }})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := Request(ctx, zctx, rep.Addr(), b.alice.options(), []byte("q"), 5*time.Second)
	if err != nil || string(reply[0]) != "re:q" {
		t.Fatalf("alice: %q, %v", reply, err)
	}
	_, err = Request(ctx, zctx, rep.Addr(), b.mallory.options(), []byte("q"), 300*time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("mallory: %v, want a timeout (refused at the handshake)", err)
	}
	rep.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
}

// Reloading the allowlist and registering new server sockets while handshakes run is race-free
// (run with -race), and each handshake sees one table or the other: a key allowed throughout is
// never refused.
func TestZAPReloadDuringHandshakes(t *testing.T) {
	zctx := newCtx(t)
	b := newCurveBus(t)
	ctx := testbus.Within(t, 30*time.Second)
	rep, err := NewRep(zctx, RepConfig{Bind: "tcp://127.0.0.1:*", Options: b.server.options(),
		Handle: func(req [][]byte) [][]byte { return req }})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // reload the key table as fast as possible
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.server.allow(map[string]string{b.alice.public: "alice", fmt.Sprint(i): "x"})
		}
	}()
	go func() { // and register new ZAP domains
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := NewRep(zctx, RepConfig{Bind: "tcp://127.0.0.1:*", Options: b.server.options(), Handle: func(r [][]byte) [][]byte { return r }})
			if err != nil {
				t.Error(err)
				return
			}
			r.Close()
		}
	}()
	for i := range 50 {
		if _, err := Request(ctx, zctx, rep.Addr(), b.alice.options(), []byte{byte(i)}, 5*time.Second); err != nil {
			t.Errorf("request %d: %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	rep.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
}

// A context's ZAP handler ends with the context, and a new context gets its own.
func TestZAPHandlerEndsWithContext(t *testing.T) {
	for range 2 {
		zctx := newCtx(t)
		h, err := zapFor(zctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := zctx.Term(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-h.done:
		case <-testbus.Within(t, 5*time.Second).Done():
			t.Fatal("ZAP handler still running after Term")
		}
	}
	zapMu.Lock()
	defer zapMu.Unlock()
	if len(zaps) != 0 {
		t.Fatalf("%d handlers registered after their contexts ended", len(zaps))
	}
}

// Revoking a connected client's key closes its connection within the recheck interval, and its
// reconnection is refused: ZAP alone would have let the open connection live on.
func TestCurveRevocationClosesOpenConnections(t *testing.T) {
	for _, kind := range []string{"pub", "bound sub"} {
		t.Run(kind, func(t *testing.T) {
			zctx := newCtx(t)
			b := newCurveBus(t)
			ctx := testbus.Within(t, 20*time.Second)
			events := make(chan Event, 16)
			var send func() error
			var recv func(context.Context) error
			var closeAll func()
			switch kind {
			case "pub": // alice subscribes to a CURVE server PUB
				pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: b.server.options()})
				if err != nil {
					t.Fatal(err)
				}
				sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}, Options: b.alice.options(),
					OnEvent: func(e Event) { events <- e }})
				if err != nil {
					t.Fatal(err)
				}
				send = func() error { return pub.Send([]byte("t"), []byte("m")) }
				recv = func(ctx context.Context) error { _, err := sub.Recv(ctx); return err }
				closeAll = func() { sub.Close(); pub.Close() }
			default: // alice publishes into a CURVE server SUB (the relay's inbound side)
				sub, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "in", Addr: "tcp://127.0.0.1:*"}}, Bind: true, Options: b.server.options()})
				if err != nil {
					t.Fatal(err)
				}
				pub, err := NewPub(zctx, PubConfig{Connect: boundAddr(t, sub), Options: b.alice.options()})
				if err != nil {
					t.Fatal(err)
				}
				sub2 := sub
				send = func() error { return pub.Send([]byte("t"), []byte("m")) }
				recv = func(ctx context.Context) error { _, err := sub2.Recv(ctx); return err }
				closeAll = func() { pub.Close(); sub.Close() }
			}
			// Alice is in: something she sends or is sent arrives.
			for {
				if err := send(); err != nil {
					t.Fatal(err)
				}
				wait, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				err := recv(wait)
				cancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("alice never got through")
				}
			}
			b.server.allow(map[string]string{}) // her certificate is revoked
			select {
			case k := <-b.server.refused: // asked again by the recheck, or at her reconnection
				if k != b.alice.public {
					t.Fatalf("refused %s", k)
				}
			case <-ctx.Done():
				t.Fatal("alice's key was never refused")
			}
			for kind == "pub" {
				select {
				case e := <-events:
					if e.Kind == Disconnected {
						kind = ""
					}
				case <-ctx.Done():
					t.Fatal("alice's connection was not closed")
				}
			}
			// Her reconnection is refused too, and from then on nothing gets through.
			select {
			case <-b.server.refused:
			case <-ctx.Done():
				t.Fatal("alice did not reconnect")
			}
			drained := false
			for !drained {
				wait, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
				drained = recv(wait) != nil
				cancel()
			}
			for range 5 {
				if err := send(); err != nil {
					t.Fatal(err)
				}
			}
			wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if err := recv(wait); err == nil {
				t.Fatal("a message got through after the revocation")
			}
			closeAll()
			if err := zctx.Term(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A client that does not speak CURVE is reported to the Keys' HandshakeFailed.
func TestCurveReportsPlaintextClients(t *testing.T) {
	zctx := newCtx(t)
	b := newCurveBus(t)
	ctx := testbus.Within(t, 10*time.Second)
	pub, err := NewPub(zctx, PubConfig{Bind: []string{"tcp://127.0.0.1:*"}, Options: b.server.options()})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewSub(zctx, SubConfig{Endpoints: []Endpoint{{Name: "p", Addr: pub.Addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-b.server.failed:
		if !strings.Contains(f, "does not use CURVE") {
			t.Fatalf("reported %q", f)
		}
	case <-ctx.Done():
		t.Fatal("the plaintext client was not reported")
	}
	plain.Close()
	pub.Close()
	if err := zctx.Term(); err != nil {
		t.Fatal(err)
	}
}
