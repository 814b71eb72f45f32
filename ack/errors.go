package ack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// Errors of the ACK overlay; test them with errors.Is.
var (
	// ErrTimeout means some recipients did not ACK before the deadline. The error is a
	// *TimeoutError saying who.
	ErrTimeout = errors.New("ack: timeout")
	// ErrInFlightFull means ack_max_in_flight messages were already waiting for ACKs and none
	// finished before the deadline.
	ErrInFlightFull = errors.New("ack: too many messages in flight")
	// ErrClosed means the Publisher or Subscriber was closed. An error that is
	// publisher.ErrClosed or consumer.ErrClosed underneath is returned as ErrClosed too (both
	// errors.Is checks hold). It wraps message.ErrClosed, as every package's ErrClosed does.
	ErrClosed = fmt.Errorf("ack: %w", message.ErrClosed)
	// ErrNoRecipients means an acked publish had no recipients (none given with To, none
	// configured for its topic) while ack_require_recipients is set; Prepare and Deliver, which
	// exist only for recipients, always return it then.
	ErrNoRecipients = errors.New("ack: no recipients")
	// ErrNoSubscriber is publisher.ErrNoSubscriber: an active publisher found no relay
	// subscribed in time.
	ErrNoSubscriber = publisher.ErrNoSubscriber
)

// DefaultSubscribeWait is publisher.DefaultSubscribeWait: how long a publish waits for a
// subscription when ctx has no deadline.
const DefaultSubscribeWait = publisher.DefaultSubscribeWait

// closedErr makes a base package's ErrClosed an ErrClosed of this package as well.
func closedErr(err error) error {
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	if errors.Is(err, publisher.ErrClosed) || errors.Is(err, consumer.ErrClosed) {
		return fmt.Errorf("%w (%w)", ErrClosed, err)
	}
	return err
}

// TimeoutError reports a publish that did not collect every ACK: which recipients are missing,
// which ACKed, and how long and how often it tried. errors.Is(err, ErrTimeout) holds when the
// deadline passed; when the caller's context was cancelled instead, errors.Is(err,
// context.Canceled) holds and ErrTimeout does not.
type TimeoutError struct {
	MsgID   string
	Topic   string
	Missing []string // sorted
	Acked   []string // in the order the ACKs arrived
	// Others are the signers of verified ACKs for this msg_id that are not recipients (at most
	// 8): subscribers ACK every marked message they get, so a recipient misnamed in To (the
	// certificate's CN differs) shows here.
	Others   []string
	Waited   time.Duration
	Attempts int // sends of the message, the first included
	// Cause is the context's error when the caller's context ended the wait; nil when the ACK
	// timeout did.
	Cause error
}

func (e *TimeoutError) Error() string {
	total := len(e.Missing) + len(e.Acked)
	var b strings.Builder
	verb := "did not ACK"
	if errors.Is(e.Cause, context.Canceled) {
		verb = "had not ACKed"
	}
	fmt.Fprintf(&b, "ack: %d of %d recipients %s msg %s within %s: missing %s", len(e.Missing), total, verb,
		e.MsgID, e.Waited.Round(time.Millisecond), strings.Join(e.Missing, ", "))
	if len(e.Acked) > 0 {
		fmt.Fprintf(&b, " (acked: %s)", strings.Join(e.Acked, ", "))
	}
	if len(e.Others) > 0 {
		fmt.Fprintf(&b, " (also ACKed by non-recipients: %s)", strings.Join(e.Others, ", "))
	}
	if errors.Is(e.Cause, context.Canceled) {
		b.WriteString(" when the context was cancelled")
	}
	return b.String()
}

// Unwrap makes errors.Is see ErrTimeout (for deadlines) and the context's error (when the
// caller's context ended the wait).
func (e *TimeoutError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrTimeout}
	}
	if errors.Is(e.Cause, context.DeadlineExceeded) {
		return []error{ErrTimeout, e.Cause}
	}
	return []error{e.Cause}
}
