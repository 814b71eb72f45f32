package ack

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/transport"
)

// Option configures a Publisher (New), a Subscriber (NewSubscriber, Tail) or the subscription of
// a Hub (WithSubscriberOptions). There is one option type for all of them, so that a program's
// publisher.Option and consumer.Option values both become ack.Option values when its imports are
// switched to ack: each option of packages publisher and consumer has a namesake here.
//
// Options such as WithLogger apply to every side. An option that configures only one side
// (WithMode, WithModname, ...) makes the constructor of the other fail with an error naming it.
type Option func(*options)

// SubscriberOption is Option: the one option type of the package.
type SubscriberOption = Option

// options collects what Options set, for whichever constructor applies them.
type options struct {
	log       *slog.Logger
	signer    certs.Signer
	verifier  certs.Verifier
	clock     func() time.Time
	endpoints []transport.Endpoint
	hasEps    bool
	events    func(Event)
	prefixes  []string
	hasPrefix bool

	mode        Mode
	ackMessages bool
	deliverOnly bool
	pubOpts     []publisher.Option // the Publisher's underlying publisher
	ackOpts     []publisher.Option // a Subscriber's ACK publisher
	ackPub      *publisher.Publisher
	consumer    []consumer.Option // a Subscriber's underlying consumer

	// Options that apply to one side only record their names here.
	publisherOnly, subscriberOnly []string
}

func collectOptions(opts []Option) *options {
	o := new(options)
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	return o
}

// misplaced is the error of a constructor given options of the other side.
func misplaced(names []string, what, other string) error {
	return fmt.Errorf("ack: %s configure%s a %s, not a %s", strings.Join(names, ", "),
		map[bool]string{true: "s"}[len(names) == 1], other, what)
}

// consumerOptions are the options of the underlying consumer.Subscriber: what the shared and
// subscriber options set, then WithConsumerOptions's, which therefore win.
func (o *options) consumerOptions() []consumer.Option {
	var c []consumer.Option
	if o.log != nil {
		c = append(c, consumer.WithLogger(o.log))
	}
	if o.verifier != nil {
		c = append(c, consumer.WithVerifier(o.verifier))
	}
	if o.clock != nil {
		c = append(c, consumer.WithClock(o.clock))
	}
	if o.hasEps {
		c = append(c, consumer.WithEndpoints(o.endpoints...))
	}
	if o.events != nil {
		c = append(c, consumer.WithEvents(o.events))
	}
	if o.hasPrefix {
		c = append(c, consumer.WithPrefixes(o.prefixes...))
	}
	return append(c, o.consumer...)
}

// WithLogger sets the logger of a Publisher or a Subscriber (publisher.WithLogger,
// consumer.WithLogger). Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithSubscriberLogger is WithLogger.
func WithSubscriberLogger(l *slog.Logger) Option { return WithLogger(l) }

// WithSigner signs with s: a Publisher's messages (publisher.WithSigner), a Subscriber's ACKs
// (whose CN is then s's; a Subscriber needs one). Package config gives the configured
// certificate; this overrides it.
func WithSigner(s certs.Signer) Option { return func(o *options) { o.signer = s } }

// WithVerifier checks signatures with v: a Publisher's incoming ACKs (v's Verify must then not
// apply a routing policy to the ACK topic), a Subscriber's incoming messages
// (consumer.WithVerifier). Both need one (except a Publisher that awaits no ACK). Package config
// gives verifiers of the configured CA and CRL; this overrides them.
func WithVerifier(v certs.Verifier) Option { return func(o *options) { o.verifier = v } }

// WithClock sets the clock: of a Publisher's timestamps and msg_id years (publisher.WithClock),
// of a Subscriber's max_message_age check and its ACKs' timestamps (consumer.WithClock). Default
// time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithEndpoints connects to these endpoints instead of the configured ones: a Subscriber for
// messages (consumer.WithEndpoints), a Publisher's ACK listener for ACKs.
func WithEndpoints(eps ...transport.Endpoint) Option {
	return func(o *options) { o.endpoints, o.hasEps = append([]transport.Endpoint(nil), eps...), true }
}

