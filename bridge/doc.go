// Package bridge carries messages between the bus and an AMQP 0-9-1 broker (RabbitMQ) without
// weakening ackmsg's guarantee on either side. It is the library behind ackmsg-bridge.
//
// # Bus → AMQP
//
// The bridge subscribes to the [Config] Topics patterns as an acking consumer with
// its own certificate, validating every message as any consumer does, and publishes each one to
// the topic exchange (default amq.topic) with the full topic as routing key: persistent
// (delivery mode 2), mandatory, on a channel in confirm mode. The body is the signed envelope
// exactly as received (frame 2: topic, msg_id, msg, signature, certificate), so a consumer on
// the AMQP side can verify who signed it; message_id is the msg_id. The headers are those
// fedora-messaging puts on its own base messages ([FedoraMessagingHeaders]:
// fedora_messaging_schema "base.message", fedora_messaging_severity 20, sent-at, priority 0),
// so its consumers read the message as a valid base message whose body is the envelope, plus
// ackmsg_bridge (the bridge's name) and ackmsg_signer (the CN that signed it).
//
// The signed ACK is sent only after the broker confirmed the message (basic.ack: it is in every
// queue it routes to, durably for durable queues). A message the broker returns as unroutable
// (no queue bound for its routing key), or nacks, is not ACKed: it is counted and logged, and the
// publisher's retransmission tries again. So a publisher that names the bridge as a recipient
// knows, when its publish returns nil, that the message is in the broker. At most MaxInFlight
// messages wait for confirms; beyond that the bridge reads nothing more from the bus (publishers
// retransmit). When the connection to the broker is lost, the unconfirmed messages are published
// again once it is back, before anything new: a message can then be in a queue twice (the first
// copy was stored but its confirm lost), never missing; AMQP consumers de-duplicate by
// message_id.
//
// # AMQP → bus
//
// The bridge consumes Queue with manual acknowledgements and a prefetch of Prefetch. Each
// message body must be a JSON object; it is published on the bus as the message's msg, signed by
// the bridge, with the routing key as topic (kept whole when it starts with topic_prefix, else
// <topic_prefix>.<environment>.amqp.<routing key>). When Recipients (or the recipients table)
// name recipients, it is an acked publish. fedora-messaging's severity, sent-at and priority
// headers become the top-level envelope fields [FieldSeverity], [FieldSentAt] and
// [FieldPriority], covered by the bridge's signature. basic.ack is sent only after the bus publish
// succeeded and, for an acked publish, every recipient's signed ACK arrived; otherwise the
// message is requeued (basic.nack) after a pause that doubles with each attempt. The msg_id is
// derived from the AMQP message_id (or, without one, from the body) and the year of the
// message's timestamp or sent-at header, so a message delivered again by the broker is the same
// message on the bus and recipients do not process it twice. With
// DeadLetterExchange set, a message that failed MaxAttempts times, or whose body is not a JSON
// object, is rejected to it (the bridge declares the exchange and a queue "<queue>.dead" that
// keeps them); without it, nothing is ever dropped: failed messages are retried forever. The
// queues are quorum queues by default (QueueType, with QueueArguments passed through): such a
// queue counts the deliveries of each message itself (x-delivery-count), and the bridge takes
// the attempts from it, so they survive a restart; for a classic queue it counts in memory.
//
// # Loops
//
// A message that came from the broker is not sent back: the bridge does not forward bus messages
// it signed itself, and does not bring back from the broker messages whose ackmsg_bridge header
// is its own name. Two bridges with different names between the same bus and broker would loop;
// give each bridged exchange one bridge, or disjoint topics.
//
// # Connections
//
// Each direction has its own connection (a blocked publishing connection never stalls
// consuming). With several broker nodes (urls) the bridge shuffles them once and each direction
// connects to the next in that order; a lost connection fails over to the next node at once, and
// only after a whole round of nodes failed in a row does it pause, doubling from 0.1 s up to
// ReconnectMax. The unconfirmed messages are published again on the new connection. Only connection failures are retried: when the broker refuses the bridge (a
// wrong user or password, no permission on the vhost, an exchange or a queue, an unknown vhost)
// Run stops both directions and returns [ErrRefused] with the broker's reason, at start or later;
// otherwise Run returns when its context ends. The same holds for a TLS handshake refused on the
// certificates ([ErrTLS]: the broker refused the bridge's client certificate, or the bridge the
// broker's). With several nodes, a refusal by one of them is logged as an error, counted
// (Stats ToRefusals, FromRefusals) and the direction goes on with the other nodes; Run returns
// [ErrRefused] once every node has refused it since its last lasting connection, naming each
// node and its reason. amqps:// URLs use TLS with the CA and client certificate of [broker.TLS] (by default
// the bus CA and the bridge's own certificate), and login external logs in by SASL EXTERNAL as
// the certificate's CN. [Bridge.Ready] reports whether every configured direction is connected;
// [Bridge.Stats] says to which node.
//
// # Construction
//
// [New] takes a [Config] ([DefaultConfig], [Config.Validate]; the broker in [broker.Config]) and
// the bus side as a [Bus]: factories of the acked publisher and the acking subscriber, to which
// the bridge passes the options it needs and whose results it closes. Package bridge does not
// read fedmsg configurations: config.NewBridge builds a Bridge from one (the ackmsg-bridge
// command's path). New does no network I/O; it loads the TLS files of amqps:// URLs.
package bridge
