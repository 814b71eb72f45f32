package ack

import (
	"container/heap"
	"slices"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// waiter is one message waiting for ACKs. Every field but done is guarded by the Publisher's
// mutex; done is closed exactly once, when err is final.
type waiter struct {
	msg      *message.Message
	frame    []byte
	missing  map[string]struct{}
	acked    []string
	others   []string  // signers of verified ACKs that are not recipients, at most maxOthers
	start    time.Time // Publish was called
	sent     time.Time // the first send completed
	deadline time.Time
	next     time.Time // next retransmission
	rto      time.Duration
	queued   time.Duration // the queueing allowance of the first timeout
	attempts int
	index    int // position in the heap; -1 once finished

	done      chan struct{}
	err       error
	stopWatch func() bool  // stops the context watch
	onAck     func(string) // set at creation, then only read
	slot      *slot        // released when finished; set at creation
}

// maxOthers bounds the non-recipient signers a waiter remembers for its TimeoutError.
const maxOthers = 8

func (w *waiter) wake() time.Time {
	if w.next.Before(w.deadline) {
		return w.next
	}
	return w.deadline
}

func (w *waiter) missingList() []string {
	out := make([]string, 0, len(w.missing))
	for r := range w.missing {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// waiterHeap orders waiters by their next wake-up (retransmission or deadline).
type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].wake().Before(h[j].wake()) }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiterHeap) Push(x any) { w := x.(*waiter); w.index = len(*h); *h = append(*h, w) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

var _ heap.Interface = (*waiterHeap)(nil)
