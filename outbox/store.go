package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// State is where a stored message is in its life. A delivered message (every recipient ACKed)
// leaves the store: a store holds only pending and dead messages, and remembers the msg_ids of
// the last FinishedKept messages that left it (Delivered or Dropped), so that a question about
// one ("was it delivered?", ackmsg-outbox wait) is answered instead of mistaken for an unknown
// msg_id.
type State int

const (
	// Pending messages are waiting for their first send or for ACKs still missing.
	Pending State = iota
	// Dead messages expired (or were given up on) before every recipient ACKed. They are kept
	// and reported until an operator retries or drops them; never removed silently.
	Dead
	// Delivered messages left the store because every recipient's verified ACK was counted.
	// Only Get reports this state (a record with MsgID, State and Finished set, nothing else),
	// for the messages the store still remembers.
	Delivered
	// Dropped messages were removed by an operator (Drop) before every recipient ACKed. Only
	// Get reports it, as for Delivered.
	Dropped
)

// FinishedKept is how many finished (delivered or dropped) msg_ids a store remembers; older
// ones are forgotten, and Get returns ErrNotFound for them.
const FinishedKept = 100_000

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Dead:
		return "dead"
	case Delivered:
		return "delivered"
	case Dropped:
		return "dropped"
	}
	return "unknown"
}

// Record is one stored message: the signed frames exactly as they go on the wire, and its
// delivery state. Topic and Envelope never change after Enqueue, so every attempt, before and
// after a restart, sends identical bytes (same msg_id, same signature) and consumers'
// de-duplication keeps delivery to the application once per recipient.
type Record struct {
	// Seq is assigned by the store at Enqueue: strictly increasing in enqueue order within one
	// store. Claim returns records of one topic in Seq order.
	Seq uint64
	// MsgID is the envelope's msg_id; unique within a store.
	MsgID string
	// Topic is the full topic, frame 1.
	Topic string
	// Envelope is the signed envelope JSON, frame 2, carrying the gilmsg_version marker.
	Envelope []byte
	// Recipients are the CNs that must ACK, sorted, without duplicates.
	Recipients []string
	// Acked are the recipients whose verified ACK arrived, persisted as they arrive (a subset
	// of Recipients, sorted). After a restart only the others are waited for.
	Acked []string
	// Enqueued is when the message was stored; Expires when it turns Dead if not delivered.
	Enqueued, Expires time.Time
	// Attempts counts the delivery attempts made (each may send several retransmissions).
	Attempts int
	// NextAttempt is the earliest time the message may be claimed again.
	NextAttempt time.Time
	// LastError says why the last attempt did not complete (for example which recipients were
	// missing); empty before the first attempt.
	LastError string
	// State is Pending or Dead; DeadReason says why a Dead message died.
	State      State
	DeadReason string
	// Finished is when a Delivered or Dropped message left the store.
	Finished time.Time
}

// Missing returns the recipients that have not ACKed yet.
func (r *Record) Missing() []string {
	acked := make(map[string]bool, len(r.Acked))
	for _, a := range r.Acked {
		acked[a] = true
	}
	var out []string
	for _, x := range r.Recipients {
		if !acked[x] {
			out = append(out, x)
		}
	}
	return out
}

// Filter selects records for List.
type Filter struct {
	// States to include; empty means all.
	States []State
	// Topic, when set, selects one full topic.
	Topic string
	// Limit bounds the number of records returned (0: no limit).
	Limit int
}

// Stats is a snapshot of a store's contents.
type Stats struct {
	Pending, InFlight, Dead int
	// Delivered counts messages removed because every recipient ACKed, since the store was
	// created (persisted).
	Delivered uint64
	// OldestPending is the enqueue time of the oldest pending message (zero when none).
	OldestPending time.Time
	// MissingByRecipient counts pending messages still waiting for each recipient.
	MissingByRecipient map[string]int
}

// Store is where the outbox keeps messages until every recipient ACKed them. Implementations:
// the embedded single-file store (bbolt) and PostgreSQL. Every method is safe for concurrent use;
// several deliverers (goroutines, processes or machines, as the store allows) may share one store.
//
// Durability is the contract: a nil error from Enqueue, MarkAcked, Release, Kill, Retry and Drop
// means the change is on stable storage (fsync'd or committed); an error means it may not be, and
// the caller must not report success for it.
type Store interface {
	// Enqueue stores records atomically (all or none), assigns their Seq and returns once they
	// are durable. A record whose MsgID is already stored fails with ErrDuplicate.
	Enqueue(ctx context.Context, recs ...*Record) error
	// Claim returns up to n Pending records whose NextAttempt is not after now and that no live
	// claim holds, and claims them for owner until now+lease. Records of one topic come in Seq
	// order, and a topic whose earliest due record is claimed by another owner is skipped, so
	// one topic is delivered by one deliverer at a time. A claim that is not released before its
	// lease ends expires, and the records can be claimed again (a crashed deliverer's work is
	// taken over).
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, n int) ([]*Record, error)
	// MarkAcked persists that recipients ACKed the message (ignoring names already recorded or
	// not among its recipients). When that completes the set, the record is removed, counted as
	// delivered, and done is true. Works whether or not the record is claimed.
	MarkAcked(ctx context.Context, msgID string, recipients ...string) (done bool, err error)
	// Release ends owner's claim on a message that is still missing ACKs: it counts the attempt,
	// records lastErr and makes the message due again at next.
	Release(ctx context.Context, owner, msgID string, next time.Time, lastErr string) error
	// Kill moves a message to Dead with reason (expiry, or an operator's decision).
	Kill(ctx context.Context, msgID, reason string) error
	// Retry makes the named messages (Dead or Pending) due now, with a fresh expiry at expires;
	// with no msgIDs it retries every Dead message. It returns how many it changed.
	Retry(ctx context.Context, expires time.Time, msgIDs ...string) (int, error)
	// Drop removes a message for good (an operator's decision). ErrNotFound if it is not stored.
	Drop(ctx context.Context, msgID string) error
	// Get returns one record; for a message that left the store and is still remembered (see
	// FinishedKept), a record with State Delivered or Dropped; else ErrNotFound.
	Get(ctx context.Context, msgID string) (*Record, error)
	// List returns records in Seq order.
	List(ctx context.Context, f Filter) ([]*Record, error)
	// Stats summarises the store.
	Stats(ctx context.Context) (Stats, error)
	// Changed returns a channel that receives (without blocking the sender, coalesced) when
	// records may have become due: an Enqueue or Retry by this or, where the store can tell,
	// another process (PostgreSQL LISTEN/NOTIFY). Deliverers also poll at their own pace, so a
	// lost notification delays delivery and loses nothing.
	Changed() <-chan struct{}
	// Close releases the store. Calls after Close fail with ErrClosed.
	Close() error
}

var (
	// ErrNotFound is returned for a msg_id the store does not hold.
	ErrNotFound = errors.New("outbox: message not found")
	// ErrDuplicate is returned by Enqueue for a msg_id already stored.
	ErrDuplicate = errors.New("outbox: message already stored")
	// ErrClosed is returned by a Store or Outbox used after Close. It wraps message.ErrClosed.
	ErrClosed = fmt.Errorf("outbox: %w", message.ErrClosed)
	// ErrNotClaimed is returned by Release when owner holds no live claim on the message.
	ErrNotClaimed = errors.New("outbox: message not claimed by this owner")
)
