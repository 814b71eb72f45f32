package bridge_test

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/bridge"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// fedora-messaging's severity, sent-at and priority headers become top-level fields of the bus
// envelope, under the bridge's signature (the subscriber verified it over every field); a
// message without them gets none, and the AMQP priority property stands in for a missing
// priority header.
func TestFromAMQPCarriesFedoraMessagingHeaders(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	sub, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithMode(ack.AfterProcessing), ack.WithLogger(testLog(t, "sub01")))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	b := w.bridge(func(b *config.BridgeConfig) {
		b.Queue, b.QueueBindings, b.Recipients, b.Prefetch = rmqtest.Name("in"), []string{"bodhi.#"}, []string{"sub01"}, 1
	})
	ctx := testbus.Within(t, 60*time.Second)
	if err := b.Publisher().WaitSubscribed(ctx, "org.example.test.probe"); err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	h := bridge.FedoraMessagingHeaders(sent)
	h["fedora_messaging_severity"], h["priority"] = int32(40), int32(3)
	w.publishAMQP(ch, "bodhi.update.comment", "with-headers", []byte(`{"n":1}`), h)
	w.publishAMQP(ch, "bodhi.update.comment", "bare", []byte(`{"n":2}`), nil)
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, w.ex, "bodhi.update.comment", true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, MessageId: "prio-property", Priority: 7, Body: []byte(`{"n":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("confirm: %v %v", ok, err)
	}
	for _, want := range []map[string]string{
		{bridge.FieldSeverity: "40", bridge.FieldSentAt: "2024-05-01T10:00:00+00:00", bridge.FieldPriority: "3"},
		{},
		{bridge.FieldPriority: "7"},
	} {
		d, err := nextMsg(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if d.Signer == nil || d.Signer.CN != "bridge" {
			t.Fatalf("signer %v", d.Signer)
		}
		for _, k := range []string{bridge.FieldSeverity, bridge.FieldSentAt, bridge.FieldPriority} {
			v, ok := d.Message.Get(k)
			got := ""
			if ok {
				got = fmt.Sprint(v)
			}
			if got != want[k] {
				t.Errorf("message %v: field %s = %q, want %q", d.Message.Body(), k, got, want[k])
			}
		}
		d.Done(nil)
	}
}
