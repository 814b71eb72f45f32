// Package hub is ackmsg-hub: a long-running service that runs consumers and ACKs what they
// processed, so a publisher that names the hub as a recipient learns its message was processed,
// not just received. Main is the whole program; Run is the service for callers that load their
// own configuration.
//
// Consumers are declared in the configuration as [[hub.consumers]] tables (see
// config.HubConsumer): kind "exec" runs a command per message (Exec), kind "file" appends each
// message to a file (File), and kind "go" runs a consumer compiled into the binary
// (WithConsumer), enabled by its table as fedmsg enables consumers by config key. Each has topic
// patterns, a bounded inbox, workers, a timeout and an ack mode; the engine is consumer.Hub,
// and the ACKs are ack.NewHub's.
//
// # Guarantees
//
//   - An ACK is sent only after the work succeeded: every matching consumer (with ack =
//     "processed", the default) returned nil, an exec command exited 0, a file line was written
//     and, with fsync "always", is on disk. A failure sends no ACK; the publisher's
//     retransmission is processed again by the consumers that failed, at most hub.max_attempts
//     times, after which the message is logged as poison and never ACKed. A retransmission of a
//     message already ACKed is re-ACKed and not processed again.
//   - Unfinished work is never ACKed. On SIGTERM or SIGINT the hub stops reading at once, lets
//     queued and running work finish for up to hub.shutdown_timeout, then kills what is left (an
//     exec command's whole process group) and exits 0.
//   - Processing is at least once: a consumer may see a message again after a restart, or after
//     the hub forgot its msg_id (dedupe_window); make consumers idempotent by msg_id.
//   - Memory is bounded: a full inbox stops the hub from reading (back-pressure; libzmq's
//     high-water mark then applies and publishers retransmit what is lost), or with overflow =
//     "drop" the message is dropped for that consumer, counted and not ACKed.
//   - Invalid messages (bad frames, bad JSON, failed signature checks) never reach a consumer;
//     they are counted by reason. Nor do ACKs (the <topic_prefix>.<environment>.gilmsg.ack
//     topic): they are overlay traffic, counted as ackmsg_hub_acks_seen_total.
//
// # Operations
//
// hub.http_address (off by default) serves /live (the process is up), /ready (subscribed,
// consumers running, not shutting down; 503 otherwise) and /metrics in the Prometheus text
// format, from a registry private to the hub: ackmsg_hub_messages_*_total (received, invalid by
// reason, unmatched, duplicates, completed, incomplete, poison), ackmsg_hub_acks_sent_total,
// ackmsg_hub_acks_resent_total, ackmsg_hub_ack_errors_total, ackmsg_hub_acks_seen_total,
// ackmsg_hub_ready and, per consumer,
// ackmsg_hub_consumer_{received,processed,failed,dropped,abandoned,inbox_full}_total, the
// inbox depth and capacity, busy workers, and ackmsg_hub_consumer_processing_seconds (a
// histogram by outcome). Logs are structured (log/slog) on stderr.
package hub
