package ack

import (
	"context"
	"fmt"
	"slices"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// Publish sends a message and returns once every recipient has ACKed it, or fails with a
// *TimeoutError naming the missing recipients. Recipients come from To, else from the
// configuration's recipients for the full topic. With none, the message goes out as a plain
// publish, with a warning once per topic (counted in Stats.NoRecipients), or Publish fails with
// ErrNoRecipients when ack_require_recipients is set. The wait ends at the earlier of ctx's
// deadline and Within (default ack_timeout); cancelling ctx ends it too. In development mode
// and on the log sink the message is sent and Publish returns nil at once (see the package
// documentation).
func (p *Publisher) Publish(ctx context.Context, topic string, body any, opts ...PublishOption) (*message.Message, error) {
	f, err := p.PublishAsync(ctx, topic, body, opts...)
	if err != nil {
		return nil, err
	}
	<-f.Finished()
	return f.Message(), f.Err()
}

// maxWarnedTopics bounds the topics remembered for the once-per-topic warning about missing
// recipients; beyond it the warning is rate-limited instead.
const maxWarnedTopics = 1024

// warnNoRecipients warns once per topic that an acked publish had no recipients.
func (p *Publisher) warnNoRecipients(topic string) {
	p.wmu.Lock()
	_, seen := p.warned[topic]
	full := len(p.warned) >= maxWarnedTopics
	if !seen && !full {
		p.warned[topic] = struct{}{}
	}
	p.wmu.Unlock()
	const msg = "acked publish without recipients (none given with ack.To, none configured in recipients): " +
		"sent as a plain publish, nobody ACKs it; set ack_require_recipients = true to make this an error"
	switch {
	case seen:
	case full:
		p.unwarned.Warn("no_recipients", msg, "topic", topic)
	default:
		p.log.Warn(msg+" (logged once for this topic)", "topic", topic)
	}
}

// PublishAsync sends a message and returns a Future without waiting for ACKs, so one goroutine
// can keep many acked messages in flight (at most ack_max_in_flight; beyond that it waits for a
// slot until the deadline, then fails with ErrInFlightFull). Each message has the guarantees of
// Publish. ctx bounds the wait for ACKs as in Publish.
func (p *Publisher) PublishAsync(ctx context.Context, topic string, body any, opts ...PublishOption) (*Future, error) {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	full := p.pub.FullTopic(topic, po.pub...)
	recipients := p.recipients(full, po)
	if len(recipients) == 0 {
		if p.cfg.RequireRecipients {
			return nil, fmt.Errorf("%w for %s: none given with ack.To and none configured in recipients, "+
				"and ack_require_recipients is set", ErrNoRecipients, full)
		}
		if !po.explicit {
			p.stats.noRecipients.Add(1)
			p.warnNoRecipients(full)
		}
		p.stats.plain.Add(1)
		m, err := p.pub.Publish(ctx, topic, body, po.pub...)
		if err != nil {
			return nil, closedErr(err)
		}
		return finished(m), nil
	}
	if p.dev {
		m, err := p.pub.Publish(ctx, topic, body, append(po.pub, marked(recipients)...)...)
		if err != nil {
			return nil, closedErr(err)
		}
		p.stats.notAwaited.Add(1)
		mode, sink := p.cfg.modeAndSink()
		p.log.Warn("acked publish sent without waiting for ACKs", "mode", mode, "sink", sink,
			"topic", m.Topic(), "msg_id", m.MsgID(), "recipients", recipients)
		return finished(m), nil
	}

	return p.launch(ctx, recipients, po.within, nil, true, func(extra ...publisher.PublishOption) (*message.Message, []byte, error) {
		m, err := p.pub.Build(topic, body, slices.Concat(po.pub, marked(recipients), extra)...)
		if err != nil {
			return nil, nil, err
		}
		frame, err := m.Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("ack: encoding: %w", err)
		}
		return m, frame, nil
	})
}

// recipients resolves who must ACK a message on the full topic: To's names, else the configured
// ones; sorted, without repeats.
func (p *Publisher) recipients(full string, po publishOptions) []string {
	if po.explicit {
		return uniq(po.recipients)
	}
	if p.cfg.Recipients == nil {
		return nil
	}
	return uniq(p.cfg.Recipients(full))
}

// Build makes the envelope Publish would send for topic and body, signed, without sending it:
// with the gilmsg_version marker and ack_recipients when the message has recipients (as
// publisher.Publisher.Build, plus those fields). Sending it through Publisher().SendRaw would
// not wait for ACKs.
func (p *Publisher) Build(topic string, body any, opts ...PublishOption) (*message.Message, error) {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	if r := p.recipients(p.pub.FullTopic(topic, po.pub...), po); len(r) > 0 {
		po.pub = append(po.pub, marked(r)...)
	}
	return p.pub.Build(topic, body, po.pub...)
}

// FullTopic returns the full topic a message on topic gets with these options, as
// publisher.Publisher.FullTopic.
func (p *Publisher) FullTopic(topic string, opts ...PublishOption) string {
	var po publishOptions
	for _, o := range opts {
		o(&po)
	}
	return p.pub.FullTopic(topic, po.pub...)
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
