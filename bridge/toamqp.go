package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/ack"
)

// outgoing is a bus message on its way to the broker.
type outgoing struct {
	d        *ack.Delivery
	pub      amqp.Publishing
	topic    string
	msgID    string
	start    time.Time
	returned bool
}

// event is what the broker said about a publish: a basic.return or a confirm.
type event struct {
	ret   bool
	msgID string // of a return
	why   string // of a return: reply code and text
	tag   uint64 // of a confirm
	ack   bool   // of a confirm
}

// errNacked ends a session in which the broker nacked a publish.
var errNacked = errors.New("the broker nacked a publish: reconnecting to publish it again")

// runToAMQP runs the bus → AMQP direction until ctx ends, or until the broker refuses the bridge
// (then it returns the ErrRefused error).
func (b *Bridge) runToAMQP(ctx context.Context) error {
	in := make(chan *ack.Delivery)
	rctx, stopReader := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		b.readBus(rctx, in)
	}()
	defer func() {
		stopReader()
		<-readerDone
	}()

	var carry []*outgoing // published and not confirmed when the connection was lost
	bo := newBackoff(b.cfg.ReconnectMax)
	ns := b.nodes("to-amqp", 0, &b.stats.toNode, &b.stats.toFailovers, &b.stats.toRefusals)
	for ctx.Err() == nil {
		conn, err := ns.dial()
		if err != nil {
			if refused(err) {
				if err := ns.refusal(err); err != nil {
					return refusal("bus → AMQP", err)
				}
				if ns.pause() && !bo.wait(ctx) {
					return nil
				}
				continue
			}
			b.stats.toConnectErrors.Add(1)
			b.warn.Warn("to-connect", "broker unreachable (bus → AMQP): trying the next node", "error", err, "nodes", len(b.urls))
			if ns.pause() && !bo.wait(ctx) {
				return nil
			}
			continue
		}
		started := time.Now()
		carry, err = b.toAMQPSession(ctx, conn, in, carry)
		b.toUp.Store(false)
		ns.lost(time.Since(started))
		conn.Close()
		if ctx.Err() != nil {
			return nil
		}
		if refused(err) {
			if err := ns.refusal(err); err != nil {
				return refusal("bus → AMQP", err)
			}
		}
		b.stats.toReconnects.Add(1)
		b.log.Warn("broker connection lost (bus → AMQP): reconnecting", "error", err, "unconfirmed", len(carry))
		if time.Since(started) > time.Minute {
			bo.reset()
		}
		if ns.pause() && !bo.wait(ctx) {
			return nil
		}
	}
	return nil
}

// readBus hands the bus messages to forward to the session, and finishes the others.
func (b *Bridge) readBus(ctx context.Context, in chan<- *ack.Delivery) {
	for {
		d, err := b.sub.Next(ctx)
		if err != nil {
			return
		}
		b.stats.busReceived.Add(1)
		switch {
		case d.Topic == b.ackTopic:
			b.stats.skippedAck.Add(1)
			d.Done(nil) // control traffic, never forwarded (and never marked)
			continue
		case d.Signer != nil && d.Signer.CN == b.cn:
			b.stats.skippedOwn.Add(1)
			d.Done(nil) // came from the broker through this bridge: not sent back
			continue
		case !b.forwards(d.Topic):
			b.stats.skippedTopic.Add(1)
			d.Done(ErrNotForwarded)
			continue
		}
		select {
		case in <- d:
		case <-ctx.Done():
			return
		}
	}
}

func (b *Bridge) forwards(topic string) bool {
	for _, p := range b.patterns {
		if p.Match(topic) {
			return true
		}
	}
	return false
}

