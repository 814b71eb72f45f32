// Package pgstore is the PostgreSQL history of replay: a [replay.Store] in a database, chosen
// by a persistent_store that is a postgres:// or postgresql:// URL (docs/replay.md,
// "PostgreSQL"). Several publishers, on several machines, may share one database, each under
// its own publisher name; their histories survive the loss of any publisher's disk.
//
// Tables, created when missing (under the URL's search_path, so another schema is
// "?search_path=myschema"):
//
//	ackmsg_history         name, seq_id, msg_id, ts, envelope: one row per retained message,
//	                       primary key (name, seq_id); indexes on (name, msg_id) and (name, ts)
//	ackmsg_history_names   name, last_seq_id, messages, bytes, evicted: one row per name, so
//	                       that the numbering outlives the rows retention drops
//	ackmsg_history_schema  version: the layout's version ([SchemaVersion])
//
// Durable: Append returns nil once PostgreSQL committed the record, as durable as the server
// makes commits: with synchronous_commit on (the default) and fsync on, the commit is on disk
// (and on the synchronous standbys, if configured) before Append returns. The store never
// changes synchronous_commit; [Store.SynchronousCommit] says what the server set. Appends that
// arrive while a commit is in flight go into the next transaction together, so concurrent
// publishes share commits.
//
// Ownership: one process writes a publisher name at a time, as bbolt's file lock makes one
// process own a history file. A writable store takes a session-level advisory lock per name
// (pg_try_advisory_lock on a 64-bit FNV-1a hash of the name, see [LockKey]) on its dedicated
// writer connection, when it opens (Options.Own) or at the name's first LastSeq or Append; a
// name another session holds fails with an [*InUseError]. The lock lives as long as the
// connection: appends go through that same connection, and after it is lost the lock is taken
// again before the next append, or the append fails. A read-only store (ackmsg-replay) takes no
// lock. Connect through PostgreSQL or a session-pooling proxy, not a transaction-pooling one
// (a session lock needs a session).
//
// Retention is the bbolt store's: enforced at every append, in the same transaction, oldest
// first, never the record just added; the evicted count is kept in ackmsg_history_names.
package pgstore
