package replay

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// Record is one message of a publisher's history.
type Record struct {
	// Seq is the message's seq_id.
	Seq int64
	// MsgID and Timestamp are the envelope's, kept for msg_id and time queries.
	MsgID     string
	Timestamp int64
	// Envelope is the signed envelope exactly as it was sent (canonical JSON).
	Envelope []byte
}

// Retention bounds a history, per publisher name; a zero field is no limit on that axis. The
// oldest records go first, checked at every append.
type Retention struct {
	MaxAge      time.Duration
	MaxMessages int
	MaxBytes    int
}

// Limits bound one query's answer: a query matching more gets an *TooManyError.
type Limits struct {
	MaxMessages int
	MaxBytes    int
}

// TooManyError is a query whose answer exceeds the Limits.
type TooManyError struct {
	Limit int
	Bytes bool // the byte limit, not the message limit
}

func (e *TooManyError) Error() string {
	if e.Bytes {
		return tooLargePrefix + " the matching messages exceed the " + strconv.Itoa(e.Limit) +
			" bytes a reply may carry (replay_max_bytes); ask for a narrower seq_id_range"
	}
	return tooManyPrefix + " the query matches more than the " + strconv.Itoa(e.Limit) +
		" messages a reply may carry (replay_max_messages); ask for a narrower seq_id_range"
}

// Texts a client recognises in an error reply to split its query.
const (
	tooManyPrefix  = "Too many messages:"
	tooLargePrefix = "Too large:"
)

// Store is a durable history of signed envelopes, numbered per publisher name. Every method
// that reads or writes takes a context first: it bounds the caller's wait (see the
// implementation for which waits, and for the default bound a store applies without a deadline).
type Store interface {
	// LastSeq is the highest seq_id ever appended under name (0 when none), retained or not.
	LastSeq(ctx context.Context, name string) (int64, error)
	// Append records r under name; r.Seq must not be recorded already. When it
	// returns nil the record is durable (see the implementation for what durable means).
	Append(ctx context.Context, name string, r Record) error
	// Query returns the retained records of name matching q, by seq_id, or ErrNoMatch, or a
	// *TooManyError beyond lim.
	Query(ctx context.Context, name string, q Query, lim Limits) ([]Record, error)
	// Stats describes what name's history holds.
	Stats(ctx context.Context, name string) (StoreStats, error)
	// Close releases the store.
	Close() error
}

// StoreStats describe one publisher's history.
type StoreStats struct {
	Messages, Bytes int
	// First and Last are the lowest and highest retained seq_ids (0 when empty); LastSeq is
	// the highest ever appended.
	First, Last, LastSeq int64
	// Evicted counts the records retention dropped since the store was created.
	Evicted uint64
}

// ErrClosed is returned by a closed store. It wraps message.ErrClosed.
var ErrClosed = fmt.Errorf("replay: store %w", message.ErrClosed)
