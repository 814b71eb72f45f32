package zsock

import (
	"context"
	"errors"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// maxBurst bounds how many messages one socket may deliver in a row while others have some.
const maxBurst = 64

// Recv returns the next message from any endpoint, waiting until one arrives, ctx ends (ctx's
// error) or the Sub is closed (ErrClosed). Concurrent callers take turns. Endpoints are served
// in turn, at most maxBurst messages from one while others have some, and each endpoint's
// messages come in the order they arrived.
func (s *Sub) Recv(ctx context.Context) (Inbound, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	armed := false
	for {
		if s.closed.Load() {
			return Inbound{}, ErrClosed
		}
		if in, ok := s.tryRecv(); ok {
			return in, nil
		}
		if s.terminated {
			return Inbound{}, ErrClosed // the context was terminated under an open Sub
		}
		if err := ctx.Err(); err != nil {
			return Inbound{}, err
		}
		if !armed && ctx.Done() != nil {
			armed = true
			defer context.AfterFunc(ctx, s.wakeReader)()
		}
		// tryRecv found every socket it asked empty (EAGAIN), so each one's ZMQ_FD will signal
		// again. After an EINTR that is not certain: wait at most a moment, then read again.
		var timeout time.Duration
		if s.retry {
			timeout = time.Millisecond
		}
		if err := s.rwait.Wait(timeout, s.mark); err != nil && !errors.Is(err, errWaitTimeout) {
			if s.closed.Load() {
				return Inbound{}, ErrClosed
			}
			return Inbound{}, err
		}
	}
}

// TryRecv returns a message that has already arrived, without waiting; false when there is none,
// when another goroutine is reading, or after Close.
func (s *Sub) TryRecv() (Inbound, bool) {
	if !s.rmu.TryLock() {
		return Inbound{}, false
	}
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return Inbound{}, false
	}
	if in, ok := s.tryRecv(); ok {
		return in, true
	}
	// What signalled since the last Wait is still in the epoll set: take it and look again.
	if err := s.rwait.Collect(s.mark); err != nil {
		return Inbound{}, false
	}
	return s.tryRecv()
}

// Pending reports whether a message has arrived that no reader is about to take: false while
// another goroutine is in Recv (it takes what arrives), and after Close.
func (s *Sub) Pending() bool {
	if !s.rmu.TryLock() {
		return false
	}
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return false
	}
	if err := s.rwait.Collect(s.mark); err != nil {
		return false
	}
	for i, sock := range s.socks {
		if !s.readable[i] {
			continue // empty until its ZMQ_FD signals
		}
		if ev, err := sock.GetEvents(); err == nil && ev&zmq.POLLIN != 0 {
			return true
		}
	}
	return false
}

// tryRecv reads one message without waiting, starting with the socket that delivered last.
func (s *Sub) tryRecv() (Inbound, bool) {
	n := len(s.socks)
	if s.burst >= maxBurst {
		s.cur, s.burst = (s.cur+1)%n, 0
		// While this socket kept delivering nobody waited, so what the others signalled is
		// still in the epoll set: take it, or a socket that said EAGAIN once would starve
		// behind a busy one. (An error here comes back from the next Wait.)
		_ = s.rwait.Collect(s.mark)
	}
	s.retry = false
	for k := range n {
		i := (s.cur + k) % n
		if !s.readable[i] {
			continue
		}
		s.attempts++
		frames, user, err := s.recvFrom(i)
		if err != nil {
			switch zmq.AsErrno(err) {
			case zmq.Errno(syscall.EAGAIN):
				s.readable[i] = false // libzmq signals its ZMQ_FD before it has more
			case zmq.ETERM:
				s.terminated = true
			case zmq.Errno(syscall.EINTR):
				s.retry = true // its command signal may still be unread: no wake-up would come
			}
			continue
		}
		if i != s.cur {
			s.cur, s.burst = i, 0
		}
		s.burst++
		s.received.Add(1)
		return Inbound{Endpoint: s.eps[i], Frames: frames, UserID: user}, true
	}
	s.burst = 0
	return Inbound{}, false
}

// recvFrom reads one multipart message from socket i without waiting, with its User-Id when
// asked for.
func (s *Sub) recvFrom(i int) ([][]byte, string, error) {
	if h := s.handles[i]; h != nil {
		return s.reader.recv(h, s.userID)
	}
	sock := s.socks[i]
	if !s.userID {
		frames, err := sock.RecvMessageBytes(zmq.DONTWAIT)
		return frames, "", err
	}
	frames, md, err := sock.RecvMessageBytesWithMetadata(zmq.DONTWAIT, "User-Id")
	return frames, md["User-Id"], err
}

// wakeReader makes a waiting Recv look at its context and the closed flag. A wake-up nobody was
// waiting for only costs the next Recv one extra loop.
func (s *Sub) wakeReader() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.wclosed && s.rwait != nil {
		s.rwait.Wake()
	}
}

// Received counts the messages read from the sockets.
func (s *Sub) Received() uint64 { return s.received.Load() }
