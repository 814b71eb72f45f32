package consumer

import "github.com/ackmsg/ackmsg/internal/lru"

// progress is what a Hub remembers about one msg_id.
type progress struct {
	done     []bool  // by consumer index: processed successfully
	runs     []int32 // by consumer index: times started
	failures int     // deliveries that ended with a failed consumer
	poison   bool
}

// progressWindow remembers the progress of the last n msg_ids, least recently seen evicted
// first: memory is bounded by n entries of a few bytes per consumer. Not safe for concurrent use.
type progressWindow struct {
	lru *lru.Window[string, *progress]
}

func newProgressWindow(n int) *progressWindow {
	return &progressWindow{lru: lru.New[string, *progress](n)}
}

// get returns id's progress, creating it (and evicting the oldest) when absent.
func (w *progressWindow) get(id string, consumers int) *progress {
	if p, ok := w.lru.Get(id); ok {
		return p
	}
	p := &progress{done: make([]bool, consumers), runs: make([]int32, consumers)}
	w.lru.Add(id, p)
	return p
}

// peek returns id's progress, or nil when it was evicted.
func (w *progressWindow) peek(id string) *progress {
	p, _ := w.lru.Peek(id)
	return p
}
