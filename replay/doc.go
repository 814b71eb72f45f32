// Package replay is ackmsg's history and catch-up, speaking fedmsg's replay protocol on the wire
// (docs/replay.md, docs/wire.md §7).
//
// Publishing side: a [History] numbers one publisher name's messages (seq_id, +1 per message,
// continued after a restart from the store) and records each signed envelope in a [Store] before
// the message is sent, in seq_id order even when several goroutines publish. Package
// replay/boltstore is the embedded store (one bbolt file per publisher process; retention by
// age, count and bytes, enforced at every append; concurrent appends group-committed into one
// fsync); package replay/pgstore is the PostgreSQL one (one database for many publishers, one process per
// name), and replay/storetest the contract both keep. package publisher does all of this when
// persistent_store is configured. A [Server] answers fedmsg
// replay queries (seq_ids, seq_id, seq_id_range, msg_ids, msg_id, time; OR-ed) on a REP socket
// with the stored envelopes, one per frame, or one frame `error: '<text>'`; a reply is bounded
// (replay_max_messages, replay_max_bytes), and a malformed query costs its parse and an error
// reply, never the server.
//
// Consuming side: a [Tracker] follows the last seq_id per publisher name (the endpoints key a
// message arrived under, as fedmsg does: the certificate's CN does not name a publisher, and one
// certificate may sign for several), fetches missing ranges with a [Client] (a REQ socket per
// query, with a timeout), splitting ranges an endpoint finds too big, and keeps a state file.
// package consumer uses it in every Subscriber, and so in every Tail, Hub and acking consumer.
//
// What it guarantees: a message a Publisher returned for is in the history (fsync'd unless
// history_fsync is off); a consumer delivers a publisher's numbered messages in seq_id order,
// each once while it runs, and reports every seq_id it could not recover (counted in
// TrackerStats.Unrecoverable, logged at error level with the gap's size). What it does not: a
// message older than the retention, or asked while the endpoint is down, is lost (reported);
// a history lost with its disk restarts at seq_id 1 (consumers see a reset and say so).
//
// Every Store method that reads or writes takes a context first; it bounds the caller's wait
// (a boltstore append's wait for the group committer, each pgstore operation, besides its
// Timeout).
//
// ErrClosed ("replay: store closed") wraps message.ErrClosed, the root every package's ErrClosed wraps:
// errors.Is(err, message.ErrClosed) holds for a call on anything closed, whichever layer
// answered; errors.Is(err, ErrClosed) still tells this package's own.
package replay
