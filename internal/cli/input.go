package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
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

// StopWriter returns a writer to w whose Write returns an error wrapping [ErrStopped] (and
// ctx's error) as soon as ctx is done, even while a write to w is blocked: the reader of a pipe
// that stopped reading must not keep a signalled command alive.
//
// Writes run on a goroutine of the writer, one at a time, each on a copy of p (a stopped Write
// returns while its copy may still be written). Write reports n = len(p) only when the whole
// of p was written. After ctx is done no write starts; one blocked in write(2) is left to the
// process's exit, and nothing waits for it.
func StopWriter(ctx context.Context, w io.Writer) io.Writer {
	return &stopWriter{ctx: ctx, w: w}
}

type stopWriter struct {
	ctx     context.Context
	w       io.Writer
	once    sync.Once
	want    chan []byte
	written chan readChunk // the result of one write: its error (b unused)
	err     error          // sticky: once stopped, no write starts
}

func (s *stopWriter) start() {
	s.want = make(chan []byte)
	s.written = make(chan readChunk, 1)
	go s.loop()
}

func (s *stopWriter) loop() {
	for {
		var p []byte
		select {
		case p = <-s.want:
		case <-s.ctx.Done():
			return
		}
		_, err := s.w.Write(p)
		s.written <- readChunk{err: err}
		if err != nil {
			return
		}
	}
}

func (s *stopWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.once.Do(s.start)
	if s.ctx.Err() != nil {
		return 0, s.stop()
	}
	select {
	case s.want <- append([]byte(nil), p...):
	case <-s.ctx.Done():
		return 0, s.stop()
	}
	select {
	case r := <-s.written:
		if r.err != nil {
			s.err = r.err
			return 0, r.err
		}
		return len(p), nil
	case <-s.ctx.Done():
		select {
		case r := <-s.written: // it finished at the same moment
			if r.err != nil {
				s.err = r.err
				return 0, r.err
			}
			return len(p), nil
		default:
			return 0, s.stop()
		}
	}
}

func (s *stopWriter) stop() error {
	s.err = fmt.Errorf("%w: %w", ErrStopped, s.ctx.Err())
	return s.err
}
