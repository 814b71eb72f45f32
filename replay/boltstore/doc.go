// Package boltstore is the embedded history of replay: a [replay.Store] in one bbolt file, chosen
// by a persistent_store that is a file path (docs/replay.md). Package replay/pgstore is the
// PostgreSQL one; replay/storetest is the contract both keep.
//
// Durable: Append returns nil once the record is committed and fsync'd (unless Options.NoSync,
// then it survives a crash of the process but not of the machine). Appends that arrive while a
// commit is being written are committed together, so concurrent publishers share fsyncs.
// Retention (by age, count and bytes, per publisher name) is enforced at every append; the
// highest seq_id ever appended outlives the records retention drops.
//
// One process owns a file at a time (bbolt's file lock): a second [Open] fails with [ErrLocked]
// after Options.LockTimeout (1 s); a file that is not a readable history fails with
// [ErrCorrupt], never a panic. A closed store fails with replay.ErrClosed. Reads do not wait
// for the writer (bbolt's read transactions run beside it), so ctx is checked before each read
// starts, and bounds an append's wait for the group committer.
package boltstore
