package bridge

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/message"
)

// errPoison marks a broker message that can never be published: its body is not a JSON object.
var errPoison = errors.New("bridge: body is not a JSON object")

// msgIDNamespace derives msg_ids from AMQP message_ids and bodies (uuid version 5).
var msgIDNamespace = uuid.MustParse("6f1e1c2a-4b7d-5d2e-9a53-0c8f3b1d7e42")

// fedmsgID is the form of a fedmsg msg_id, kept as it is when it is the AMQP message_id.
var fedmsgID = regexp.MustCompile(`^[0-9]{4}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// maxAttemptsKept bounds the failure counts remembered for broker messages.
const maxAttemptsKept = 100000

// runFromAMQP runs the AMQP → bus direction until ctx ends, or until the broker refuses the bridge
// (then it returns the ErrRefused error).
func (b *Bridge) runFromAMQP(ctx context.Context) error {
	attempts := &attemptCounts{n: make(map[string]int)}
	bo := newBackoff(b.cfg.ReconnectMax)
	ns := b.nodes("from-amqp", 1, &b.stats.fromNode, &b.stats.fromFailovers, &b.stats.fromRefusals)
	for ctx.Err() == nil {
		conn, err := ns.dial()
		if err != nil {
			if refused(err) {
				if err := ns.refusal(err); err != nil {
					return refusal("AMQP → bus", err)
				}
				if ns.pause() && !bo.wait(ctx) {
					return nil
				}
				continue
			}
			b.stats.fromConnectErrors.Add(1)
			b.warn.Warn("from-connect", "broker unreachable (AMQP → bus): trying the next node", "error", err, "nodes", len(b.urls))
			if ns.pause() && !bo.wait(ctx) {
				return nil
			}
			continue
		}
		started := time.Now()
		err = b.fromAMQPSession(ctx, conn, attempts)
		b.fromUp.Store(false)
		ns.lost(time.Since(started))
		conn.Close()
		if ctx.Err() != nil {
			return nil
		}
		if refused(err) {
			if err := ns.refusal(err); err != nil {
				return refusal("AMQP → bus", err)
			}
		}
		b.stats.fromReconnects.Add(1)
		b.log.Warn("broker connection lost (AMQP → bus): reconnecting", "error", err)
		if time.Since(started) > time.Minute {
			bo.reset()
		}
		if ns.pause() && !bo.wait(ctx) {
			return nil
		}
	}
	return nil
}

// attemptCounts counts the failed attempts of broker messages by key, for max_attempts, when the
// queue does not count them itself (a classic queue: see deliveryCount). The counts live in
// memory: after a restart of the bridge a message gets max_attempts again.
type attemptCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attemptCounts) fail(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.n) >= maxAttemptsKept {
		clear(a.n)
	}
	a.n[key]++
	return a.n[key]
}

func (a *attemptCounts) forget(key string) {
	a.mu.Lock()
	delete(a.n, key)
	a.mu.Unlock()
}

// declareQueue declares the queue (durable, of queue_type, with queue_arguments, dead-lettering
// to dead_letter_exchange), its bindings and the dead-letter exchange with its queue (of the
// same type, without the arguments).
func (b *Bridge) declareQueue(ch *amqp.Channel) error {
	args := amqp.Table(b.broker.QueueArgs())
	if dlx := b.cfg.DeadLetterExchange; dlx != "" {
		if err := declareExchange(ch, dlx); err != nil {
			return err
		}
		dead := b.cfg.Queue + ".dead"
		if _, err := ch.QueueDeclare(dead, true, false, false, false, amqp.Table{"x-queue-type": string(b.broker.QueueType)}); err != nil {
			return fmt.Errorf("declaring dead-letter queue %q (%s): %w", dead, b.broker.QueueType, err)
		}
		if err := ch.QueueBind(dead, "#", dlx, false, nil); err != nil {
			return fmt.Errorf("binding dead-letter queue %q to %q: %w", dead, dlx, err)
		}
		args["x-dead-letter-exchange"] = dlx
	}
	if _, err := ch.QueueDeclare(b.cfg.Queue, true, false, false, false, args); err != nil {
		return fmt.Errorf("declaring queue %q (an existing queue must be durable, of type %s, with the same arguments: %v): %w",
			b.cfg.Queue, b.broker.QueueType, map[string]any(args), err)
	}
	if len(b.cfg.QueueBindings) > 0 {
		if err := declareExchange(ch, b.cfg.Exchange); err != nil {
			return err
		}
	}
	for _, key := range b.cfg.QueueBindings {
		if err := ch.QueueBind(b.cfg.Queue, key, b.cfg.Exchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %q to %q with %q: %w", b.cfg.Queue, b.cfg.Exchange, key, err)
		}
	}
	return nil
}

// fromAMQPSession consumes on one connection until it fails or ctx ends.
func (b *Bridge) fromAMQPSession(ctx context.Context, conn *amqp.Connection, attempts *attemptCounts) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := b.declareQueue(ch); err != nil {
		return err
	}
	if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("basic.qos: %w", err)
	}
	tag := "ackmsg-bridge-" + uuid.NewString()
	deliveries, err := ch.Consume(b.cfg.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consuming %q: %w", b.cfg.Queue, err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))

	// The bus publishes of this session run (and wait for ACKs) on their own goroutines; they
	// end within publish_timeout, or when stop is closed at shutdown.
	// When the channel is lost they are cancelled (their acks could not be sent: the broker
	// redelivers) before the session returns.
	var wg sync.WaitGroup
	defer wg.Wait()
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()

	b.fromUp.Store(true)
	b.log.Info("bridging AMQP → bus", "node", load(&b.stats.fromNode), "queue", b.cfg.Queue, "queue_type", b.broker.QueueType,
		"prefetch", b.cfg.Prefetch, "recipients", b.cfg.Recipients)
	for {
		select {
		case <-ctx.Done():
			// No more deliveries; give those in progress a little time to finish.
			_ = ch.Cancel(tag, false)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			t := time.NewTimer(b.drainTimeout())
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				stop() // their messages are requeued by the broker when the channel closes
			}
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("delivery channel closed")
			}
			b.fromDelivery(pctx, &wg, d, attempts)
		case e, ok := <-closed:
			if !ok || e == nil {
				return errors.New("channel closed")
			}
			return e
		}
	}
}

// fromDelivery publishes one broker message on the bus and settles it once that is done.
func (b *Bridge) fromDelivery(ctx context.Context, wg *sync.WaitGroup, d amqp.Delivery, attempts *attemptCounts) {
	b.stats.fromReceived.Add(1)
	if h, _ := d.Headers[HeaderBridge].(string); h == b.name {
		b.stats.fromLooped.Add(1)
		b.settle(d.Ack(false), "ack")
		return
	}
	key := d.MessageId
	if key == "" {
		sum := sha256.Sum256(d.Body)
		key = fmt.Sprintf("sha256:%x", sum)
	}
	start := time.Now()
	body, err := message.Unmarshal(d.Body)
	if _, ok := body.(map[string]any); err == nil && !ok {
		err = errPoison
	} else if err != nil {
		err = fmt.Errorf("%w: %v", errPoison, err)
	}
	if err != nil {
		wg.Go(func() { b.failed(ctx, d, key, attempts, err, true) })
		return
	}
	modname, topic := Modname, d.RoutingKey
	if first, rest, ok := strings.Cut(d.RoutingKey, "."); ok && strings.HasPrefix(d.RoutingKey, b.cfg.TopicPrefix+".") {
		modname, topic = first, rest // FullTopic keeps modname.topic whole: it starts with the prefix
	}
	opts := []ack.PublishOption{ack.Modname(modname), ack.MsgID(b.msgID(d)), ack.Within(b.cfg.PublishTimeout)}
	if len(b.cfg.Recipients) > 0 {
		opts = append(opts, ack.To(b.cfg.Recipients...))
	}
	for k, v := range envelopeFields(d) {
		opts = append(opts, ack.Field(k, v))
	}
	f, err := b.pub.PublishAsync(ctx, topic, body, opts...)
	wg.Go(func() {
		if err == nil {
			err = f.Wait(ctx)
		}
		if err != nil {
			b.failed(ctx, d, key, attempts, err, false)
			return
		}
		attempts.forget(key)
		b.stats.fromPublished.Add(1)
		b.metrics.publishSeconds.Observe(time.Since(start).Seconds())
		b.settle(d.Ack(false), "ack")
	})
}

// failed settles a broker message that could not be published on the bus: dead-lettered once
// it failed max_attempts times (at once when poison) and a dead-letter exchange is configured,
// else requeued after a pause.
func (b *Bridge) failed(ctx context.Context, d amqp.Delivery, key string, attempts *attemptCounts, err error, poison bool) {
	n, ok := deliveryCount(d)
	if ok {
		n++ // the broker counts the deliveries before this one: this attempt is one more
	} else {
		n = attempts.fail(key)
	}
	b.stats.fromFailed.Add(1)
	if b.cfg.DeadLetterExchange != "" && (poison || n >= b.cfg.MaxAttempts) {
		attempts.forget(key)
		b.stats.fromDead.Add(1)
		b.log.Warn("broker message dead-lettered", "queue", b.cfg.Queue, "message_id", d.MessageId, "routing_key", d.RoutingKey,
			"attempts", n, "dead_letter_exchange", b.cfg.DeadLetterExchange, "error", err)
		b.settle(d.Nack(false, false), "nack")
		return
	}
	b.warn.Warn("from-failed", "broker message not published on the bus: requeued", "queue", b.cfg.Queue, "message_id", d.MessageId,
		"routing_key", d.RoutingKey, "attempts", n, "error", err)
	t := time.NewTimer(retryPause(n, b.cfg.ReconnectMax))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	b.stats.fromRequeued.Add(1)
	b.settle(d.Nack(false, true), "nack")
}

// Envelope fields the AMQP → bus direction sets from fedora-messaging's headers, at the top
// level of the bus envelope, next to topic and msg_id, so the bridge's signature covers them.
const (
	// FieldSeverity is the fedora_messaging_severity header, an integer (Python's logging
	// levels: 10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL).
	FieldSeverity = "severity"
	// FieldSentAt is the sent-at header as it came, an RFC 3339 time
	// ("2024-05-01T10:00:00+00:00").
	FieldSentAt = "sent_at"
	// FieldPriority is the priority header, an integer; without it the AMQP priority property
	// when that is above 0.
	FieldPriority = "priority"
)

// envelopeFields are the envelope fields of a broker message's fedora-messaging headers; a
// header that is absent or not of its type (an integer, an RFC 3339 time) is left out.
func envelopeFields(d amqp.Delivery) map[string]any {
	f := map[string]any{}
	if n, ok := integer(d.Headers["fedora_messaging_severity"]); ok {
		f[FieldSeverity] = n
	}
	if _, ok := sentAt(d.Headers); ok {
		f[FieldSentAt] = d.Headers["sent-at"].(string)
	}
	if n, ok := integer(d.Headers["priority"]); ok {
		f[FieldPriority] = n
	} else if d.Priority > 0 {
		f[FieldPriority] = int64(d.Priority)
	}
	return f
}

// integer is v as an int64 when it is an AMQP integer.
func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int32:
		return int64(v), true
	case int16:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int:
		return int64(v), true
	}
	return 0, false
}

// deliveryCount is the x-delivery-count header a quorum queue puts on a message it delivers
// again: how many times it was delivered before (returned by a nack with requeue, or by the loss
// of its consumer's channel). It reports false without one: a classic queue, whose messages
// carry only the redelivered flag. A quorum queue leaves the header off the first delivery, so
// a first delivery from a quorum queue reports false too, and is counted in memory, as 1 either
// way.
func deliveryCount(d amqp.Delivery) (int, bool) {
	n, ok := integer(d.Headers["x-delivery-count"])
	return int(n), ok
}

// settle reports an ack or nack the broker could not be told (the channel is gone: the broker
// requeues the message itself).
func (b *Bridge) settle(err error, what string) {
	if err != nil {
		b.stats.fromSettleErrors.Add(1)
		b.warn.Warn("settle", "basic."+what+" not sent (the broker requeues the message)", "error", err)
	}
}

// msgID is the bus msg_id of a broker message: its message_id when that is a fedmsg msg_id,
// else "<year>-<uuid5 of the message_id, or of the body without one>", the same every time the
// broker delivers it. The year is the message's own: of its timestamp property, else of its
// sent-at header (fedora-messaging sets no timestamp), and only without either the current one.
func (b *Bridge) msgID(d amqp.Delivery) string {
	if fedmsgID.MatchString(d.MessageId) {
		return d.MessageId
	}
	year := d.Timestamp.Year()
	if d.Timestamp.IsZero() {
		year = time.Now().Year()
		if t, ok := sentAt(d.Headers); ok {
			year = t.Year()
		}
	}
	src := []byte("message_id:" + d.MessageId)
	if d.MessageId == "" {
		src = append([]byte("body:"), d.Body...)
	}
	return fmt.Sprintf("%d-%s", year, uuid.NewSHA1(msgIDNamespace, src))
}

// sentAt reads fedora-messaging's sent-at header (RFC 3339: every release writes
// datetime.isoformat() of a UTC time, "2024-05-01T10:00:00+00:00").
func sentAt(h amqp.Table) (time.Time, bool) {
	s, _ := h["sent-at"].(string)
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err == nil
}
