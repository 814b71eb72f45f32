package consumer

import (
	"context"
	"log/slog"
)

// Incoming is a message a Source hands to a Hub, with the way to report its outcome.
type Incoming struct {
	Delivery
	// Done, when not nil, is called exactly once, from any goroutine, with the outcome: nil once
	// every consumer the outcome waits for has processed the message, otherwise an error. An
	// acking source ACKs on nil.
	Done func(err error)
}

// Source is where a Hub's messages come from. A Hub calls Next from one goroutine, and Close
// once every outcome has been reported.
type Source interface {
	// Next returns the next valid message. It returns ctx's error when ctx ends first.
	Next(ctx context.Context) (Incoming, error)
	Close() error
}

// SourceSpec is what a Hub asks of the Source it opens.
type SourceSpec struct {
	// Prefixes are the ZeroMQ subscriptions that cover every consumer's topics.
	Prefixes []string
	// Logger is the hub's logger.
	Logger *slog.Logger
	// Options are those given with WithSubscriberOptions, for a Source built on a Subscriber.
	Options []Option
}

// OpenSource opens a Hub's Source once the consumers are known.
type OpenSource func(ctx context.Context, spec SourceSpec) (Source, error)

// plainSource feeds a Hub from a Subscriber, with no outcome to report.
type plainSource struct{ *Subscriber }

func (p plainSource) Next(ctx context.Context) (Incoming, error) {
	d, err := p.Subscriber.Next(ctx)
	return Incoming{Delivery: d}, err
}

func finish(in Incoming, err error) {
	if in.Done != nil {
		in.Done(err)
	}
}
