package consumer

import (
	"context"
	"errors"
	"iter"

	"github.com/ackmsg/ackmsg/config"
)

// Tail subscribes to every configured endpoint with the topic prefix and yields each valid
// message, like fedmsg's tail_messages. Invalid messages are logged, counted and skipped; the
// only error yielded is a setup failure, after which the sequence ends. Cancelling ctx, or
// breaking out of the loop, closes every socket.
//
//	for d, err := range consumer.Tail(ctx, cfg, "org.fedoraproject.prod.bodhi") {
//		if err != nil { return err }
//		fmt.Println(d.Topic, d.Message.MsgID())
//	}
func Tail(ctx context.Context, cfg *config.Config, topic string, opts ...Option) iter.Seq2[Delivery, error] {
	return func(yield func(Delivery, error) bool) {
		s, err := NewSubscriber(cfg, topic, opts...)
		if err != nil {
			yield(Delivery{}, err)
			return
		}
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
