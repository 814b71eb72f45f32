package main

// The crypto floor: the four signature operations of an acked publish, as ackmsg does them
// (build or decode the envelope included), one after the other; once with RSA-2048 certificates
// and once with Ed25519 ones, by the same code; and the bare library's sign and verify.

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"runtime"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
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
	sv, err := cfg.Verifier(true, nil)
	if err != nil {
		return nil, err
	}
	av, err := cfg.AckVerifier(nil)
	if err != nil {
		return nil, err
	}
	return &cryptoKit{label: pki.label(), pub: pub, sub: sub, subVerify: sv, pubAck: av}, nil
}

// chainTimes are the four signature operations of an acked publish to one recipient.
type chainTimes struct{ pubSign, subVerify, subSign, pubVerify time.Duration }

func (c chainTimes) total() time.Duration { return c.pubSign + c.subVerify + c.subSign + c.pubVerify }

// signMsg builds, marks, signs and encodes an acked message of body, as the publisher does.
func (k *cryptoKit) signMsg(body any, i int64) ([]byte, error) {
	m, err := message.Build(benchTopic, body, i, "bench", time.Now())
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

// chain does the CPU work of one acked publish of benchBody to one recipient in one goroutine
// and times each step. It returns the message and ACK frames too.
func (k *cryptoKit) chain(i int64) (chainTimes, []byte, []byte, error) {
	return k.chainOf(benchBody, i)
}

// chainOf is chain with body as the message's body (payload.go varies its size).
func (k *cryptoKit) chainOf(body any, i int64) (chainTimes, []byte, []byte, error) {
	t0 := time.Now()
	frame, err := k.signMsg(body, i)
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
