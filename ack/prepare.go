package ack

import (
	"context"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// Prepared is an acked message built and signed but not sent: what a store keeps so that every
// later send, in this process or after a restart, puts the identical bytes on the wire (same
// msg_id, same signature) and consumers' de-duplication delivers it once.
type Prepared struct {
	// Message is the envelope, with the gilmsg_version marker and ack_recipients, signed.
	Message *message.Message
	// Topic is frame 1 (the full topic) and Frame is frame 2 (the envelope's JSON).
	Topic string
	Frame []byte
	// Recipients are the CNs that must ACK, sorted, without duplicates; never empty.
	Recipients []string
	// Within is what Within asked for (0 when not given).
	Within time.Duration
}

// Prepare builds and signs a message as Publish would (recipients from To, else from
// DefaultRecipients for its full topic; the modname and fields of the options), without
// sending it.
func Prepare(b *publisher.Builder, topic string, body any, opts ...PublishOption) (*Prepared, error) {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	full := b.FullTopic(topic, po.pub...)
	recipients := po.recipients
	if !po.explicit && po.defaults != nil {
		recipients = po.defaults(full)
	}
	recipients = uniq(recipients)
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w (%s)", ErrNoRecipients, full)
	}
	m, err := b.Build(topic, body, append(po.pub, marked(recipients)...)...)
	if err != nil {
		return nil, err
	}
	frame, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("ack: encoding: %w", err)
	}
	return &Prepared{Message: m, Topic: m.Topic(), Frame: frame, Recipients: recipients, Within: po.within}, nil
}

// Deliver sends a prepared message and returns a Future that waits, with the retransmissions
// and guarantees of PublishAsync, for the recipients given (a store passes those still missing
// after earlier attempts). The wait ends at the earlier of ctx's deadline and within (the
// configured ack_timeout when 0). onAck, when set, is called once for each recipient whose
// verified ACK counted, from the ACK listener: it must not block for long, and it may run just
// after Done is closed (Future.Acked is complete once Done is).
func (p *Publisher) Deliver(ctx context.Context, msgID, topic string, frame []byte, recipients []string,
	within time.Duration, onAck func(recipient string)) (*Future, error) {
	recipients = uniq(recipients)
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w (%s)", ErrNoRecipients, msgID)
	}
	if p.dev {
		mode, sink := p.cfg.modeAndSink()
		return nil, fmt.Errorf("ack: %s: a stored message is delivered only with its ACKs, and mode = %q (or sink = %q) awaits none",
			msgID, mode, sink)
	}
	m, err := message.Decode(frame)
	if err != nil {
		return nil, fmt.Errorf("ack: stored envelope of %s: %w", msgID, err)
	}
	if m.MsgID() != msgID || m.Topic() != topic {
		return nil, fmt.Errorf("ack: stored envelope of %s: has msg_id %q and topic %q, want %q", msgID, m.MsgID(), m.Topic(), topic)
	}
	if !m.Has(message.FieldGilmsgVersion) {
		return nil, fmt.Errorf("ack: stored envelope of %s has no %s marker: consumers would not ACK it", msgID, message.FieldGilmsgVersion)
	}
	return p.launch(ctx, recipients, within, onAck, false, func(...publisher.PublishOption) (*message.Message, []byte, error) {
		return m, frame, nil
	})
}
