package main

// The floors: what ackmsg is compared with, measured in the same run on the same machine.
//
//   - raw ZeroMQ: bare pebbe/zmq4 XPUB/SUB sockets, one context (I/O thread) per side as two
//     processes have, over loopback TCP, each socket used by one locked OS thread;
//   - zsock: the same round trip through ackmsg's sockets (internal/zsock), to show what that
//     layer adds;
//   - crypto: the four signature operations of an acked publish (crypto.go).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/zsock"
)

// openZMQ opens a bare socket with linger 0 and unlimited high-water marks.
func openZMQ(zctx *zmq.Context, kind zmq.Type, bind, connect, sub string) (*zmq.Socket, error) {
	s, err := zctx.NewSocket(kind)
	if err != nil {
		return nil, err
	}
	for _, f := range []func() error{
		func() error { return s.SetLinger(0) },
		func() error { return s.SetSndhwm(0) },
		func() error { return s.SetRcvhwm(0) },
		func() error {
			if kind == zmq.SUB {
				return s.SetSubscribe(sub)
			}
			return nil
		},
		func() error {
			if bind != "" {
				return s.Bind(bind)
			}
			return nil
		},
		func() error {
			if connect != "" {
				return s.Connect(connect)
			}
			return nil
		},
	} {
		if err := f(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// rawRoundTrip is the transport floor on bare zmq4: msg A->B, reply B->A, n times after a warm
// up; it is rawFanOut to one echoer.
func rawRoundTrip(msg, reply [][]byte, n int) ([]time.Duration, error) {
	return rawFanOut(msg, reply, 1, n)
}

// rawFanOut is the transport floor of an acked publish to k recipients on bare zmq4: A sends msg
// once on its XPUB, each of k echoers (its own context, I/O thread and locked OS thread, as k
// recipient processes have) gets it and sends reply on its own XPUB, and the round trip ends
// when A's SUB (connected to all k) has the k replies; n times after a warm up.
func rawFanOut(msg, reply [][]byte, k, n int) ([]time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	addrA := freeAddr()
	zA, err := zmq.NewContext()
	if err != nil {
		return nil, err
	}
	defer zA.Term()
	pub, err := openZMQ(zA, zmq.XPUB, addrA, "", "")
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	// Every echoer subscribes to the same topic: without verbose, XPUB reports only the first.
	if err := pub.SetXpubVerbose(1); err != nil {
		return nil, err
	}
	sub, err := openZMQ(zA, zmq.SUB, "", "", benchAck)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	ready, echoErr := make(chan error, k), make(chan error, k)
	// stop ends the echoers, once each has subscribed: a one-frame message stops each. Before
	// that a failure returns at once (and the bench exits), since an echoer not yet subscribed
	// would never see the message.
	stop := func() error {
		if _, err := pub.SendMessage(msg[:1]); err != nil {
			return err
		}
		var first error
		for range k {
			if err := <-echoErr; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	for range k {
		addrB := freeAddr()
		zB, err := zmq.NewContext()
		if err != nil {
			return nil, err
		}
		go func() {
			echoErr <- rawEcho(zB, addrB, addrA, reply, ready)
			zB.Term()
		}()
		if err := sub.Connect(addrB); err != nil {
			return nil, err
		}
	}
	for range k {
		if err := <-ready; err != nil {
			return nil, err
		}
		if _, err := pub.RecvBytes(0); err != nil { // an echoer's subscription to the message topic
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, n)
	for i := range n + n/10 + 10 {
		t0 := time.Now()
		if _, err := pub.SendMessage(msg); err != nil {
			return nil, errors.Join(err, stop())
		}
		for range k {
			if _, err := sub.RecvMessageBytes(0); err != nil {
				return nil, errors.Join(err, stop())
			}
		}
		if i >= n/10+10 { // warm-up
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, stop()
}

// rawEcho is one echoer of rawFanOut: it binds its XPUB at addr, subscribes to A at addrA, says
// on ready once A's SUB has subscribed to it, and sends reply for every message until a
// one-frame message.
func rawEcho(zctx *zmq.Context, addr, addrA string, reply [][]byte, ready chan<- error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pub, err := openZMQ(zctx, zmq.XPUB, addr, "", "")
	if err != nil {
		ready <- err
		return err
	}
	defer pub.Close()
	sub, err := openZMQ(zctx, zmq.SUB, "", addrA, benchTopic)
	if err != nil {
		ready <- err
		return err
	}
	defer sub.Close()
	if _, err := pub.RecvBytes(0); err != nil { // A's subscription to the ACK topic
		ready <- err
		return err
	}
	ready <- nil
	for {
		frames, err := sub.RecvMessageBytes(0)
		if err != nil {
			return err
		}
		if len(frames) == 1 { // stop
			return nil
		}
		if _, err := pub.SendMessage(reply); err != nil {
			return err
		}
	}
}

// rawThroughput is one-way PUB->SUB on bare zmq4: n messages of frames sent as fast as the
// socket takes them, counted until the last arrives (no drops: high-water marks unlimited).
func rawThroughput(frames [][]byte, n int) (float64, error) {
	addr := freeAddr()
	zA, err := zmq.NewContext()
	if err != nil {
		return 0, err
	}
	defer zA.Term()
	zB, err := zmq.NewContext()
	if err != nil {
		return 0, err
	}
	defer zB.Term()
	type result struct {
		got int
		end time.Time
		err error
	}
	done := make(chan result, 1)
	subReady := make(chan error, 1)
	pubSock, err := openZMQ(zA, zmq.XPUB, addr, "", "")
	if err != nil {
		return 0, err
	}
	defer pubSock.Close()
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		sub, err := openZMQ(zB, zmq.SUB, "", addr, benchTopic)
		if err != nil {
			subReady <- err
			return
		}
		defer sub.Close()
		subReady <- nil
		got := 0
		for got < n {
			if _, err := sub.RecvMessageBytes(0); err != nil {
				done <- result{got, time.Now(), err}
				return
			}
			got++
		}
		done <- result{got, time.Now(), nil}
	}()
	if err := <-subReady; err != nil {
		return 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := pubSock.RecvBytes(0); err != nil { // the subscription is in
		return 0, err
	}
	start := time.Now()
	for range n {
		if _, err := pubSock.SendMessage(frames); err != nil {
			return 0, err
		}
	}
	r := <-done
	if r.err != nil {
		return 0, r.err
	}
	return float64(r.got) / r.end.Sub(start).Seconds(), nil
}

// zsockRoundTrip is rawRoundTrip through ackmsg's zsock sockets with the bus's socket options.
func zsockRoundTrip(cfg *config.Config, msg, reply [][]byte, n int) ([]time.Duration, error) {
	opts := cfg.Transport()
	addrA, addrB := freeAddr(), freeAddr()
	zA, err := zsock.NewContext(1)
	if err != nil {
		return nil, err
	}
	defer zA.Term()
	zB, err := zsock.NewContext(1)
	if err != nil {
		return nil, err
	}
	defer zB.Term()
	pubA, err := zsock.NewPub(zA, zsock.PubConfig{Bind: []string{addrA}, Options: opts})
	if err != nil {
		return nil, err
	}
	defer pubA.Close()
	pubB, err := zsock.NewPub(zB, zsock.PubConfig{Bind: []string{addrB}, Options: opts})
	if err != nil {
		return nil, err
	}
	defer pubB.Close()
	subA, err := zsock.NewSub(zA, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "b", Addr: addrB}},
		Prefixes: []string{benchAck}, Options: opts})
	if err != nil {
		return nil, err
	}
	defer subA.Close()
	subB, err := zsock.NewSub(zB, zsock.SubConfig{Endpoints: []zsock.Endpoint{{Name: "a", Addr: addrA}},
		Prefixes: []string{benchTopic}, Options: opts})
	if err != nil {
		return nil, err
	}
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		for {
			if _, err := subB.Recv(context.Background()); err != nil {
				return // closed
			}
			if err := pubB.Send(reply...); err != nil {
				return
			}
		}
	}()
	defer func() {
		subB.Close() // ends the echo goroutine
		<-echoDone
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, w := range []func(context.Context) error{subA.WaitConnected, subB.WaitConnected,
		func(ctx context.Context) error { return pubA.WaitSubscribed(ctx, benchTopic) },
		func(ctx context.Context) error { return pubB.WaitSubscribed(ctx, benchAck) }} {
		if err := w(ctx); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, 0, n)
	for i := range n + n/10 + 10 {
		t0 := time.Now()
		if err := pubA.Send(msg...); err != nil {
			return nil, err
		}
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := subA.Recv(rctx)
		rcancel()
		if err != nil {
			return nil, fmt.Errorf("zsock round trip: %w", err)
		}
		if i >= n/10+10 {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