// publishing makes the broker message for a bus message: the signed envelope as body, the
// topic as routing key, fedora-messaging's headers.
func (b *Bridge) publishing(d *ack.Delivery) *outgoing {
	m := d.Message
	ts := time.Unix(m.Timestamp(), 0).UTC()
	if m.Timestamp() == 0 {
		ts = time.Now().UTC()
	}
	signer := ""
	if d.Signer != nil {
		signer = d.Signer.CN
	}
	headers := FedoraMessagingHeaders(ts)
	headers[HeaderBridge] = b.name
	headers[HeaderSigner] = signer
	return &outgoing{d: d, topic: d.Topic, msgID: m.MsgID(), start: time.Now(), pub: amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		DeliveryMode:    amqp.Persistent,
		MessageId:       m.MsgID(),
		Timestamp:       ts,
		Headers:         headers,
		Body:            d.Raw,
	}}
}

// toAMQPSession publishes on one connection until it fails or ctx ends. It returns the
// messages published and not confirmed, to publish again on the next connection.
func (b *Bridge) toAMQPSession(ctx context.Context, conn *amqp.Connection, in <-chan *ack.Delivery, carry []*outgoing) ([]*outgoing, error) {
	ch, err := conn.Channel()
	if err != nil {
		return carry, err
	}
	defer ch.Close()
	if err := declareExchange(ch, b.cfg.Exchange); err != nil {
		return carry, err
	}
	if err := ch.Confirm(false); err != nil {
		return carry, fmt.Errorf("confirm mode: %w", err)
	}
	max := b.cfg.MaxInFlight
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	events := readEvents(ch, max)
	s := &toSession{b: b, ctx: ctx, ch: ch, carry: carry, inflight: make(map[uint64]*outgoing), byID: make(map[string]uint64)}

	b.toUp.Store(true)
	b.log.Info("bridging bus → AMQP", "node", load(&b.stats.toNode), "exchange", b.cfg.Exchange, "topics", b.cfg.Topics, "republishing", len(carry))
	for {
		if len(s.carry) > 0 && len(s.inflight) < max {
			o := s.carry[0]
			if err := s.publish(o); err != nil {
				return s.leftover(), err
			}
			s.carry = s.carry[1:]
			continue
		}
		var next <-chan *ack.Delivery
		if len(s.inflight) < max {
			next = in
		}
		select {
		case <-ctx.Done():
			s.drain(events, closed)
			return nil, nil
		case d := <-next:
			o := b.publishing(d)
			if err := s.publish(o); err != nil {
				s.carry = append(s.carry, o)
				return s.leftover(), err
			}
		case ev := <-events:
			s.handle(ev)
			if s.nacked {
				return s.leftover(), errNacked
			}
		case e, ok := <-closed:
			// Confirms that arrived before the close are still in events: take them first.
			for {
				select {
				case ev := <-events:
					s.handle(ev)
					continue
				default:
				}
				break
			}
			if !ok || e == nil {
				return s.leftover(), errors.New("channel closed")
			}
			return s.leftover(), e
		}
	}
}

// readEvents hands the channel's returns and confirms to the session, in the broker's order.
// Returns and confirms are read by one goroutine from unbuffered channels: the client sends a
// message's basic.return before its basic.ack, each send completing before the next, so the
// events arrive here in the broker's order. The buffer holds every event the max messages in
// flight can produce (one return and one confirm each), so the reader never blocks on it; it ends
// when the channel closes.
func readEvents(ch *amqp.Channel, max int) <-chan event {
	rets := ch.NotifyReturn(make(chan amqp.Return))
	confs := ch.NotifyPublish(make(chan amqp.Confirmation))
	events := make(chan event, 2*max+2)
	go func() {
		for rets != nil || confs != nil {
			select {
			case r, ok := <-rets:
				if !ok {
					rets = nil
					continue
				}
				events <- event{ret: true, msgID: r.MessageId, why: fmt.Sprintf("%d %s", r.ReplyCode, r.ReplyText)}
			case c, ok := <-confs:
				if !ok {
					confs = nil
					continue
				}
				events <- event{tag: c.DeliveryTag, ack: c.Ack}
			}
		}
	}()
	return events
}

