package ack_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	base "github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// presignWorld is a publisher and one acking Subscriber (sub01, after processing) read by the
// test itself.
func presignWorld(t *testing.T, opts ...ack.Option) (*ack.Publisher, *ack.Subscriber, context.Context) {
	t.Helper()
	w := newWorld(t, "sub01")
	p := w.publisher()
	s, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", append([]ack.Option{ack.WithMode(ack.AfterProcessing)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := testbus.Within(t, 30*time.Second)
	if err := s.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return p, s, ctx
}

// nextMarked returns the next marked Delivery, which must be id's.
func nextMarked(t *testing.T, ctx context.Context, s *ack.Subscriber, id string) *ack.Delivery {
	t.Helper()
	d, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Marked || d.Message.MsgID() != id {
		t.Fatalf("got %s (marked %v), want marked %s", d.Message.MsgID(), d.Marked, id)
	}
	return d
}

// drain reads s in the background, finishing every delivery with Done(nil), until the test
// ends: retransmissions are re-ACKed only by a Subscriber that reads (an ACK sent before the
// publisher's listener had subscribed is lost).
func drain(t *testing.T, s *ack.Subscriber) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d, err := s.Next(ctx)
			if err != nil {
				return
			}
			d.Done(nil)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// The ACK of a verified message is signed while it is processed, but sent only on Done(nil):
// not when it is signed, and never after Done(err), whose signed ACK is dropped; the
// retransmission is delivered again and its Done(nil) ACKs it.
func TestPresignedAckSentOnlyAfterSuccess(t *testing.T) {
	p, s, ctx := presignWorld(t)
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	id := f.Message().MsgID()
	d := nextMarked(t, ctx, s, id)
	ready := ack.PresignedReady(d)
	if ready == nil {
		t.Fatal("the ACK of a verified message is not signed while it is processed")
	}
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("the ACK signed ahead never got ready")
	}
	if st := s.Stats(); st.Acked != 0 || f.Err() != ack.ErrPending {
		t.Fatalf("signed ahead, before Done: acked %d, publish %v", st.Acked, f.Err())
	}
	d.Done(errors.New("planned failure"))
	if st := s.Stats(); st.Acked != 0 || st.Failed != 1 || f.Err() != ack.ErrPending {
		t.Fatalf("after Done(err): acked %d, failed %d, publish %v", st.Acked, st.Failed, f.Err())
	}
	again := nextMarked(t, ctx, s, id) // the retransmission
	again.Done(nil)
	drain(t, s)
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ps := s.Stats(), p.Stats(); st.Acked != 1 || ps.AcksCounted != 1 || f.Attempts() < 2 {
		t.Fatalf("acked %d, counted %d, attempts %d", st.Acked, ps.AcksCounted, f.Attempts())
	}
}

// A message that was not verified (a consumer verifier taken away through
// WithConsumerOptions) is never signed ahead: a signature is only put on what was checked.
func TestUnverifiedMessageNotPresigned(t *testing.T) {
	p, s, ctx := presignWorld(t, ack.WithConsumerOptions(base.WithVerifier(nil)))
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	d := nextMarked(t, ctx, s, f.Message().MsgID())
	if d.Signer != nil {
		t.Fatal("the message was verified; the test needs one that was not")
	}
	if ack.PresignedReady(d) != nil {
		t.Fatal("the ACK of an unverified message was signed ahead")
	}
	d.Done(nil) // ACKed as before, as gilmsg does (see asked)
	drain(t, s)
	if err := f.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// ACKs signed ahead for deliveries never finished are dropped at Close: nothing is sent, Close
// does not wait for a Done, and no goroutine is left (TestMain's goleak).
func TestPresignedAckDroppedWhenNeverDone(t *testing.T) {
	p, s, ctx := presignWorld(t)
	var pending []<-chan struct{}
	for range 3 {
		f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		d := nextMarked(t, ctx, s, f.Message().MsgID())
		pending = append(pending, ack.PresignedReady(d))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, r := range pending {
		if r == nil {
			t.Fatalf("delivery %d: not signed ahead", i)
		}
		<-r // Close waited for the workers: every signature is done
	}
	if st := s.Stats(); st.Acked != 0 || st.AckErrors != 0 {
		t.Fatalf("acked %d, ack errors %d", st.Acked, st.AckErrors)
	}
}