// WithEvents calls fn for every connection change of a Subscriber's sockets
// (consumer.WithEvents) or of a Publisher's ACK listener, one per endpoint. fn must not block.
func WithEvents(fn func(Event)) Option { return func(o *options) { o.events = fn } }

// Event is consumer.Event: a connection change on one endpoint, reported to WithEvents.
type Event = consumer.Event

// EventKind is consumer.EventKind: what happened to the connection.
type EventKind = consumer.EventKind

// The connection events WithEvents reports (consumer's).
const (
	Connected    = consumer.Connected
	Disconnected = consumer.Disconnected
)

// WithPrefixes subscribes a Subscriber with these topic prefixes instead of the one given to
// NewSubscriber (consumer.WithPrefixes). Subscriber only.
func WithPrefixes(prefixes ...string) Option {
	return func(o *options) {
		o.prefixes, o.hasPrefix = append([]string{}, prefixes...), true
		o.subscriberOnly = append(o.subscriberOnly, "WithPrefixes")
	}
}

// WithModname sets a Publisher's default modname (publisher.WithModname). Publisher only: a
// Subscriber's ACKs always use modname "gilmsg".
func WithModname(m string) Option {
	return func(o *options) {
		o.pubOpts = append(o.pubOpts, publisher.WithModname(m))
		o.publisherOnly = append(o.publisherOnly, "WithModname")
	}
}

// WithDeliverOnly declares a Publisher that only sends frames signed elsewhere (Deliver, for a
// store's deliverer): it needs no certificate of its own, and without one it does not warn that
// its messages would be unsigned. Publisher only.
func WithDeliverOnly() Option {
	return func(o *options) {
		o.deliverOnly = true
		o.publisherOnly = append(o.publisherOnly, "WithDeliverOnly")
	}
}

// DeliverOnly is WithDeliverOnly.
//
// Deprecated: use WithDeliverOnly (constructor options are named With..., call-site options
// such as To and Within are not); DeliverOnly goes in the next release.
func DeliverOnly() Option { return WithDeliverOnly() }

// WithHistory numbers a Publisher's messages in store, as publisher.WithHistory. Publisher
// only.
func WithHistory(store replay.Store) Option {
	return func(o *options) {
		o.pubOpts = append(o.pubOpts, publisher.WithHistory(store))
		o.publisherOnly = append(o.publisherOnly, "WithHistory")
	}
}

// WithPublisherOptions passes options to a Publisher's underlying publisher.Publisher.
// Publisher only.
func WithPublisherOptions(opts ...publisher.Option) Option {
	return func(o *options) {
		o.pubOpts = append(o.pubOpts, opts...)
		o.publisherOnly = append(o.publisherOnly, "WithPublisherOptions")
	}
}

// WithMode sets when a Subscriber sends ACKs. Default AfterProcessing. Subscriber only.
func WithMode(m Mode) Option {
	return func(o *options) {
		o.mode = m
		o.subscriberOnly = append(o.subscriberOnly, "WithMode")
	}
}

// WithAckMessages makes a Subscriber deliver the ACKs on the bus (topics ending in .gilmsg.ack)
// as messages, decoded and verified like any other and never ACKed, as ackmsg-tail --show-acks
// prints them. Without it a Subscriber drops them unread (counted in Stats().Skipped): every
// acking consumer hears every consumer's ACKs, and checking each one's signature would make the
// work per publish grow with the square of the acking consumers. Subscriber only.
func WithAckMessages() Option {
	return func(o *options) {
		o.ackMessages = true
		o.subscriberOnly = append(o.subscriberOnly, "WithAckMessages")
	}
}

