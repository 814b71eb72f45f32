// Package zsock owns ackmsg's ZeroMQ sockets.
//
// pebbe/zmq4 sockets are not safe for concurrent use, and closing one from another goroutine
// crashes libzmq. Every socket here is therefore created, used and closed by exactly one owner
// goroutine. Other goroutines talk to the owner by posting closures to a queue; the owner is woken
// through an inproc PAIR socket that sits in its poller next to the sockets it serves, so it never
// polls on a timer and wakes at once for both network traffic and requests.
//
// Pub owns one PUB-compatible (XPUB) socket. Because it is an XPUB it sees subscriptions arrive,
// which lets a caller prove that a subscriber is listening before it sends (the cure for ZeroMQ's
// "slow joiner", without sleeping). Sub owns one SUB socket per endpoint plus a monitor for each,
// so it knows which endpoints have completed the ZMTP handshake.
//
// Close stops the owner, closes its sockets on the owner goroutine and waits for it; nothing is
// left running. The zmq Context is the caller's: create it with NewContext and Term it after every
// Pub and Sub made from it is closed.
package zsock
