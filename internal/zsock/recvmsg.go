package zsock

/*
#cgo !windows pkg-config: libzmq
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZS_PARTS 8

// What one zs_recv leaves for Go to read: the parts it holds open (until the next call or
// zs_free), their data and sizes, and the sender's User-Id.
typedef struct {
	zmq_msg_t msg[ZS_PARTS];
	void *data[ZS_PARTS];
	size_t size[ZS_PARTS];
	int held;
	int more;
	const char *user;
} zs_recvbuf;

static zs_recvbuf *zs_new(void) { return calloc(1, sizeof(zs_recvbuf)); }

static void zs_release(zs_recvbuf *rb) {
	for (int i = 0; i < rb->held; i++) zmq_msg_close(&rb->msg[i]);
	rb->held = 0;
	rb->user = NULL;
}

static void zs_free(zs_recvbuf *rb) {
	zs_release(rb);
	free(rb);
}

// zs_recv releases what the last call held, then receives the parts of one message (at most
// ZS_PARTS; more says the message has others, which the next call with cont reads). It returns
// the number of parts, or -errno: what pebbe/zmq4's RecvMessageBytes does in one cgo call
// instead of five per part.
static int zs_recv(void *sock, int flags, zs_recvbuf *rb, int want_user) {
	zs_release(rb);
	rb->more = 0;
	for (int i = 0; i < ZS_PARTS; i++) {
		zmq_msg_init(&rb->msg[i]);
		if (zmq_msg_recv(&rb->msg[i], sock, flags) < 0) {
			int err = zmq_errno();
			zmq_msg_close(&rb->msg[i]);
			zs_release(rb);
			return -err;
		}
		rb->held = i + 1;
		rb->data[i] = zmq_msg_data(&rb->msg[i]);
		rb->size[i] = zmq_msg_size(&rb->msg[i]);
		if (i == 0 && want_user) rb->user = zmq_msg_gets(&rb->msg[0], "User-Id");
		if (!zmq_msg_more(&rb->msg[i])) return i + 1;
	}
	rb->more = 1;
	return ZS_PARTS;
}

// zs_check reports whether handle is a libzmq socket of this type with this ZMQ_FD.
static int zs_check(void *handle, int type, int fd) {
	int t = -1, f = -1;
	size_t tl = sizeof t, fl = sizeof f;
	if (zmq_getsockopt(handle, ZMQ_TYPE, &t, &tl) != 0) return 0;
	if (zmq_getsockopt(handle, ZMQ_FD, &f, &fl) != 0) return 0;
	return t == type && f == fd;
}
*/
import "C"

import (
	"unsafe"

	zmq "github.com/pebbe/zmq4"
)

// msgReader receives whole multipart messages from libzmq sockets in one cgo call per message
// (with at most eight parts; more take one call per eight), where pebbe/zmq4's RecvMessageBytes
// makes five per part (init, recv, data, copy, close) and a getsockopt(ZMQ_RCVMORE). The parts
// stay open in libzmq's memory until the next receive, so each is copied once, straight into
// the Go memory of the message. It is not safe for concurrent use: a Sub's readers take turns.
type msgReader struct {
	rb *C.zs_recvbuf
}

func newMsgReader() *msgReader { return &msgReader{rb: C.zs_new()} }

// free releases the parts held and the reader's C memory.
func (r *msgReader) free() {
	if r.rb != nil {
		C.zs_free(r.rb)
		r.rb = nil
	}
}

// handle returns the libzmq socket behind sock, checked: libzmq must report the type and the
// ZMQ_FD that pebbe/zmq4 reports for it. pebbe/zmq4 keeps the handle unexported, as the first
// field of its Socket; ok is false (and the caller keeps using pebbe/zmq4's receive) if a
// version of it ever lays Socket out otherwise.
func handle(sock *zmq.Socket, typ zmq.Type) (unsafe.Pointer, bool) {
	fd, err := sock.GetFd()
	if err != nil {
		return nil, false
	}
	h := *(*unsafe.Pointer)(unsafe.Pointer(sock))
	if h == nil || C.zs_check(h, C.int(typ), C.int(fd)) == 0 {
		return nil, false
	}
	return h, true
}

// recv reads one message from the socket h without waiting: its parts in one allocation (each
// part's capacity ends where it does), and the sender's User-Id when user is set. A failure is a
// zmq.Errno, as pebbe/zmq4's.
func (r *msgReader) recv(h unsafe.Pointer, user bool) ([][]byte, string, error) {
	want := C.int(0)
	if user {
		want = 1
	}
	n := C.zs_recv(h, C.int(zmq.DONTWAIT), r.rb, want)
	if n < 0 {
		return nil, "", zmq.Errno(-n)
	}
	var uid string
	if r.rb.user != nil {
		uid = C.GoString(r.rb.user)
	}
	frames, size := r.take(nil, int(n))
	for r.rb.more != 0 {
		// The rest of a message is already in libzmq (parts arrive together): no wait.
		if n = C.zs_recv(h, C.int(zmq.DONTWAIT), r.rb, 0); n < 0 {
			return nil, "", zmq.Errno(-n)
		}
		var more int
		frames, more = r.take(frames, int(n))
		size += more
	}
	if size > maxHeld {
		C.zs_release(r.rb) // a big message is not kept in libzmq until the next one
	}
	return frames, uid, nil
}

// held is how many parts the reader keeps open in libzmq (for tests).
func (r *msgReader) held() int { return int(r.rb.held) }

// maxHeld bounds the size of the parts a msgReader keeps open in libzmq between receives (to
// save a cgo call per message); bigger ones are released at once.
const maxHeld = 64 << 10

// take appends copies of the n parts held to frames, all in one allocation, and returns their
// total size.
func (r *msgReader) take(frames [][]byte, n int) ([][]byte, int) {
	total := 0
	for i := range n {
		total += int(r.rb.size[i])
	}
	buf := make([]byte, total)
	if frames == nil {
		frames = make([][]byte, 0, n)
	}
	off := 0
	for i := range n {
		size := int(r.rb.size[i])
		if size > 0 {
			copy(buf[off:], unsafe.Slice((*byte)(r.rb.data[i]), size))
		}
		frames = append(frames, buf[off:off+size:off+size])
		off += size
	}
	return frames, total
}
