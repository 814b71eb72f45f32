package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrStopped is the error a command's standard input returns once SIGINT or SIGTERM arrived (see
// [StopReader]): the command treats it as the end of its input.
var ErrStopped = errors.New("stopped by a signal")

// StopReader returns a reader of r whose Read returns an error wrapping [ErrStopped] (and ctx's
// error) as soon as ctx is done, even while a read of r is blocked.
//
// A read(2) blocked on a pipe, a FIFO or a terminal cannot be interrupted portably, and a Read
// that waits for it would keep a signalled command alive until its writer closes. So the reads of
// r run on a goroutine of the reader, one at a time and only when Read asks (nothing is read
// ahead that no caller would see), and Read waits for the result or for ctx, whichever is first.
// Data that arrived before Read noticed ctx is still returned, before the error. After ctx is
// done the goroutine ends as soon as its read returns; one blocked in read(2) is left to the
// process's exit, and nothing waits for it.
func StopReader(ctx context.Context, r io.Reader) io.Reader {
	return &stopReader{ctx: ctx, r: r}
}

type stopReader struct {
	ctx  context.Context
	r    io.Reader
	once sync.Once
	want chan int       // Read asks the goroutine for one read of at most n bytes
	got  chan readChunk // the goroutine's answer; buffered, so it never blocks on a gone reader

	pending bool // a read was asked for and its answer not yet taken
	rest    []byte
	err     error // sticky: the error of r or the stop
}

type readChunk struct {
	b   []byte
	err error
}

func (s *stopReader) start() {
	s.want = make(chan int)
	s.got = make(chan readChunk, 1)
	go s.loop()
}

// loop is the reading goroutine. It exits when r fails (io.EOF included) or when ctx is done
// while no read is asked for.
func (s *stopReader) loop() {
	for {
		var n int
		select {
		case n = <-s.want:
		case <-s.ctx.Done():
			return
		}
		buf := make([]byte, n)
		k, err := s.r.Read(buf)
		s.got <- readChunk{buf[:k], err}
		if err != nil {
			return
		}
	}
}

func (s *stopReader) Read(p []byte) (int, error) {
	if len(s.rest) > 0 {
		n := copy(p, s.rest)
		s.rest = s.rest[n:]
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.once.Do(s.start)
	if !s.pending {
		if s.ctx.Err() != nil {
			return 0, s.stop() // no new read once stopped
		}
		select {
		case s.want <- len(p):
			s.pending = true
		case <-s.ctx.Done():
			return 0, s.stop()
		}
	}
	select {
	case c := <-s.got:
		return s.take(p, c)
	case <-s.ctx.Done():
		// An answer that came at the same moment is data already read: hand it over first.
		select {
		case c := <-s.got:
			return s.take(p, c)
		default:
			return 0, s.stop()
		}
	}
}

func (s *stopReader) take(p []byte, c readChunk) (int, error) {
	s.pending = false
	n := copy(p, c.b)
	s.rest = c.b[n:]
	if c.err != nil {
		s.err = c.err
		if len(s.rest) > 0 {
			return n, nil
		}
	}
	return n, c.err
}

func (s *stopReader) stop() error {
	s.err = fmt.Errorf("%w: %w", ErrStopped, s.ctx.Err())
	return s.err
}

// StopWriter returns a writer to w that gives up on a blocked write once ctx is done: the reader
// of a pipe that stopped reading must not keep a signalled command alive. Writes go on after ctx
// ends (the command finishes what it took in) until grace has passed since a Write first saw
// it ended (the command's flush bound, zmq_linger; negative: forever); a write not done by that time returns an error
// wrapping [ErrStopped] (and ctx's error), and so does every later one.
//
// Each write runs on a goroutine of its own, on a copy of p (a stopped Write returns while its
// copy may still be written), and Write waits for it: writes stay in order. Write reports
// n = len(p) only when the whole of p was written. A write still blocked in write(2) is left to
// the process's exit, and nothing waits for it.
func StopWriter(ctx context.Context, w io.Writer, grace time.Duration) io.Writer {
	return &stopWriter{ctx: ctx, w: w, grace: grace}
}

type stopWriter struct {
	ctx   context.Context
	w     io.Writer
	grace time.Duration
	end   <-chan time.Time // fires grace after ctx ended; set when that is first seen
	err   error            // sticky
}

func (s *stopWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	done := make(chan error, 1)
	cp := append([]byte(nil), p...)
	go func() {
		_, err := s.w.Write(cp)
		done <- err
	}()
	ctxDone := s.ctx.Done()
	for {
		select {
		case err := <-done:
			if err != nil {
				s.err = err
				return 0, err
			}
			return len(p), nil
		case <-ctxDone:
			ctxDone = nil
			if s.end == nil && s.grace >= 0 {
				s.end = time.After(s.grace)
			}
		case <-s.end: // nil until ctx ended, and forever with a negative grace
			s.err = fmt.Errorf("%w: %w", ErrStopped, s.ctx.Err())
			return 0, s.err
		}
	}
}