// toSession is the state of one bus → AMQP session: what is in flight on its channel, and what
// is to publish (again) first.
type toSession struct {
	b        *Bridge
	ctx      context.Context
	ch       *amqp.Channel
	carry    []*outgoing
	inflight map[uint64]*outgoing // by delivery tag
	byID     map[string]uint64    // msg_id → its latest delivery tag
	// A nack ends the session: RabbitMQ (3.10) nacks every later publish on a channel that
	// published to a quorum queue while its leader was down, for as long as the channel lives,
	// where a new channel is acked as soon as a new leader is elected. So the nacked message and
	// the others unconfirmed are published again on a new connection (the next node), and a
	// broker that keeps nacking is retried at the pace of the reconnections, not in a loop.
	nacked bool
}

// leftover is what the next connection publishes: the unconfirmed in publishing order, then
// the carried.
func (s *toSession) leftover() []*outgoing {
	tags := make([]uint64, 0, len(s.inflight))
	for t := range s.inflight {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	out := make([]*outgoing, 0, len(tags)+len(s.carry))
	for _, t := range tags {
		s.inflight[t].returned = false
		out = append(out, s.inflight[t])
	}
	return append(out, s.carry...)
}

func (s *toSession) publish(o *outgoing) error {
	b := s.b
	tag := s.ch.GetNextPublishSeqNo()
	if err := s.ch.PublishWithContext(context.WithoutCancel(s.ctx), b.cfg.Exchange, o.topic, true, false, o.pub); err != nil {
		return err
	}
	s.inflight[tag] = o
	s.byID[o.msgID] = tag
	b.stats.toPublished.Add(1)
	b.stats.toInFlight.Store(int64(len(s.inflight)))
	return nil
}

// handle takes a return (marks the message) or a confirm (ACKs it on the bus, or not).
func (s *toSession) handle(ev event) {
	b := s.b
	if ev.ret {
		if t, ok := s.byID[ev.msgID]; ok && s.inflight[t] != nil {
			s.inflight[t].returned = true
			b.warn.Warn("returned", "the broker returned a message as unroutable: not ACKed", "topic", s.inflight[t].topic,
				"msg_id", ev.msgID, "exchange", b.cfg.Exchange, "reply", ev.why)
		}
		return
	}
	o := s.inflight[ev.tag]
	if o == nil {
		return
	}
	delete(s.inflight, ev.tag)
	if s.byID[o.msgID] == ev.tag {
		delete(s.byID, o.msgID)
	}
	b.stats.toInFlight.Store(int64(len(s.inflight)))
	switch {
	case !ev.ack:
		b.stats.toNacked.Add(1)
		b.warn.Warn("nacked", "the broker nacked a message: publishing it again on a new connection", "topic", o.topic, "msg_id", o.msgID)
		o.returned = false
		s.carry = append(s.carry, o)
		s.nacked = true
	case o.returned:
		b.stats.toReturned.Add(1)
		o.d.Done(ErrUnroutable)
	default:
		b.stats.toConfirmed.Add(1)
		b.metrics.confirmSeconds.Observe(time.Since(o.start).Seconds())
		o.d.Done(nil)
	}
}

// drain waits a little (drainTimeout) for the confirms of what is in flight, so it is ACKed.
func (s *toSession) drain(events <-chan event, closed <-chan *amqp.Error) {
	t := time.NewTimer(s.b.drainTimeout())
	defer t.Stop()
	for len(s.inflight) > 0 {
		select {
		case ev := <-events:
			s.handle(ev)
		case <-closed:
			return
		case <-t.C:
			return
		}
	}
}

// declareExchange makes sure the topic exchange exists: amq.* exchanges are the broker's own,
// others are declared durable (an existing one of another type is an error from the broker).
func declareExchange(ch *amqp.Channel, name string) error {
	if len(name) >= 4 && name[:4] == "amq." {
		return nil
	}
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %q: %w", name, err)
	}
	return nil
}
