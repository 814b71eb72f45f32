// Package ack is ackmsg's reliability overlay: guaranteed-delivery publishing on a fedmsg bus,
// wire-compatible with gilmsg.
//
// A Publisher names the recipients that must get a message (ack.To, or the recipients
// configured for the topic). Publish returns nil only when each of them has sent an ACK for that
// msg_id signed by its own certificate (its CN is the recipient's name), and otherwise fails with
// a *TimeoutError naming the missing recipients, those that ACKed, the msg_id, the time waited
// and the number of sends.
//
// # Building one
//
// Each component takes its own Config and its collaborators, and opens only its sockets: New
// takes a [Config] (the base publisher's publisher.Config, the ACK listener's endpoints, the
// timeout, the in-flight bound, the recipients per topic), NewSubscriber a [SubscriberConfig]
// (the consumer.Config it hears on, the publisher.Config its ACKs go out on), NewHub a
// [HubConfig]; the signer (WithSigner) and the verifier (WithVerifier) are given, and the
// history (WithHistory). A Go program needs no fedmsg configuration (Example_withoutConfiguration
// does it in a few lines). Package config builds them from one: config.NewAckPublisher,
// NewAckSubscriber, NewAckHub and AckTail (the certificate, the CA and CRL, persistent_store).
// This package does not import config, so a program that imports ack links no store or broker
// client. The package-level Publish and Default are built by package config, which registers
// the builder ([RegisterDefault]) when it is imported (import _ "github.com/ackmsg/ackmsg/config");
// without it Default fails with [ErrNoDefault].
//
// # The import swap
//
// The API mirrors packages publisher and consumer: a program written against them compiles
// with ack in their place (the import path and the package qualifier changed, and package
// config's builders for their acked twins: NewPublisher becomes NewAckPublisher, NewSubscriber
// NewAckSubscriber, NewHub NewAckHub, Tail AckTail), and then publishes with ACKs and ACKs what
// it tails. Every function, option and method a
// publishing or tailing program uses has a namesake here with a compatible signature (Publish,
// New, Field, Modname, WithModname, WithLogger, Tail, NewSubscriber, WithEndpoints, WaitSubscribed,
// ErrClosed, ...; the Hub's types are consumer's own). There is one Option type for New,
// NewSubscriber and Tail, so the options of both base packages map onto it; an option that does
// not apply to a constructor makes it fail with an error naming the option. The few names with
// no mirror are listed, with the reason, in the package's API test (api_test.go): raw sends
// (SendRaw, Resend) that would bypass the ACKs, the custom hub Source, consumer.Stats (a
// Subscriber's Stats embeds it), and the base Configs, which ack's hold rather than copy. One difference is in behaviour, not in types: a Delivery
// from Subscriber.Next is ACKed (in the default AfterProcessing mode) when the program calls
// its Done, which a loop written for consumer.Subscriber.Next does not; Tail ACKs by itself when
// the loop body returns. What the swap needs beyond the code is configuration:
// recipients for the topics (or ack.To), and for the tailing side a name or active, and a
// certificate to sign ACKs with.
//
// An acked publish that ends up with no recipients (none given with To, none configured for its
// topic) is sent as a plain publish, with a warning logged once per topic and counted in
// Stats.NoRecipients; with ack_require_recipients = true it fails with ErrNoRecipients instead.
//
// # Development mode and the log sink
//
// With mode = "development" an acked publish does not wait for ACKs: the message is sent (marked,
// so recipients that are up ACK it as usual), a WARN line with mode=development, the msg_id and
// the recipients it did not wait for is logged for every such publish, and Publish returns nil.
// The safety rule: development mode is never the default, it is refused by config validation
// with environment "prod", New warns loudly at startup, and each acked publish says in its own
// log line that it was not confirmed, so it cannot pass unnoticed in a log. Stats.NotAwaited
// counts these publishes. In this mode New opens no ACK listener and needs no CA.
//
// With sink = "log" (package publisher) nothing is sent at all: each message is written to the
// logger, and acked publishes succeed as in development mode. This is for the tests of an
// application that publishes with ACKs: it runs unchanged, with no bus and no recipients.
//
// # The guarantee and the failure model
//
//   - No false positives. A nil return means every named recipient's verified ACK for this
//     msg_id arrived: the ACK must be on <topic_prefix>.<environment>.gilmsg.ack (frame and
//     envelope), carry the msg_id, chain to the CA, not be revoked or expired, and be signed by a
//     certificate whose first CN is the recipient. Each recipient counts once. State is per
//     message: concurrent publishes never share results (gilmsg's did).
//   - Loud failures. A recipient that is down, partitioned or slow makes Publish fail with a
//     *TimeoutError (errors.Is(err, ErrTimeout)). Cancelling the context ends the wait with a
//     *TimeoutError that is errors.Is(err, context.Canceled).
//   - False negatives are possible. A recipient that got the message but whose ACK cannot reach
//     the publisher causes a timeout; retransmission and re-ACKs make this rare, never silent.
//   - Unmarked traffic is untouched: only messages carrying gilmsg_version are ACKed.
//   - ACKs grow with the recipients, not with the bus: an acked message names its recipients in
//     a signed ack_recipients field (docs/wire.md §5), and a Subscriber ACKs a marked message
//     unless that field, verified, does not name it (gilmsg consumers, which do not know the
//     field, ACK everything as before; the publisher counts only its recipients either way).
//     Subscribers drop ACK-topic frames unread (WithAckMessages keeps them), and the ACK listener
//     decodes and verifies only ACKs whose msg_id it waits for.
//   - A verified ACK from a non-recipient (a gilmsg consumer ACKs every marked message) never
//     counts; it is ordinary traffic, not a warning: it is counted in
//     Stats().AcksRejected["not_recipient"], logged at debug level, and named in the
//     TimeoutError's Others (a recipient whose name in To is not its certificate's CN).
//
// # How
//
// One long-lived ACK listener per Publisher (a SUB socket per endpoint, subscribed to the ACK
// topic) starts in New; the first acked publish waits until every endpoint is connected or
// refused, at most two seconds and at most half its deadline (an endpoint behind a partition does
// neither). The waiter for a msg_id is registered before the message leaves. Until
// every ACK is in or the deadline passes, the identical signed frames are re-sent with a timeout
// that adapts to observed ACK round trips (as TCP's) and doubles per retransmission. One listener
// goroutine reads and verifies ACKs; when several are already waiting (many recipients answering
// at once) it hands the others to verify goroutines (one per further core, three at most), so
// their checks run in parallel. One goroutine owns retransmission and deadlines: no goroutine,
// socket or timer per message. At most ack_max_in_flight messages wait at once. The gilmsg_version marker is added before
// signing, so validating Python consumers accept our messages (gilmsg adds it after); so is
// ack_recipients.
//
// A Subscriber (and Tail) is the consumer side: it validates every message, ACKs marked ones as
// its certificate's CN, de-duplicates retransmissions by msg_id within dedupe_window (re-sending
// the same signed ACK, delivering once), and ACKs either on receipt (gilmsg's behaviour) or after
// the application processed the message (the default). After processing, the ACK of a verified
// message is signed by a worker while the application processes it, and sent only when Done(nil)
// reports success (Done(err) drops it unsent): the ACK leaves max(processing, signing) after
// delivery rather than their sum. On receipt, an ACK is signed at once when nothing else is
// waiting to be read; when messages are waiting, a pool of workers (one per core, eight at most)
// signs ACKs while the reader goes on, so a burst uses every core. Close sends the ACKs already
// queued before it returns.
//
// A Hub (NewHub) is consumer.Hub with ACKs: long-lived consumers routed by topic pattern, each
// with a bounded inbox and its workers, and one ACK per message sent only after every matching
// consumer's Consume returned nil. A failure sends no ACK, and the retransmission is processed
// again by the consumers that have not succeeded (at most hub.max_attempts times; then the
// message is logged as poison and never ACKed); a message already ACKed is re-ACKed, not
// processed again. Unfinished work at shutdown is never ACKed. Processing is at least once.
//
// History and catch-up apply here as in the base packages (docs/replay.md): with
// persistent_store, acked messages are numbered and recorded like plain ones (a retransmission
// is the same signed frame, the same seq_id); ACKs are never numbered. Subscribers, Tails and
// Hubs fill gaps from replay endpoints and ACK the replayed messages that ask for it.
//
// ErrClosed ("ack: closed") wraps message.ErrClosed, the root every package's ErrClosed wraps:
// errors.Is(err, message.ErrClosed) holds for a call on anything closed, whichever layer
// answered; errors.Is(err, ErrClosed) still tells this package's own.
package ack
