// Package consumer is the receiving side of the base bus.
//
// A Subscriber connects a SUB socket to every configured endpoint except relay_inbound,
// subscribes by topic prefix (ZeroMQ byte-prefix matching, as fedmsg's tail_messages), and turns
// each two-frame message into a Delivery: the endpoint it came from, the frame-1 topic and the
// decoded envelope. Tail wraps it as a Go iterator.
//
// What it guarantees: only well-formed envelopes are delivered; when validate_signatures is set,
// only envelopes whose signature, certificate chain, CRL and routing policy check pass. The
// frame-1 topic must equal the envelope's topic, so a forged frame cannot steer a message past a
// subscription filter. Nothing a peer sends can stop a Subscriber: a wrong frame count, an
// oversized frame, invalid UTF-8, bad JSON, a missing field or a bad signature is dropped,
// counted by reason (Stats) and logged at a bounded rate, and the next message is read.
//
// What it does not guarantee: delivery. This is PUB/SUB: messages published while a subscriber
// is disconnected or slow are lost. Package ack adds acknowledgements and retransmission.
package consumer
