package outbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

func newOutbox(t *testing.T, edit func(*config.Config)) (*outbox.Outbox, outbox.Store) {
	t.Helper()
	cfg := configtest.Sign(configtest.Config(nil), "pub01")
	cfg.Recipients = config.ListMap{"org.example.test.shop.#": {"billing"}}
	cfg.Outbox.ExpiryFor = config.SecondsMap{"org.example.test.shop.slow": 7200}
	if edit != nil {
		edit(cfg)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := config.NewOutbox(cfg, st, outbox.WithBuilderOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob, st
}

func TestPublishStoresSignedFrames(t *testing.T) {
	ctx := context.Background()
	ob, st := newOutbox(t, nil)
	before := time.Now()
	id, err := ob.Publish(ctx, "order", map[string]any{"n": 1}, ack.Modname("shop"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.Decode(r.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	if m.MsgID() != id || r.Topic != "org.example.test.shop.order" || m.Topic() != r.Topic {
		t.Fatalf("stored %s on %s (envelope %s on %s)", r.MsgID, r.Topic, m.MsgID(), m.Topic())
	}
	if !m.Has(message.FieldGilmsgVersion) || !m.Has(message.FieldSignature) {
		t.Fatal("stored envelope lacks the ACK marker or the signature")
	}
	if len(r.Recipients) != 1 || r.Recipients[0] != "billing" {
		t.Fatalf("recipients %v, want the configured [billing]", r.Recipients)
	}
	if d := r.Expires.Sub(r.Enqueued); d != 24*time.Hour || r.Enqueued.Before(before) {
		t.Fatalf("expiry %s after enqueue, want the default 24h", d)
	}

	id, _ = ob.Publish(ctx, "slow", nil, ack.Modname("shop"))
	if r, _ := st.Get(ctx, id); r.Expires.Sub(r.Enqueued) != 2*time.Hour {
		t.Fatalf("expiry_for not applied: %s", r.Expires.Sub(r.Enqueued))
	}
	id, _ = ob.Publish(ctx, "slow", nil, ack.Modname("shop"), ack.Within(time.Minute), ack.To("a", "b", "a"))
	if r, _ := st.Get(ctx, id); r.Expires.Sub(r.Enqueued) != time.Minute || len(r.Recipients) != 2 {
		t.Fatalf("Within/To not applied: %s %v", r.Expires.Sub(r.Enqueued), r.Recipients)
	}

	if _, err := ob.Publish(ctx, "nobody", nil, ack.Modname("other")); !errors.Is(err, ack.ErrNoRecipients) {
		t.Fatalf("publish without recipients: %v", err)
	}
}

func TestBatch(t *testing.T) {
	ctx := context.Background()
	ob, st := newOutbox(t, nil)
	b := ob.Batch()
	for range 3 {
		if _, err := b.Publish("order", map[string]any{}, ack.Modname("shop")); err != nil {
			t.Fatal(err)
		}
	}
	b.Rollback()
	if s, _ := st.Stats(ctx); s.Pending != 0 {
		t.Fatalf("rolled back batch stored %d", s.Pending)
	}
	if _, err := b.Commit(ctx); err == nil {
		t.Fatal("commit after rollback accepted")
	}

	b = ob.Batch()
	b.Publish("order", 1, ack.Modname("shop"))
	b.Publish("order", 2, ack.Modname("shop"))
	ids, err := b.Commit(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("commit = %v %v", ids, err)
	}
	recs, _ := st.List(ctx, outbox.Filter{})
	if len(recs) != 2 || recs[0].MsgID != ids[0] || recs[1].MsgID != ids[1] {
		t.Fatalf("stored %d records, not in batch order", len(recs))
	}
	if _, err := ob.Batch().CommitTx(ctx, nil); !errors.Is(err, outbox.ErrNoTx) {
		t.Fatalf("CommitTx on the file store: %v", err)
	}
	if _, err := ob.EnqueueTx(ctx, nil, "order", 1); !errors.Is(err, outbox.ErrNoTx) {
		t.Fatalf("EnqueueTx on the file store: %v", err)
	}
	ob.Close()
	if _, err := ob.Publish(ctx, "order", 1, ack.Modname("shop")); !errors.Is(err, outbox.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestUnsignedRefused(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "o.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := config.NewOutbox(configtest.Config(nil), st); err == nil {
		t.Fatal("an outbox that would store unsigned messages was accepted")
	}
}
