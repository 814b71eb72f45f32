package consumer

import (
	"context"
	"errors"
	"iter"
)

// Tail subscribes to every endpoint of cfg with the topic prefix and yields each valid
// message, like fedmsg's tail_messages. Invalid messages are logged, counted and skipped; the
// only error yielded is a setup failure, after which the sequence ends. Cancelling ctx, or
// breaking out of the loop, closes every socket.
//
//	for d, err := range consumer.Tail(ctx, cfg, "org.fedoraproject.prod.bodhi") { // or config.Tail
//		if err != nil { return err }
//		fmt.Println(d.Topic, d.Message.MsgID())
//	}
func Tail(ctx context.Context, cfg Config, topic string, opts ...Option) iter.Seq2[Delivery, error] {
	return func(yield func(Delivery, error) bool) {
		s, err := NewSubscriber(cfg, topic, opts...)
		if err != nil {
			yield(Delivery{}, err)
			return
		}
		for d, err := range TailOf(ctx, s) {
			if !yield(d, err) {
				return
			}
		}
	}
}

// TailOf yields what s delivers, as Tail does, and closes s when the loop ends (ctx done, a
// break, or an error other than ctx's or ErrClosed, which it yields).
func TailOf(ctx context.Context, s *Subscriber) iter.Seq2[Delivery, error] {
	return func(yield func(Delivery, error) bool) {
		defer s.Close()
		for {
			d, err := s.Next(ctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrClosed) {
					yield(Delivery{}, err)
				}
				return
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}
