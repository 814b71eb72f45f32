package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// listen feeds Changed from LISTEN on a dedicated connection, reconnecting when it is lost.
func (s *Store) listen(ctx context.Context) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := s.pool.Acquire(ctx)
		if err == nil {
			octx, cancel := s.op(ctx)
			_, err = conn.Exec(octx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize())
			cancel()
			if err == nil {
				backoff = 100 * time.Millisecond
				s.notify() // anything committed while we were not listening
				for err == nil {
					_, err = conn.Conn().WaitForNotification(ctx)
					if err == nil {
						s.notify()
					}
				}
			}
			conn.Release()
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("outbox notifications lost; reconnecting (deliverers poll meanwhile)", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
