package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/ackmsg/ackmsg/message"
)

// Consumer processes the messages of its topics; a Hub runs it. Consume is called from the
// consumer's workers, so concurrently when it has more than one.
type Consumer interface {
	// Topics are the topic patterns the consumer wants (see message.TopicMatches): exact topics,
	// fedmsg's trailing "*" (a prefix) and AMQP-style "*" (one word) and "#" (zero or more words).
	Topics() []string
	// Consume processes one valid message. nil means processed: an acking hub may then ACK it.
	// An error means not processed: no ACK, and a retransmission brings the message back. ctx is
	// cancelled at the consumer's timeout and when the hub gives up on in-flight work at
	// shutdown; Consume should return promptly then. m belongs to this call: Consume may keep
	// it, and must not change the values inside it (they are shared).
	Consume(ctx context.Context, m *message.Message) error
}

// PreConsumer is a Consumer with a hook run before each Consume. An error skips Consume and counts
// as a failed attempt.
type PreConsumer interface {
	PreConsume(ctx context.Context, m *message.Message) error
}

// PostConsumer is a Consumer with a hook run after each Consume (or failed PreConsume) with its
// error. Returning an error turns a success into a failure (a commit that failed, say); it cannot
// turn a failure into a success.
type PostConsumer interface {
	PostConsume(ctx context.Context, m *message.Message, err error) error
}

// Func is a Consumer made of a function and its topics.
func Func(fn func(ctx context.Context, m *message.Message) error, topics ...string) Consumer {
	return funcConsumer{fn: fn, topics: topics}
}

type funcConsumer struct {
	fn     func(context.Context, *message.Message) error
	topics []string
}

func (f funcConsumer) Topics() []string { return f.topics }
func (f funcConsumer) Consume(ctx context.Context, m *message.Message) error {
	return f.fn(ctx, m)
}

// Info is what the Hub knows about the message being consumed beyond the envelope: its
// delivery (endpoint, topic, signer, raw bytes), the consumer and the attempt.
type Info struct {
	// Consumer is the name the consumer was added under.
	Consumer string
	// Attempt counts the runs of this consumer for this msg_id, this one included: 1 the first
	// time, more when a retransmission follows a failure (as long as the hub remembers the
	// msg_id, see dedupe_window).
	Attempt int
	// Delivery is the message as received.
	Delivery Delivery
}

type infoKey struct{}

// InfoFrom returns the Info of the message a Hub is consuming with ctx.
func InfoFrom(ctx context.Context) (Info, bool) {
	i, ok := ctx.Value(infoKey{}).(Info)
	return i, ok
}

// ContextWithInfo returns ctx carrying info, as a Hub passes it to Consume: for calling a
// consumer outside a Hub, in tests.
func ContextWithInfo(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// Errors a Hub reports to its Source as a message's outcome (and logs).
var (
	// ErrNoConsumer: the topic passed the subscription prefix but matches no consumer's
	// patterns. Nothing processed it, so it is not ACKed.
	ErrNoConsumer = errors.New("consumer: no consumer for the topic")
	// ErrPoison: the msg_id failed max_attempts times and is no longer processed.
	ErrPoison = errors.New("consumer: poison message: failed too many times, no longer processed")
	// ErrNotProcessed: a consumer's inbox was full (overflow "drop"), or the hub shut down before
	// the message was processed.
	ErrNotProcessed = errors.New("consumer: not processed")
)

// ConsumerError is one consumer's failure to process a message. When several consumers fail
// one message, a Source's Done gets a *multierror.Error of them, whose text also names the
// consumers that succeeded.
type ConsumerError struct {
	Consumer string
	Attempt  int // deliveries of this msg_id to this consumer, this one included
	Err      error
}

func (e *ConsumerError) Error() string { return fmt.Sprintf("consumer %s: %v", e.Consumer, e.Err) }

func (e *ConsumerError) Unwrap() error { return e.Err }

// consumersFailed formats the failures of one message's consumers with the partial success:
// "consumer: 2 of 3 consumers failed msg M (done: c): consumer a: ...; consumer b: ...". A single
// consumer's failure, with no other consumer waited for, reads as that failure alone.
func consumersFailed(id string, awaited int, succeeded []string) multierror.ErrorFormatFunc {
	return func(es []error) string {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.Error()
		}
		if len(es) == 1 && awaited <= 1 {
			return parts[0]
		}
		done := ""
		if len(succeeded) > 0 {
			done = " (done: " + strings.Join(succeeded, ", ") + ")"
		}
		return fmt.Sprintf("consumer: %d of %d consumers failed msg %s%s: %s", len(es), awaited, id, done, strings.Join(parts, "; "))
	}
}
