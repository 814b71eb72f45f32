// Package publisher is the sending side of the base bus: plain fedmsg-compatible publishing.
//
// A Publisher is built from a [Config] (start from [DefaultConfig]; Validate says what is
// missing) and given its collaborators as options: the signer ([WithSigner]), the history store
// ([WithHistory]), the logger. New opens no file and no database: it binds or connects its
// sockets, nothing else. Package config builds one from a fedmsg configuration
// (config.NewPublisher: endpoints[name], relay_inbound, sign_messages, persistent_store, ...).
//
// A Publisher owns one ZeroMQ PUB socket (an XPUB on our side, a PUB to every peer). In passive
// mode (the default) it binds the first free address of Config.Bind (endpoints[name]); in active
// mode it connects to Config.Connect (relay_inbound), the path shell tools use. Every message is
// built as fedmsg builds it (full topic, msg_id, counter, timestamp, username), signed when it has
// a signer, encoded canonically and sent as the two frames [topic, envelope].
//
// What it guarantees: messages from one goroutine go out in the order they were published, and
// the envelope Publish returns is exactly what goes on the wire. Publish returns once libzmq has
// taken the message: the calling goroutine hands it to the socket itself (callers take turns on
// a mutex), with no goroutine hand-off, and libzmq's I/O thread writes it to the network. It
// never blocks on the network: libzmq queues up to the high-water mark per subscriber. In active
// mode Publish first proves that the relay has subscribed (an XPUB sees the subscription arrive)
// and fails with ErrNoSubscriber instead of sending into the void. Close flushes what libzmq
// still holds to the network, bounded by zmq_linger.
//
// What it does not guarantee: delivery. PUB/SUB drops messages for subscribers that are not
// connected yet, disconnected, or over their high-water mark, and says nothing. Use package ack
// when a message must reach named recipients.
//
// # History (WithHistory, persistent_store)
//
// Given a history store ([WithHistory]; config.NewPublisher opens the one persistent_store
// names), a passive publisher with a name numbers its messages: each gets the next seq_id of
// that name (continued from the store's last one, read by the first numbered publish within its
// context), signed with the rest of the envelope, and is recorded before it is sent: in the
// bbolt file (package replay/boltstore), fsync'd unless history_fsync is off, or committed in
// PostgreSQL (package replay/pgstore; opening it fails when another process owns the name
// there); messages leave in seq_id order even when several goroutines publish. Retention is
// the store's, enforced as messages are recorded. With Config.ReplayBind (replay_endpoints
// naming the publisher) it serves the history there (fedmsg's replay protocol) until Close. A
// message that could not be recorded is not sent, and Publish returns the error. The Publisher
// owns the store it is given: Close closes it. config.NewPublisher ignores persistent_store for
// an active publisher, with a warning. See docs/replay.md and package replay.
//
// # The log sink
//
// With Config.LogSink (sink = "log") a Publisher opens no socket at all: each message is built, signed and encoded
// as usual, then written to the Publisher's logger at WARN level (it was not sent: a logger at a
// command's default level shows it) with its topic, msg_id and body as canonical JSON. WaitSubscribed returns nil at once, Addr is "log" and Sent
// counts the messages logged. It is meant for the tests of an application that publishes: the
// application's code is unchanged and needs no bus. New warns at startup on the log sink.
//
// A Publisher is safe for concurrent use. The package-level Publish uses a default Publisher
// built lazily from the configuration files, like fedmsg.publish. Building it from files is
// package config's job, which registers that builder ([RegisterDefault]) when it is imported,
// as database/sql drivers do: a program that uses Publish or Default imports it, at least as
//
//	import _ "github.com/ackmsg/ackmsg/config"
//
// and without it Default fails with [ErrNoDefault], naming that import.
//
// ErrClosed ("publisher: closed") wraps message.ErrClosed, the root every package's ErrClosed wraps:
// errors.Is(err, message.ErrClosed) holds for a call on anything closed, whichever layer
// answered; errors.Is(err, ErrClosed) still tells this package's own.
package publisher