// WithConsumerOptions passes options to a Subscriber's underlying consumer.Subscriber; they
// apply after the options of this package, so they win. Subscriber only.
func WithConsumerOptions(opts ...consumer.Option) Option {
	return func(o *options) {
		o.consumer = append(o.consumer, opts...)
		o.subscriberOnly = append(o.subscriberOnly, "WithConsumerOptions")
	}
}

// WithAckPublisherOptions passes options to the publisher that sends a Subscriber's ACKs.
// Subscriber only.
func WithAckPublisherOptions(opts ...publisher.Option) Option {
	return func(o *options) {
		o.ackOpts = append(o.ackOpts, opts...)
		o.subscriberOnly = append(o.subscriberOnly, "WithAckPublisherOptions")
	}
}

// WithAckPublisher makes a Subscriber send its ACKs through p, a publisher the caller opened
// and closes after the Subscriber (the ACKs are signed by p's signer, on the gilmsg ACK topic).
// It is for a process that both publishes and acks while bound on one endpoint (name), such
// as ackmsg-bridge: two publishers cannot bind one address. Subscriber only.
func WithAckPublisher(p *publisher.Publisher) Option {
	return func(o *options) {
		o.ackPub = p
		o.subscriberOnly = append(o.subscriberOnly, "WithAckPublisher")
	}
}

// PublishOption adjusts one Publish call.
type PublishOption func(*publishOptions)

type publishOptions struct {
	recipients []string
	explicit   bool
	defaults   func(fullTopic string) []string // DefaultRecipients
	within     time.Duration
	pub        []publisher.PublishOption
}

// To names the recipients that must ACK: the CNs of their certificates. It overrides the
// recipients configured for the topic. To() with no names means a plain, unacknowledged publish
// (an error when ack_require_recipients is set).
func To(recipients ...string) PublishOption {
	return func(o *publishOptions) {
		o.recipients = append(o.recipients, recipients...)
		o.explicit = true
	}
}

// DefaultRecipients sets where Prepare takes the recipients from when To is not given: f maps
// a message's full topic to the CNs that must ACK it (the ack_recipients configuration,
// config.Config.RecipientsFor). A Publisher's Publish takes them from its own configuration
// and ignores it.
func DefaultRecipients(f func(fullTopic string) []string) PublishOption {
	return func(o *publishOptions) { o.defaults = f }
}

// Within bounds the wait for ACKs (default: ack_timeout from the configuration). The context's
// deadline applies too; the earlier one wins.
func Within(d time.Duration) PublishOption { return func(o *publishOptions) { o.within = d } }

// Modname sets the message's modname, as publisher.Modname.
func Modname(m string) PublishOption {
	return func(o *publishOptions) { o.pub = append(o.pub, publisher.Modname(m)) }
}

// MsgID gives the message this msg_id instead of a fresh one, as publisher.MsgID: a message
// published again under the same msg_id (after a failure, by a bridge) is de-duplicated by
// recipients that got it before.
func MsgID(id string) PublishOption {
	return func(o *publishOptions) { o.pub = append(o.pub, publisher.MsgID(id)) }
}

// Field adds a top-level envelope field before signing, as publisher.Field. The gilmsg_version
// marker of an acked message is not replaced by it.
func Field(key string, value any) PublishOption {
	return func(o *publishOptions) { o.pub = append(o.pub, publisher.Field(key, value)) }
}

// WithoutReplay turns a Subscriber's gap detection and catch-up off (consumer.WithoutReplay).
// Subscriber only.
func WithoutReplay() Option {
	return func(o *options) {
		o.consumer = append(o.consumer, consumer.WithoutReplay())
		o.subscriberOnly = append(o.subscriberOnly, "WithoutReplay")
	}
}

// WithReplayFromStart makes a Subscriber catch up on the whole retained history of publishers its
// state file does not know yet (consumer.WithReplayFromStart). Subscriber only.
func WithReplayFromStart() Option {
	return func(o *options) {
		o.consumer = append(o.consumer, consumer.WithReplayFromStart())
		o.subscriberOnly = append(o.subscriberOnly, "WithReplayFromStart")
	}
}
