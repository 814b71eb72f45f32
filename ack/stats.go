package ack

import (
	"time"
)

// Stats are a Publisher's counters.
type Stats struct {
	InFlight      int               // messages waiting for ACKs now
	Published     uint64            // acked messages sent
	Plain         uint64            // messages published without recipients
	NoRecipients  uint64            // of Plain, those that had none given and none configured (not To() with no names)
	NotAwaited    uint64            // acked messages sent without waiting for ACKs (development mode, log sink)
	Succeeded     uint64            // every recipient ACKed
	TimedOut      uint64            // deadline passed with recipients missing
	Cancelled     uint64            // the caller's context ended the wait
	Retransmits   uint64            // re-sends of the same signed frames
	AcksReceived  uint64            // frames the ACK listener handled; each is in exactly one of the next four
	AcksCounted   uint64            // ACKs that counted for a missing recipient
	AcksDuplicate uint64            // a recipient ACKed again (after a retransmission)
	AcksOther     uint64            // ACKs for messages not waiting here
	AcksSkipped   uint64            // of AcksOther, those dropped before decoding (their msg_id read from the raw frame)
	AcksDecoded   uint64            // frames whose envelope was decoded (AcksReceived minus AcksSkipped)
	AcksVerified  uint64            // ACKs whose signature was checked: only those for a message waiting here
	AcksRejected  map[string]uint64 // ACKs that failed a check, by reason
	RTO           time.Duration     // the current retransmission timeout
}

// Stats returns a snapshot of the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	inflight, rto := len(p.waiters), p.est.rto()
	p.mu.Unlock()
	return Stats{
		InFlight: inflight, Published: p.stats.published.Load(), Plain: p.stats.plain.Load(),
		NoRecipients: p.stats.noRecipients.Load(), NotAwaited: p.stats.notAwaited.Load(),
		Succeeded: p.stats.succeeded.Load(), TimedOut: p.stats.timedOut.Load(), Cancelled: p.stats.cancelled.Load(),
		Retransmits: p.stats.retransmits.Load(), AcksCounted: p.stats.acksCounted.Load(),
		AcksDuplicate: p.stats.acksDuplicate.Load(), AcksOther: p.stats.acksOther.Load(), AcksReceived: p.stats.acksReceived.Load(),
		AcksSkipped: p.stats.acksSkipped.Load(), AcksDecoded: p.stats.acksDecoded.Load(), AcksVerified: p.stats.acksVerified.Load(),
		AcksRejected: p.rejects.Counts(), RTO: rto,
	}
}
