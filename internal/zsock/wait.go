package zsock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdWait waits for libzmq sockets on Go's network poller instead of in a blocking C call.
//
// A goroutine blocked in zmq_poll (or poll(2)) keeps its P until the runtime's sysmon takes it
// back, which takes from 20 µs to 10 ms; with few cores every wake-up on the bus would pay it.
// fdWait puts the sockets' ZMQ_FD descriptors, and an eventfd of its own for wake-ups, in a
// private edge-triggered epoll set, and waits for that set to become readable through an
// os.File, i.e. the way a net.Conn waits: no thread or P is held while nothing happens.
//
// ZMQ_FD is edge-triggered: it signals that commands reached the socket, not that a message is
// there. A caller must read each socket until EAGAIN (which also makes libzmq process the
// commands) before it calls Wait; a signal that arrives after that is kept by the epoll set, so
// no wake-up is lost. Wait and Collect say which descriptors signalled, so that a caller with
// many sockets reads only those: a socket that returned EAGAIN has nothing to read until its
// descriptor signals again (libzmq signals a reader that found its pipe empty when the pipe is
// next written), and every attempt on an empty socket costs a poll(2) inside libzmq.
type fdWait struct {
	ep    *os.File // the epoll set, non-blocking, registered with Go's poller
	rc    syscall.RawConn
	wake  int           // eventfd: Wake makes it readable
	index map[int32]int // watched descriptor -> its position in newFDWait's fds
	evs   [16]unix.EpollEvent
}

func newFDWait(fds ...int) (*fdWait, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("zsock: epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("zsock: eventfd: %w", err)
	}
	fail := func(err error) (*fdWait, error) {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, err
	}
	index := make(map[int32]int, len(fds))
	for i, fd := range fds {
		index[int32(fd)] = i
	}
	for _, fd := range append(fds, wake) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fail(fmt.Errorf("zsock: epoll_ctl: %w", err))
		}
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		return fail(fmt.Errorf("zsock: epoll set non-blocking: %w", err))
	}
	ep := os.NewFile(uintptr(epfd), "zsock-epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(wake)
		return nil, fmt.Errorf("zsock: epoll raw conn: %w", err)
	}
	return &fdWait{ep: ep, rc: rc, wake: wake, index: index}, nil
}

// errWaitTimeout is Wait's error when its timeout passed.
var errWaitTimeout = errors.New("zsock: wait timed out")

// Wait returns once a watched descriptor or Wake has signalled since the previous Wait or
// Collect, or after timeout (errWaitTimeout) when timeout > 0, calling fired (if not nil) with
// the position, among newFDWait's fds, of each descriptor that signalled. One goroutine at a
// time may call Wait or Collect.
func (w *fdWait) Wait(timeout time.Duration, fired func(i int)) error {
	if timeout > 0 {
		if err := w.ep.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		defer w.ep.SetReadDeadline(time.Time{})
	}
	var werr error
	err := w.rc.Read(func(fd uintptr) bool {
		n, err := w.collect(int(fd), fired)
		if err != nil {
			werr = err
			return true
		}
		return n > 0 // nothing yet: park on the poller
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errWaitTimeout
	}
	if err != nil {
		return fmt.Errorf("zsock: wait: %w", err)
	}
	return werr
}

// Collect is Wait that does not wait: it reports what has signalled so far, if anything.
func (w *fdWait) Collect(fired func(i int)) error {
	var cerr error
	if err := w.rc.Control(func(fd uintptr) { _, cerr = w.collect(int(fd), fired) }); err != nil {
		return fmt.Errorf("zsock: collect: %w", err)
	}
	return cerr
}

// collect takes the signals the epoll set holds, without waiting; n counts them (EINTR: 0).
func (w *fdWait) collect(epfd int, fired func(i int)) (int, error) {
	n, err := unix.EpollWait(epfd, w.evs[:], 0)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, fmt.Errorf("zsock: epoll_wait: %w", err)
	}
	for _, ev := range w.evs[:n] {
		if int(ev.Fd) == w.wake {
			var buf [8]byte
			_, _ = unix.Read(w.wake, buf[:])
			continue
		}
		if i, ok := w.index[ev.Fd]; ok && fired != nil {
			fired(i)
		}
	}
	return n, nil
}

// Wake makes the current or next Wait return. It is safe for concurrent use, also with Close.
func (w *fdWait) Wake() {
	one := [8]byte{1}
	_, _ = unix.Write(w.wake, one[:]) // EAGAIN only when the counter is already huge: still readable
}

// Close releases the descriptors. No Wait or Wake may run during or after it.
func (w *fdWait) Close() {
	w.ep.Close()
	unix.Close(w.wake)
}
