// Package consumer is the receiving side of the base bus.
//
// A Subscriber is built from a [Config] (start from [DefaultConfig]): it connects a SUB socket to
// every one of Config.Endpoints, subscribes by topic prefix (ZeroMQ byte-prefix matching, as
// fedmsg's tail_messages), and turns each two-frame message into a Delivery: the endpoint it
// came from, the frame-1 topic and the envelope (decoded when its fields are first read, unless a
// verifier needs them at once; every frame is checked whole on receipt). Tail wraps it as a Go iterator. Its
// verifier is given ([WithVerifier]); the constructors open their sockets (and, with replay
// endpoints, the state file), nothing else. Package config builds them from a fedmsg
// configuration (config.NewSubscriber, config.Tail, config.NewHub: every endpoints key but
// relay_inbound, and a verifier of the configured CA and CRL when validate_signatures is set).
//
// What it guarantees: only well-formed envelopes are delivered; with a verifier (package config
// gives one when validate_signatures is set), only envelopes whose signature, certificate
// chain, CRL and routing policy check pass. The
// frame-1 topic must equal the envelope's topic, so a forged frame cannot steer a message past a
// subscription filter. Nothing a peer sends can stop a Subscriber: a wrong frame count, an
// oversized frame, invalid UTF-8, bad JSON, a missing field or a bad signature is dropped,
// counted by reason (Stats) and logged at a bounded rate, and the next message is read.
//
// What it does not guarantee: delivery. This is PUB/SUB: messages published while a subscriber
// is disconnected or slow are lost. Package ack adds acknowledgements and retransmission.
//
// # Catch-up (gaps and replay)
//
// Messages from a publisher that keeps a history (persistent_store) carry a seq_id. For each
// endpoints key that Config.Replay.Endpoints (replay_endpoints) also lists, a Subscriber follows the seq_ids: a gap makes
// it fetch the missing messages from that replay endpoint (fedmsg's protocol, bounded by
// replay_timeout), validate each like a live one (frames, signature, max_message_age, topic
// prefixes) and deliver them in order before the message that revealed the gap
// (Delivery.Replayed); a seq_id already delivered is dropped (except ACK-marked messages, whose
// de-duplication and re-ACK belong to package ack). What cannot be recovered is logged at error
// level with the size of the gap and counted (Stats.Replay); nothing is skipped silently. With
// replay_state set, the last seq_id per publisher is kept in that file (a line appended when the next
// Next is called, so a message counts once the application asked for the next one, and at
// Close; a Hub's once every consumer finished it) and the first Next fetches what was published
// since: exactly once across a clean stop, at least once across a crash, where at most the
// message being processed comes again. WithoutReplay turns it off; WithReplayFromStart starts unknown publishers at their
// oldest retained message. See docs/replay.md.
//
// # Hub
//
// A Hub ([HubConfig]: its Subscriber's Config, max attempts, shutdown timeout, msg_id memory)
// runs long-lived consumers, as fedmsg-hub does: each Consumer declares topic patterns
// (exact, fedmsg's trailing "*", AMQP-style "*" and "#"; see message.TopicMatches) and gets a
// bounded inbox and a number of workers (ConsumerConfig). The Hub subscribes once, with the
// ZeroMQ prefixes that cover every pattern, and routes each valid message to the consumers whose
// patterns match its topic exactly. Invalid messages never reach a consumer. Optional
// PreConsumer and PostConsumer hooks run around Consume; a panic is a failure, not a crash.
//
// What a Hub reports to its Source (and so what an acking hub, ack.NewHub, ACKs):
//
//   - Success only after the work: a message's outcome is nil once every matching consumer has
//     returned nil from Consume (consumers added with OnReceipt excepted: the outcome does not
//     wait for them). Never for a message that matched no consumer (ErrNoConsumer), that a
//     consumer failed, that was dropped from a full inbox, or that shutdown left unfinished.
//   - Retransmissions are processed again, by the consumers that did not succeed: the Hub
//     remembers, per msg_id (dedupe_window of them), which consumers processed it, so a
//     consumer that succeeded is not run twice for one msg_id while the Hub remembers it. A
//     message every matching consumer processed already is reported as a success again (an
//     acking hub re-ACKs it) without running anything.
//   - A failure is reported with every failing consumer's *ConsumerError (a *multierror.Error
//     when several failed the same message), and its text names the consumers that succeeded:
//     "consumer: 2 of 3 consumers failed msg M (done: audit): consumer a: ...; consumer b: ...".
//   - Poison: after max_attempts deliveries of one msg_id that ended with a failure, the Hub logs
//     it at error level and stops processing it (ErrPoison, never ACKed).
//   - Processing is at least once, not exactly once: a consumer can see a msg_id again after
//     the Hub forgot it (the window is bounded, and a restart forgets everything), or when its
//     success could not be recorded before a crash. Consumers should be idempotent by msg_id.
//
// Back-pressure: a full inbox stops the Hub from reading the bus until a worker takes a
// message (the default), so memory stays bounded by the inboxes; libzmq's high-water mark then
// applies upstream, and an acked message lost there is retransmitted by its publisher. A
// consumer added with DropWhenFull instead skips messages that find its inbox full, counts them
// (ConsumerStats.Dropped) and withholds their outcome.
//
// Shutdown (Run's ctx ends): the Hub stops reading at once, lets queued and in-flight work
// finish for up to shutdown_timeout, then cancels the rest (Consume's ctx ends; queued messages
// are not started). Unfinished work is reported as ErrNotProcessed and never ACKed.
//
// ErrClosed ("consumer: closed") wraps message.ErrClosed, the root every package's ErrClosed wraps:
// errors.Is(err, message.ErrClosed) holds for a call on anything closed, whichever layer
// answered; errors.Is(err, ErrClosed) still tells this package's own.
package consumer
