// Package zsock owns ackmsg's ZeroMQ sockets.
//
// libzmq sockets are not safe for concurrent use, but a socket may move between threads when
// every hand-over is a full memory barrier. Each socket here is therefore used by one goroutine
// at a time, under a mutex, and the goroutines that need a socket use it themselves: a send or a
// receive costs the libzmq call and no goroutine hand-off, which is what keeps a round trip
// through zsock close to one on bare sockets (see BENCHMARKS.md).
//
// Pub owns one PUB-compatible (XPUB) socket. Senders call it directly. Because it is an XPUB it
// sees subscriptions arrive, which lets a caller prove that a subscriber is listening before it
// sends (the cure for ZeroMQ's "slow joiner", without sleeping); a watcher goroutine reads them
// when libzmq signals the socket's ZMQ_FD.
//
// Sub owns one SUB socket per endpoint plus a monitor for each, so it knows which endpoints have
// completed the ZMTP handshake. Readers call Recv, which blocks in zmq_poll on the caller's
// goroutine; an inproc PAIR in the same poll set lets a context's end or Close wake it. The
// monitors are read by an owner goroutine that other goroutines talk to by posting closures,
// woken through its own inproc PAIR. Recv takes a whole message from libzmq in one cgo call of
// our own (recvmsg.go: the one C in the module besides pebbe/zmq4, which makes five calls per
// part) and copies its parts once, into one allocation the caller owns. It reaches the libzmq
// socket behind pebbe/zmq4's Socket through that type's unexported first field, checked against
// libzmq's ZMQ_TYPE and ZMQ_FD before use (a socket failing the check keeps pebbe's receive).
//
// Rep serves a REP socket from a goroutine of its own (the replay endpoint); Request opens,
// uses and closes a REQ socket on the calling goroutine, with a timeout.
//
// Close wakes and waits for everything it started and closes the sockets; nothing is left
// running. The zmq Context is the caller's: create it with NewContext and Term it after every Pub
// and Sub made from it is closed.
//
// With Options.Security in CURVE mode every socket runs CurveZMQ: a binding socket is a CURVE
// server whose clients the context's ZAP handler (one per context, bound before the first server
// socket, domain table swapped atomically) authenticates with the socket's Keys, and a guard per
// server socket closes its connections when a key it let in is refused later (a revocation); a
// connecting socket authenticates the server by the key Keys.ServerKey gives for the address.
// Sub can report the authenticated sender (User-Id) of each message. See docs/security.md.
//
// ErrClosed ("zsock: closed") wraps message.ErrClosed, the module's one root of "closed"
// errors; the public packages translate it into their own ErrClosed, which wrap the same root.
package zsock
