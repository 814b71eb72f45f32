// Package outbox is durable store-and-forward on top of package ack: Publish builds and signs a
// message, stores it, and returns once it is on stable storage; a Deliverer then sends the
// stored frames through an ack.Publisher, retransmitting, across restarts of any process, until
// every named recipient's signed ACK arrived, or the message expires into the dead letters.
//
// Guarantees:
//   - A nil error from Publish, Batch.Commit or EnqueueTx means the message is durable (the
//     store fsync'd or committed it). An error means it may not be, and nothing is reported
//     stored. Batch.Commit is all or nothing; EnqueueTx stores iff the caller's transaction
//     commits.
//   - A message leaves the store only when every recipient's verified ACK has been counted
//     (or an operator drops it). Expired messages move to the Dead state with a reason and stay
//     until retried or dropped.
//   - Every attempt sends the identical signed frames (same msg_id, same signature), so
//     consumers' de-duplication delivers a message to the application once per recipient
//     within their window.
//   - Each recipient's ACK is persisted as it arrives; after a restart only the recipients
//     still missing are waited for.
//   - Messages of one topic are first sent in enqueue order. While a recipient is down, its
//     missed messages are retransmitted in that order, interleaved with newer ones.
//
// How it fails: a store that cannot write (disk full, read-only, corrupt, locked by another
// process) makes Publish return an error; a store that fails while delivering makes the
// Deliverer log and retry, its claims expiring so that no message is lost or held forever; a
// recipient that never ACKs makes the message dead at its expiry, reported by ackmsg-outbox list
// and the ackmsg_outbox_dead metric.
//
// An Outbox is built from a [Config] (how messages are built: a publisher.Config; recipients
// and expiry per topic) with its store and its signer given (WithBuilderOptions with
// publisher.WithSigner), a Deliverer from a [DelivererConfig] with its store and ack.Publisher;
// package config builds an Outbox from a fedmsg configuration (config.NewOutbox) and maps the
// [outbox] table onto a DelivererConfig (config.OutboxConfig.DelivererConfig). This package does
// not import config.
//
// Stores implement Store: outbox/boltstore is the embedded single-file store, outbox/pgstore
// the PostgreSQL one (a TxStore: EnqueueTx joins the application's transaction, and several
// deliverers may share it). docs/outbox.md has the operator's view (ackmsg-outbox,
// configuration, metrics).
//
// ErrClosed ("outbox: closed") wraps message.ErrClosed, the root every package's ErrClosed wraps:
// errors.Is(err, message.ErrClosed) holds for a call on anything closed, whichever layer
// answered; errors.Is(err, ErrClosed) still tells this package's own.
package outbox
