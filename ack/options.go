package ack

import (
	"time"

	"github.com/ackmsg/ackmsg/publisher"
)

// PublishOption adjusts one Publish call.
type PublishOption func(*publishOptions)

type publishOptions struct {
	recipients []string
	explicit   bool
	within     time.Duration
	pub        []publisher.PublishOption
}

// To names the recipients that must ACK: the CNs of their certificates. It overrides the
// recipients configured for the topic. To() with no names means a plain, unacknowledged publish.
func To(recipients ...string) PublishOption {
	return func(o *publishOptions) {
		o.recipients = append(o.recipients, recipients...)
		o.explicit = true
	}
}

// Within bounds the wait for ACKs (default: ack_timeout from the configuration). The context's
// deadline applies too; the earlier one wins.
func Within(d time.Duration) PublishOption { return func(o *publishOptions) { o.within = d } }

// Modname sets the message's modname, as publisher.Modname.
func Modname(m string) PublishOption {
	return func(o *publishOptions) { o.pub = append(o.pub, publisher.Modname(m)) }
}
