package ack

import (
	"strings"

	"github.com/ackmsg/ackmsg/internal/lru"
)

// seenState is what a Subscriber remembers about a marked msg_id.
type seenState int

const (
	stateProcessing seenState = iota + 1 // delivered, the application has not finished
	stateAcked                           // ACKed: a retransmission is re-ACKed, not redelivered
	stateFailed                          // the application failed: a retransmission is redelivered
	stateNotAsked                        // delivered; ack_recipients names others: never ACKed
)

type seenEntry struct {
	state seenState
	ack   []byte // the signed ACK frame, re-sent as is for a retransmission
}

// window remembers the last n msg_ids (least recently seen evicted first). It is not safe for
// concurrent use. Memory is bounded by n entries of one msg_id and one ACK frame each.
type window struct {
	lru *lru.Window[string, *seenEntry]
}

func newWindow(n int) *window {
	return &window{lru: lru.New[string, *seenEntry](n)}
}

func (w *window) get(id string) *seenEntry {
	e, _ := w.lru.Get(id)
	return e
}

func (w *window) put(id string, state seenState) *seenEntry {
	if e := w.get(id); e != nil {
		e.state = state
		return e
	}
	entry := &seenEntry{state: state}
	// A decoded msg_id is a substring of the whole decoded envelope (message.Decode keeps one
	// string and slices it): kept as is, it would hold ~2 KB per remembered id alive.
	w.lru.Add(strings.Clone(id), entry)
	return entry
}

func (w *window) len() int { return w.lru.Len() }
