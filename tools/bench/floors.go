package main

// The floors: what ackmsg is compared with, measured in the same run on the same machine.
//
//   - raw ZeroMQ: bare pebbe/zmq4 XPUB/SUB sockets, one context (I/O thread) per side as two
//     processes have, over loopback TCP, each socket used by one locked OS thread;
//   - zsock: the same round trip through ackmsg's sockets (internal/zsock), to show what that
//     layer adds;
//   - crypto: the four signature operations of an acked publish, as ackmsg does them (build or
//     decode the envelope included), one after the other; once with RSA-2048 certificates and
//     once with Ed25519 ones, by the same code.

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/wiring"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

// cryptoKit signs and verifies as the two ends of an acked publish do.
type cryptoKit struct {
	label             string // the key type of the PKI: "RSA-2048" or "Ed25519"
	pub, sub          *certs.X509Signer
	subVerify, pubAck certs.Verifier
}

func newCryptoKit(pki *pki) (*cryptoKit, error) {
	pub, err := pki.signer("pub")
	if err != nil {
		return nil, err
	}
	sub, err := pki.signer("sub01")
	if err != nil {
		return nil, err
	}
	cfg := pki.config("pub", nil)
	sv, err := wiring.Verifier(cfg, true, nil)
	if err != nil {
		return nil, err
	}
	av, err := wiring.AckVerifier(cfg, nil)
	if err != nil {
		return nil, err
	}
	return &cryptoKit{label: pki.label(), pub: pub, sub: sub, subVerify: sv, pubAck: av}, nil
}

// chainTimes are the four signature operations of an acked publish to one recipient.
type chainTimes struct{ pubSign, subVerify, subSign, pubVerify time.Duration }

func (c chainTimes) total() time.Duration { return c.pubSign + c.subVerify + c.subSign + c.pubVerify }

// signMsg builds, marks, signs and encodes an acked message, as the publisher does.
func (k *cryptoKit) signMsg(i int64) ([]byte, error) {
	m, err := message.Build(benchTopic, benchBody, i, "bench", time.Now())
	if err == nil {
		err = m.Set(message.FieldGilmsgVersion, ack.Marker)
	}
	if err == nil {
		err = k.pub.Sign(m)
	}
	if err != nil {
		return nil, err
	}
	return m.Marshal()
}

func (k *cryptoKit) verifyAck(frame []byte) error {
	am, err := message.Decode(frame)
	if err == nil {
		_, err = k.pubAck.Verify(am)
	}
	return err
}

// chain does the CPU work of one acked publish to one recipient in one goroutine and times each
// step. It returns the message and ACK frames too.
func (k *cryptoKit) chain(i int64) (chainTimes, []byte, []byte, error) {
	t0 := time.Now()
	frame, err := k.signMsg(i)
	if err != nil {
		return chainTimes{}, nil, nil, err
	}
	t1 := time.Now()
	rm, err := message.Decode(frame)
	if err == nil {
		_, err = k.subVerify.Verify(rm)
	}
	if err != nil {
		return chainTimes{}, nil, nil, err
	}
	t2 := time.Now()
	a, err := message.Build(benchAck, map[string]any{"ack_msg_id": rm.MsgID()}, i, "bench", t2)
	if err == nil {
		err = k.sub.Sign(a)
	}
	var ackFrame []byte
	if err == nil {
		ackFrame, err = a.Marshal()
	}
	if err != nil {
		return chainTimes{}, nil, nil, err
	}
	t3 := time.Now()
	if err := k.verifyAck(ackFrame); err != nil {
		return chainTimes{}, nil, nil, err
	}
	t4 := time.Now()
	return chainTimes{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)}, frame, ackFrame, nil
}

// cryptoFloor is the four signature operations of an acked publish to one recipient, measured
// in sequence many times on one PKI.
type cryptoFloor struct {
	steps  [4][]time.Duration // pubSign, subVerify, subSign, pubVerify
	chain1 []time.Duration    // their sums, sample by sample
}

