package consumer

// HubStats are a Hub's counters.
type HubStats struct {
	Received   uint64 // valid messages read from the source
	Unmatched  uint64 // matched no consumer's topics: not processed
	Duplicates uint64 // already processed by every matching consumer: reported as a success, not processed again
	Completed  uint64 // deliveries processed by every awaited consumer (an acking hub ACKs them)
	Incomplete uint64 // deliveries with a failure, a drop or a shutdown in the way: not ACKed
	Poison     uint64 // msg_ids given up after max_attempts failures
	Rejected   uint64 // deliveries of poison msg_ids, not processed
	Consumers  []ConsumerStats
}

// ConsumerStats are one consumer's counters and gauges.
type ConsumerStats struct {
	Name       string
	Received   uint64 // messages put in its inbox
	Processed  uint64 // runs that succeeded
	Failed     uint64 // runs that failed (an error, a timeout, a panic, a hook)
	Dropped    uint64 // messages not queued because the inbox was full (DropWhenFull)
	Abandoned  uint64 // messages queued but not started when the hub shut down
	InboxFull  uint64 // messages that found the inbox full (then waited, or were dropped)
	InboxDepth int    // messages waiting now
	InboxCap   int
	Workers    int
	Busy       int // workers processing now
}

// Stats returns a snapshot of the counters.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	consumers := h.consumers
	h.mu.Unlock()
	s := HubStats{
		Received: h.stats.received.Load(), Unmatched: h.stats.unmatched.Load(), Duplicates: h.stats.duplicates.Load(),
		Completed: h.stats.completed.Load(), Incomplete: h.stats.incomplete.Load(), Poison: h.stats.poison.Load(),
		Rejected: h.stats.rejected.Load(),
	}
	for _, c := range consumers {
		s.Consumers = append(s.Consumers, ConsumerStats{
			Name: c.cfg.Name, Received: c.stats.received.Load(), Processed: c.stats.processed.Load(),
			Failed: c.stats.failed.Load(), Dropped: c.stats.dropped.Load(), Abandoned: c.stats.abandoned.Load(),
			InboxFull: c.stats.inboxFull.Load(), InboxDepth: len(c.inbox), InboxCap: cap(c.inbox),
			Workers: c.cfg.Workers, Busy: int(c.busy.Load()),
		})
	}
	return s
}
