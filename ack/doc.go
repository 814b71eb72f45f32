// Package ack is ackmsg's reliability overlay: guaranteed-delivery publishing on a fedmsg bus,
// wire-compatible with gilmsg.
//
// A Publisher names the recipients that must get a message (ack.To, or the recipients
// configured for the topic). Publish returns nil only when each of them has sent an ACK for that
// msg_id signed by its own certificate (its CN is the recipient's name), and otherwise fails with
// a *TimeoutError naming the missing recipients, those that ACKed, the msg_id, the time waited
// and the number of sends. The API mirrors package publisher, so switching a program to
// guaranteed delivery is an import swap plus recipients.
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
// signing, so validating Python consumers accept our messages (gilmsg adds it after).
//
// A Subscriber (and Tail) is the consumer side: it validates every message, ACKs marked ones as
// its certificate's CN, de-duplicates retransmissions by msg_id within dedupe_window (re-sending
// the same signed ACK, delivering once), and ACKs either on receipt (gilmsg's behaviour) or after
// the application processed the message (the default). An ACK is signed at once when nothing
// else is waiting to be read; when messages are waiting, a pool of workers (one per core, eight
// at most) signs ACKs while the reader goes on, so a burst uses every core. Close sends the ACKs
// already queued before it returns.
//
// A Hub (NewHub) is consumer.Hub with ACKs: long-lived consumers routed by topic pattern, each
// with a bounded inbox and its workers, and one ACK per message sent only after every matching
// consumer's Consume returned nil. A failure sends no ACK, and the retransmission is processed
// again by the consumers that have not succeeded (at most hub.max_attempts times; then the
// message is logged as poison and never ACKed); a message already ACKed is re-ACKed, not
// processed again. Unfinished work at shutdown is never ACKed. Processing is at least once.
package ack
