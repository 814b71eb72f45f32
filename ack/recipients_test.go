package ack_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// rawPub binds a bare PUB socket on the endpoints of key (in place of the process that owns
// them), for frames no well-behaved publisher would send.
func rawPub(t *testing.T, w *world, key string) *zsock.Pub {
	t.Helper()
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: w.eps[key]})
	if err != nil {
		zctx.Term()
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(); zctx.Term() })
	return raw
}

func loadSigner(t *testing.T, name string) *certs.X509Signer {
	t.Helper()
	s, err := certs.LoadSigner(testbus.PKIDir()+"/"+name+".crt", testbus.PKIDir()+"/"+name+".key")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedFrame builds a message on topic signed by s, with fields added before signing, and then
// edit applied after signing (nil: none).
func signedFrame(t *testing.T, s certs.Signer, topic string, body any, fields map[string]any, edit func(*message.Message)) []byte {
	t.Helper()
	m, err := message.Build(topic, body, 1, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if err := m.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sign(m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The recipients a message waits for are in its envelope, covered by its signature.
func TestAckRecipientsFieldIsSigned(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	w.startConsumer("sub02", "sub02", ack.AfterProcessing)
	p := w.publisher()
	ctx := testbus.Within(t, 20*time.Second)
	m, err := p.Publish(ctx, "order", 1, ack.To("sub02", "sub01", "sub02"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := m.Get(message.FieldAckRecipients)
	if fmt.Sprint(v) != "[sub01 sub02]" {
		t.Fatalf("ack_recipients = %#v, want the recipients sorted once each", v)
	}
	verifier, err := w.config("sub01.host", "sub01").Verifier(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Verify(m); err != nil {
		t.Fatalf("the envelope as sent does not verify: %v", err)
	}
	forged := m.Clone()
	if err := forged.Set(message.FieldAckRecipients, []any{"sub01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Verify(forged); err == nil {
		t.Fatal("ack_recipients changed after signing still verifies: the signature does not cover it")
	}
	// Prepare (the outbox's path) names them the same way.
	b, err := config.NewBuilder(w.config("pub.host", "pub01"))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ack.Prepare(b, "order", 1, ack.To("sub01"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := pr.Message.Get(message.FieldAckRecipients); fmt.Sprint(v) != "[sub01]" {
		t.Fatalf("prepared ack_recipients = %#v", v)
	}
}

// An acking consumer that ack_recipients does not name delivers the message once and does not
// ACK it, retransmissions included; the named one ACKs.
func TestOnlyNamedRecipientAcks(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	c1 := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	c2 := w.startConsumer("sub02", "sub02", ack.OnReceipt)
	p := w.publisher()
	ctx := testbus.Within(t, 30*time.Second)
	m, err := p.Publish(ctx, "order", 1, ack.To("sub01"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 10*time.Second, "sub02 delivery", func() bool { return c2.deliveries(m.MsgID()) == 1 })
	// The message was read by sub02 before it reads the next one, which names it: once that
	// one is ACKed, the first one's fate is known.
	m2, err := p.Publish(ctx, "order", 2, ack.To("sub02"), ack.Within(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 10*time.Second, "sub01 delivery", func() bool { return c1.deliveries(m2.MsgID()) == 1 })
	s1, s2 := c1.s.Stats(), c2.s.Stats()
	if s1.Acked != 1 || s1.NotAsked != 1 {
		t.Errorf("sub01: acked %d not-asked %d, want 1 and 1", s1.Acked, s1.NotAsked)
	}
	if s2.Acked != 1 || s2.NotAsked != 1 {
		t.Errorf("sub02: acked %d not-asked %d, want 1 and 1", s2.Acked, s2.NotAsked)
	}
	// A retransmission of a message that does not name sub02 is a duplicate there, not ACKed.
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publisher().Resend(m.Topic(), raw); err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 10*time.Second, "sub02 sees the retransmission", func() bool { return c2.s.Stats().Duplicates == 1 })
	if s := c2.s.Stats(); s.Acked != 1 || s.Reacked != 0 || c2.deliveries(m.MsgID()) != 1 {
		t.Fatalf("sub02 after the retransmission: %+v, deliveries %d", s, c2.deliveries(m.MsgID()))
	}
}

// A marked message without ack_recipients (gilmsg's, or an older ackmsg's) is ACKed by every
// acking consumer, as before.
func TestMessageWithoutRecipientsIsAckedByAll(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	c1 := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	c2 := w.startConsumer("sub02", "sub02", ack.OnReceipt)
	pub, err := config.NewPublisher(t.Context(), w.config("pub.host", "pub01"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	ctx := testbus.Within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*consumer{c1, c2} {
		if err := c.s.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Both subscriptions are in once both consumers connected; resend until both ACKed, as a
	// publisher would (a subscription may still be on its way).
	m, err := pub.Build("order", 1, publisher.Field(message.FieldGilmsgVersion, "0.1.2"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 15*time.Second, "both consumers ACK", func() bool {
		if c1.s.Stats().Acked == 1 && c2.s.Stats().Acked == 1 {
			return true
		}
		if err := pub.Resend(m.Topic(), raw); err != nil {
			t.Fatal(err)
		}
		return false
	})
	if c1.s.Stats().NotAsked != 0 || c2.s.Stats().NotAsked != 0 {
		t.Fatal("a message without ack_recipients counted as not asking")
	}
}

// ack_recipients is trusted only as signed: edited after signing, or added to a message signed
// without it (as gilmsg adds its marker), the message fails validation and is neither delivered
// nor ACKed; a consumer never skips an ACK on the word of an unverified field.
func TestTamperedRecipientsNotTrusted(t *testing.T) {
	w := newWorld(t, "sub02")
	c2 := w.startConsumer("sub02", "sub02", ack.OnReceipt)
	raw := rawPub(t, w, "pub.host")
	ctx := testbus.Within(t, 20*time.Second)
	if err := raw.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	pub01 := loadSigner(t, "pub01")
	topic := "org.example.test.order"
	names := func(n ...string) []any {
		out := make([]any, len(n))
		for i, s := range n {
			out[i] = s
		}
		return out
	}
	marker := map[string]any{message.FieldGilmsgVersion: ack.Marker}
	frames := [][]byte{
		// Signed naming sub02, edited to name sub01 only.
		signedFrame(t, pub01, topic, 1, map[string]any{message.FieldGilmsgVersion: ack.Marker, message.FieldAckRecipients: names("sub02")},
			func(m *message.Message) { _ = m.Set(message.FieldAckRecipients, names("sub01")) }),
		// Signed with the marker only, the field added after.
		signedFrame(t, pub01, topic, 2, marker, func(m *message.Message) { _ = m.Set(message.FieldAckRecipients, names("sub01")) }),
		// Signed with neither (gilmsg's late marker), both added after.
		signedFrame(t, pub01, topic, 3, nil, func(m *message.Message) {
			_ = m.Set(message.FieldGilmsgVersion, "0.1.2")
			_ = m.Set(message.FieldAckRecipients, names("sub01"))
		}),
	}
	// Retransmit (as publishers do) until every frame was seen: three drops.
	testbus.Eventually(t, 15*time.Second, "three forged messages dropped", func() bool {
		if c2.s.Stats().Dropped[ack.DropSignature] >= 3 {
			return true
		}
		for _, f := range frames {
			if err := raw.Send([]byte(topic), f); err != nil {
				t.Fatal(err)
			}
		}
		return false
	})
	if s := c2.s.Stats(); s.Delivered != 0 || s.Acked != 0 || s.NotAsked != 0 {
		t.Fatalf("forged ack_recipients was acted on: %+v", s)
	}
}

// sendAck sends, from a bare socket bound on the endpoints of key, an ACK for id signed as cert,
// as a gilmsg consumer would whether or not the message names it.
func sendAck(t *testing.T, w *world, key string, p *ack.Publisher, cert, id string) {
	t.Helper()
	raw := rawPub(t, w, key)
	if err := raw.WaitSubscribed(testbus.Within(t, 10*time.Second), p.AckTopic()); err != nil {
		t.Fatal(err)
	}
	frame := signedFrame(t, loadSigner(t, cert), p.AckTopic(), map[string]any{"ack_msg_id": id}, nil, nil)
	if err := raw.Send([]byte(p.AckTopic()), frame); err != nil {
		t.Fatal(err)
	}
}

// countingVerifier counts the signatures it checks.
type countingVerifier struct {
	certs.Verifier
	n atomic.Int64
}

func (v *countingVerifier) Verify(m *message.Message) (*certs.Identity, error) {
	v.n.Add(1)
	return v.Verifier.Verify(m)
}

// ACKs on the bus are dropped unread by an acking consumer (it waits for none) and by a
// publisher's ACK listener unless it waits for their msg_id: no decode, no signature check.
func TestAcksNotWaitedForAreNotVerified(t *testing.T) {
	w := newWorld(t, "sub01", "sub02")
	real, err := w.config("sub01.host", "sub01").Verifier(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	pv := &countingVerifier{Verifier: real}
	p := w.publisher(ack.WithVerifier(pv))
	raw := rawPub(t, w, "sub02.host") // ACKs from "sub02", heard by both
	ctx := testbus.Within(t, 30*time.Second)
	if err := raw.WaitSubscribed(ctx, p.AckTopic()); err != nil { // the publisher's listener
		t.Fatal(err)
	}
	cv := &countingVerifier{Verifier: real}
	s, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithVerifier(cv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := raw.WaitSubscribed(ctx, ""); err != nil { // the consumer's
		t.Fatal(err)
	}
	sub02 := loadSigner(t, "sub02")
	ackFor := func(id string) []byte {
		return signedFrame(t, sub02, p.AckTopic(), map[string]any{"ack_msg_id": id}, nil, nil)
	}
	// Nothing waits: every ACK is dropped before decoding, even one that is not JSON.
	const n = 50
	for i := range n {
		if err := raw.Send([]byte(p.AckTopic()), ackFor(fmt.Sprintf("2026-other-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Send([]byte(p.AckTopic()), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 10*time.Second, "the publisher hears the ACKs", func() bool { return p.Stats().AcksReceived == n+1 })
	// A message waiting for sub02: ACKs for other msg_ids are still dropped unread, its own
	// is decoded and verified.
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub02"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := raw.Send([]byte(p.AckTopic()), ackFor(fmt.Sprintf("2026-else-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Send([]byte(p.AckTopic()), ackFor(f.Message().MsgID())); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.AcksSkipped != 2*n+1 || st.AcksDecoded != 1 || st.AcksVerified != 1 || pv.n.Load() != 1 {
		t.Fatalf("publisher: skipped %d decoded %d verified %d (verifier called %d times), want %d, 1, 1, 1",
			st.AcksSkipped, st.AcksDecoded, st.AcksVerified, pv.n.Load(), 2*n+1)
	}
	// The consumer got the one message (verified) and every ACK (not verified), in order on
	// one socket: once the message is delivered, the ACKs sent before it have been skipped.
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := raw.Send([]byte("org.example.test.order"), signedFrame(t, sub02, "org.example.test.order", 1, nil, nil)); err != nil {
		t.Fatal(err)
	}
	for { // the acked message from pub.host arrives too, on another socket
		d, err := s.Next(dctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.EndpointName == "sub02.host" {
			break
		}
	}
	ss := s.Stats()
	if ss.Skipped != 2*n+2 || cv.n.Load() != int64(ss.Delivered) || len(ss.Dropped) != 0 {
		t.Fatalf("consumer: skipped %d, verified %d for %d delivered, dropped %v; want %d skipped, one check per delivery, none dropped",
			ss.Skipped, cv.n.Load(), ss.Delivered, ss.Dropped, 2*n+2)
	}
}
