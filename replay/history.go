package replay

import (
	"context"
	"fmt"
	"sync"
)

// History numbers one publisher's messages and records them before they are sent: Publish
// allocates the next seq_id, has the envelope built and signed with it, appends it durably to
// the Store, and only then sends it, in seq_id order even when several goroutines publish at
// once (so consumers see seq_ids in order and gaps only where messages were really lost).
// It is safe for concurrent use.
type History struct {
	store Store
	name  string

	mu      sync.Mutex
	cond    *sync.Cond
	next    int64          // the next seq_id to hand out
	done    int64          // every seq_id up to this one is sent or abandoned
	settled map[int64]bool // seq_ids above done already sent or abandoned
}

// NewHistory continues name's numbering in store from its last seq_id; ctx bounds the read.
func NewHistory(ctx context.Context, store Store, name string) (*History, error) {
	last, err := store.LastSeq(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("replay: reading the last seq_id of %q: %w", name, err)
	}
	h := &History{store: store, name: name, next: last + 1, done: last, settled: map[int64]bool{}}
	h.cond = sync.NewCond(&h.mu)
	return h, nil
}

// Name is the publisher name the history numbers.
func (h *History) Name() string { return h.name }

// Store is where the history is recorded.
func (h *History) Store() Store { return h.store }

// Publish numbers one message: build makes the signed envelope carrying seq (returning its
// msg_id, timestamp and bytes), the record is appended, and send runs once every earlier
// seq_id was sent or abandoned. A build or append failure abandons the seq_id: the message is
// not sent, the error is returned, and consumers see a gap of one that no replay can fill
// (reported by them as unrecoverable). ctx bounds the append as the Store's Append says (a
// cancelled wait is such a failure); the wait for earlier seq_ids is not bounded, since each of
// them ends with its own send or failure.
func (h *History) Publish(ctx context.Context, build func(seq int64) (Record, error), send func() error) (int64, error) {
	h.mu.Lock()
	seq := h.next
	h.next++
	h.mu.Unlock()

	rec, err := build(seq)
	if err == nil {
		rec.Seq = seq
		if err = h.store.Append(ctx, h.name, rec); err != nil {
			err = fmt.Errorf("replay: recording seq_id %d of %q (the message was not sent): %w", seq, h.name, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.settle(seq)
		return seq, err
	}
	for h.done != seq-1 {
		h.cond.Wait()
	}
	err = send()
	h.settle(seq)
	return seq, err
}

// settle marks seq finished and advances done; it runs with mu held.
func (h *History) settle(seq int64) {
	h.settled[seq] = true
	for h.settled[h.done+1] {
		delete(h.settled, h.done+1)
		h.done++
	}
	h.cond.Broadcast()
}
