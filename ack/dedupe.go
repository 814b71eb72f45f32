package ack

import "container/list"

// seenState is what a Subscriber remembers about a marked msg_id.
type seenState int

const (
	stateProcessing seenState = iota + 1 // delivered, the application has not finished
	stateAcked                           // ACKed: a retransmission is re-ACKed, not redelivered
	stateFailed                          // the application failed: a retransmission is redelivered
	stateNotAsked                        // delivered; ack_recipients names others: never ACKed
)

type seenEntry struct {
	id    string
	state seenState
	ack   []byte // the signed ACK frame, re-sent as is for a retransmission
}

// window remembers the last n msg_ids (least recently seen evicted first). It is not safe for
// concurrent use. Memory is bounded by n entries of one ACK frame each.
type window struct {
	n     int
	order *list.List // front = most recent
	byID  map[string]*list.Element
}

func newWindow(n int) *window {
	return &window{n: max(n, 1), order: list.New(), byID: make(map[string]*list.Element)}
}

func (w *window) get(id string) *seenEntry {
	if e, ok := w.byID[id]; ok {
		w.order.MoveToFront(e)
		return e.Value.(*seenEntry)
	}
	return nil
}

func (w *window) put(id string, state seenState) *seenEntry {
	if e := w.get(id); e != nil {
		e.state = state
		return e
	}
	if w.order.Len() >= w.n {
		old := w.order.Back()
		w.order.Remove(old)
		delete(w.byID, old.Value.(*seenEntry).id)
	}
	entry := &seenEntry{id: id, state: state}
	w.byID[id] = w.order.PushFront(entry)
	return entry
}

func (w *window) len() int { return w.order.Len() }
