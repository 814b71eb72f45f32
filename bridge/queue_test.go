package bridge_test

import (
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// redeclare declares q again on a fresh channel with args and returns the broker's answer: nil
// when args match the queue's, a 406 PRECONDITION_FAILED when they do not.
func (w *world) redeclare(q string, args amqp.Table) error {
	w.t.Helper()
	ch := w.amqpChannel()
	_, err := ch.QueueDeclare(q, true, false, false, false, args)
	return err
}

func preconditionFailed(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed
}

// The bridge declares its queue (and its dead-letter queue) as a quorum queue by default, and as
// queue_type and queue_arguments say otherwise: the broker accepts a declaration with exactly
// those arguments and refuses one of another type or value.
func TestQueueTypeAndArguments(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name string
		edit func(*config.BridgeConfig)
		same amqp.Table // the queue's arguments as the bridge declared them
		diff amqp.Table // arguments the broker must refuse
	}{
		{"default quorum", func(*config.BridgeConfig) {},
			amqp.Table{"x-queue-type": "quorum"}, amqp.Table{"x-queue-type": "classic"}},
		{"quorum with a delivery limit", func(b *config.BridgeConfig) {
			b.QueueArguments = map[string]any{"x-delivery-limit": int64(7)}
		}, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(7)}, amqp.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(8)}},
		{"classic with a length limit", func(b *config.BridgeConfig) {
			b.QueueType, b.QueueArguments = "classic", map[string]any{"x-max-length": int64(1000)}
		}, amqp.Table{"x-queue-type": "classic", "x-max-length": int64(1000)}, amqp.Table{"x-queue-type": "quorum", "x-max-length": int64(1000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, dlx := rmqtest.Name("typed"), rmqtest.Name("dlx")
			r := w.bridge(func(b *config.BridgeConfig) {
				b.Queue, b.DeadLetterExchange = q, dlx
				tc.edit(b)
			})
			r.stop()
			same := amqp.Table{"x-dead-letter-exchange": dlx}
			for k, v := range tc.same {
				same[k] = v
			}
			if err := w.redeclare(q, same); err != nil {
				t.Fatalf("declaring %s with %v: %v", q, same, err)
			}
			if err := w.redeclare(q+".dead", amqp.Table{"x-queue-type": tc.same["x-queue-type"]}); err != nil {
				t.Fatalf("dead-letter queue: %v", err)
			}
			diff := amqp.Table{"x-dead-letter-exchange": dlx}
			for k, v := range tc.diff {
				diff[k] = v
			}
			if err := w.redeclare(q, diff); !preconditionFailed(err) {
				t.Fatalf("declaring %s with %v: %v, want 406 PRECONDITION_FAILED", q, diff, err)
			}
		})
	}
}

// A quorum queue counts a message's deliveries itself (x-delivery-count), so the attempts of a
// message whose recipient never ACKs add up across bridge restarts: a second bridge dead-letters
// it after max_attempts minus the first bridge's failures (fewer when the first one's stop
// returned a delivery in progress, which the queue counts too), where counting in memory would
// start again from max_attempts.
func TestAttemptsSurviveRestartWithQuorumQueue(t *testing.T) {
	w := newWorld(t)
	ch := w.amqpChannel()
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(w.ex, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, dlx := rmqtest.Name("counted"), rmqtest.Name("dlx")
	edit := func(b *config.BridgeConfig) {
		b.Queue, b.QueueBindings, b.DeadLetterExchange = q, []string{"#"}, dlx
		b.Recipients, b.PublishTimeout, b.MaxAttempts = []string{"nobody"}, 0.3, 4
	}
	first := w.bridge(edit)
	w.publishAMQP(ch, "never.acked", "n1", []byte(`{"n":1}`), nil)
	testbus.Eventually(t, 20*time.Second, "a failed attempt", func() bool { return first.Stats().FromRequeued >= 1 })
	first.stop()
	if st := first.Stats(); st.FromDead != 0 {
		t.Fatalf("first bridge: %+v: dead-lettered before max_attempts", st)
	}

	second := w.bridge(edit)
	testbus.Eventually(t, 20*time.Second, "dead-lettered", func() bool { return depth(t, ch, q+".dead") == 1 })
	if st, before := second.Stats(), first.Stats().FromFailed; st.FromFailed > 4-before || st.FromDead != 1 {
		t.Fatalf("second bridge: %+v: want dead-lettered within %d failures (the queue counted the first bridge's %d)", st, 4-before, before)
	}
	if n := depth(t, ch, q); n != 0 {
		t.Fatalf("%d left in the queue", n)
	}
}
