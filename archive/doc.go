// Package archive is the bus's memory: a datanommer-compatible archive of every valid message in
// PostgreSQL, filled by an ingest loop that answers (ACKs) a message only after its commit, and a
// datagrepper-compatible HTTP API over it.
//
// Guarantees:
//   - A message answered stored (Delivery.Done(nil), which an acking source turns into its ACK)
//     is committed: ackmsg-archive is a named recipient, and an acked publish to "archive" that
//     returned nil is in the database, whatever happens to the archive process afterwards.
//   - One row per msg_id: a duplicate (a retransmission, a replay) is skipped and answered
//     stored.
//   - Commits are grouped: what arrives while a commit runs goes into the next (at most
//     BatchSize per transaction).
//   - Every write is bounded by Timeout, every API query by QueryTimeout, enforced by the server
//     (statement_timeout): a query that would scan too long is cancelled and answered 503.
//   - Paging is by keyset on (timestamp, id): next_cursor pages cost the same at any depth.
//     Queries on time, topics and categories get an exact total and page=N from a table of
//     counts per hour and topic (CountsTable), kept in the rows' transactions; with other
//     filters page=N walks the index and total is exact up to CountLimit, the planner's
//     estimate beyond (total_estimated: true), never a count of the whole table.
//
// Failures: a commit that fails answers its messages with the error (no ACK: their publishers
// retransmit); a query datagrepper would refuse, or that has SQL or patterns in contains, is a
// *BadQueryError (400); an unknown msg_id is ErrNotFound (404).
//
// The package reads deliveries through [Source], so it does not depend on how the acking
// subscriber is built; [API.Routes] are mounted on a server the caller owns, beside /live,
// /ready, /metrics and the web view. docs/archive.md describes the table and the API.
package archive