// measureCrypto runs kit.chain n times (after the warm-up chain the caller did).
func measureCrypto(kit *cryptoKit, n int) (*cryptoFloor, error) {
	f := &cryptoFloor{}
	for i := range n {
		if err := f.add(kit, int64(i)); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// lower is the floor whose quantiles (min, p50 and p99: its chain1 and each of its steps hold
// exactly these three, which quantile picks for q = 0, 0.5 and 0.99) are the lower of a's and
// b's, for the chain and step by step: the stricter floor, so that a floor measured under
// interference never flatters a figure.
func lower(a, b *cryptoFloor) *cryptoFloor {
	out := &cryptoFloor{}
	for _, q := range []float64{0, 0.5, 0.99} {
		out.chain1 = append(out.chain1, min(quantile(a.chain1, q), quantile(b.chain1, q)))
		for j := range out.steps {
			out.steps[j] = append(out.steps[j], min(quantile(a.steps[j], q), quantile(b.steps[j], q)))
		}
	}
	return out
}

// add measures one more chain.
func (f *cryptoFloor) add(kit *cryptoKit, i int64) error {
	ct, _, _, err := kit.chain(i)
	if err != nil {
		return err
	}
	for j, d := range []time.Duration{ct.pubSign, ct.subVerify, ct.subSign, ct.pubVerify} {
		f.steps[j] = append(f.steps[j], d)
	}
	f.chain1 = append(f.chain1, ct.total())
	return nil
}

// quantile is the crypto floor of an acked publish to n recipients at quantile q. With n > 1
// the publisher signs once, the n recipients verify and sign in parallel on this machine's
// cores, and the publisher verifies the n ACKs, in parallel too (its listener hands ACKs that
// wait to verify goroutines).
func (f *cryptoFloor) quantile(n int, q float64) time.Duration {
	if n == 1 {
		return quantile(f.chain1, q)
	}
	par := time.Duration(min(n, runtime.NumCPU()))
	return quantile(f.steps[0], q) + time.Duration(n)*(quantile(f.steps[1], q)+quantile(f.steps[2], q)+quantile(f.steps[3], q))/par
}

// quantileWhole is quantile(n, q) with every signature done whole on one core, as a scheduler
// that does not slice a 1 ms computation runs them: the n recipients' verify+sign take
// ceil(n/cores) turns, then the last ACK is verified. For n = 1 it is quantile(1, q).
func (f *cryptoFloor) quantileWhole(n int, q float64) time.Duration {
	if n == 1 {
		return f.quantile(1, q)
	}
	cores := runtime.NumCPU()
	turns := time.Duration((n + cores - 1) / cores)
	return quantile(f.steps[0], q) + turns*(quantile(f.steps[1], q)+quantile(f.steps[2], q)) + quantile(f.steps[3], q)
}

// bareInput is what the bare signature rows sign: 32 bytes, a SHA-256 digest.
var bareInput = sha256.Sum256([]byte("ackmsg benchmark"))

// bareSignatures times n signatures and verifications of bareInput with bare library calls,
// without envelopes: what the chain steps cost beyond the arithmetic.
func bareSignatures(n int, sign func(in []byte) ([]byte, error), verify func(in, sig []byte) error) (
	signs, verifies []time.Duration, err error) {
	for range n {
		t0 := time.Now()
		sig, err := sign(bareInput[:])
		t1 := time.Now()
		if err == nil {
			err = verify(bareInput[:], sig)
		}
		if err != nil {
			return nil, nil, err
		}
		signs, verifies = append(signs, t1.Sub(t0)), append(verifies, time.Since(t1))
	}
	return signs, verifies, nil
}

// rawRSA times bare RSA-2048 PKCS#1 v1.5 signatures and verifications of a SHA-256 digest.
func rawRSA(n int) (sign, verify []time.Duration, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	return bareSignatures(n,
		func(in []byte) ([]byte, error) { return rsa.SignPKCS1v15(nil, key, crypto.SHA256, in) },
		func(in, sig []byte) error { return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, in, sig) })
}

// rawEd25519 times bare Ed25519 signatures and verifications of the same 32 bytes.
func rawEd25519(n int) (sign, verify []time.Duration, err error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return bareSignatures(n,
		func(in []byte) ([]byte, error) { return ed25519.Sign(key, in), nil },
		func(in, sig []byte) error {
			if !ed25519.Verify(pub, in, sig) {
				return errors.New("ed25519: a fresh signature does not verify")
			}
			return nil
		})
}

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
	opts := wiring.SocketOptions(cfg)
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
