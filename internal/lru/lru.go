// Package lru is the bounded memory of recently seen keys that both de-duplication windows use:
// ack's Subscriber (what it ACKed per msg_id) and consumer's Hub (each consumer's progress per
// msg_id). It imports nothing of this module.
package lru

import "container/list"

// Window holds at most n keys with their values, evicting the least recently used first. Get and
// Add count as a use; Peek does not. It is not safe for concurrent use: its owner guards it.
type Window[K comparable, V any] struct {
	n     int
	order *list.List // of *entry[K, V], front = most recent
	byKey map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns an empty Window that holds up to n keys (at least one: a smaller n counts as 1).
func New[K comparable, V any](n int) *Window[K, V] {
	return &Window[K, V]{n: max(n, 1), order: list.New(), byKey: make(map[K]*list.Element)}
}

// Get returns key's value and makes key the most recently used. ok is false when key is absent
// (never added, or evicted).
func (w *Window[K, V]) Get(key K) (v V, ok bool) {
	e, ok := w.byKey[key]
	if !ok {
		return v, false
	}
	w.order.MoveToFront(e)
	return e.Value.(*entry[K, V]).val, true
}

// Peek returns key's value like Get, without making key more recent.
func (w *Window[K, V]) Peek(key K) (v V, ok bool) {
	e, ok := w.byKey[key]
	if !ok {
		return v, false
	}
	return e.Value.(*entry[K, V]).val, true
}

// Add sets key's value and makes key the most recently used. Adding a new key to a full Window
// first evicts the least recently used one.
func (w *Window[K, V]) Add(key K, v V) {
	if e, ok := w.byKey[key]; ok {
		e.Value.(*entry[K, V]).val = v
		w.order.MoveToFront(e)
		return
	}
	if w.order.Len() >= w.n {
		old := w.order.Back()
		w.order.Remove(old)
		delete(w.byKey, old.Value.(*entry[K, V]).key)
	}
	w.byKey[key] = w.order.PushFront(&entry[K, V]{key: key, val: v})
}

// Len returns how many keys the Window holds.
func (w *Window[K, V]) Len() int { return w.order.Len() }
