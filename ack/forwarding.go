package ack

import (
	"context"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// Publisher returns the underlying base-bus publisher (for plain messages on the same socket).
func (p *Publisher) Publisher() *publisher.Publisher { return p.pub }

// Numbered reports whether messages get a seq_id and are recorded (persistent_store): plain and
// acked ones alike.
func (p *Publisher) Numbered() bool { return p.pub.Numbered() }

// ReplayAddr is the address of the replay endpoint this Publisher serves, "" when none.
func (p *Publisher) ReplayAddr() string { return p.pub.ReplayAddr() }

// ReplayStats are the counters of the replay endpoint (zero when there is none).
func (p *Publisher) ReplayStats() replay.ServerStats { return p.pub.ReplayStats() }

// AckTopic is the topic ACKs are expected on: <topic_prefix>.<environment>.gilmsg.ack.
func (p *Publisher) AckTopic() string { return p.ackTopic }

// WaitSubscribed waits until some subscriber's subscription covers topic, as
// publisher.Publisher.WaitSubscribed: a recipient that subscribed before the first publish gets
// it at once rather than from a retransmission. Without a deadline on ctx it waits at most
// DefaultSubscribeWait.
func (p *Publisher) WaitSubscribed(ctx context.Context, topic string) error {
	return closedErr(p.pub.WaitSubscribed(ctx, topic))
}

// Addr is the address the publisher's socket bound (passive) or connected to (active).
func (p *Publisher) Addr() string { return p.pub.Addr() }

// Signer returns the signer of the messages, or nil when they are not signed.
func (p *Publisher) Signer() certs.Signer { return p.pub.Signer() }

// Config returns the configuration the Publisher was built from. Its slices and function are
// shared: do not modify them.
func (p *Publisher) Config() Config { return p.cfg }

// Sent counts the messages handed to the socket: plain and acked ones, retransmissions included.
func (p *Publisher) Sent() uint64 { return p.pub.Sent() }

// Subscriptions counts the live subscriptions the publisher's socket has seen, as
// publisher.Publisher.Subscriptions.
func (p *Publisher) Subscriptions() int { return p.pub.Subscriptions() }
