package ack

import "time"

// Retransmission timing, after TCP's (RFC 6298): the timeout adapts to the ACK round trips
// observed, so a retransmission does not fire before a normal ACK could have arrived, and each
// retransmission of one message doubles its timeout.
const (
	initialRTO = 200 * time.Millisecond
	minRTO     = 25 * time.Millisecond
	maxRTO     = time.Second
)

// rtoEstimator is guarded by the Publisher's mutex.
type rtoEstimator struct {
	srtt, rttvar time.Duration
	sampled      bool
	// backedOff is the timeout after retransmissions fired (RFC 6298 §5.5): it doubles on each
	// round of expiries and holds until a fresh sample arrives. Without it, a pipeline in which
	// no message is ACKed on its first send (Karn's rule then yields no samples) would keep
	// retransmitting at the minimum timeout while the messages merely wait in a queue.
	backedOff time.Duration
}

// sample records one round trip of a message ACKed on its first attempt (Karn's rule: a
// retransmitted message's ACK cannot be matched to one send).
func (e *rtoEstimator) sample(rtt time.Duration) {
	e.backedOff = 0
	if !e.sampled {
		e.srtt, e.rttvar, e.sampled = rtt, rtt/2, true
		return
	}
	delta := e.srtt - rtt
	if delta < 0 {
		delta = -delta
	}
	e.rttvar = (3*e.rttvar + delta) / 4
	e.srtt = (7*e.srtt + rtt) / 8
}

func (e *rtoEstimator) rto() time.Duration {
	base := initialRTO
	if e.sampled {
		base = clampRTO(e.srtt + 4*e.rttvar)
	}
	return max(base, e.backedOff)
}

// backoff doubles the timeout after a round of retransmissions.
func (e *rtoEstimator) backoff() {
	e.backedOff = clampRTO(2 * e.rto())
}

func clampRTO(d time.Duration) time.Duration {
	return min(max(d, minRTO), maxRTO)
}
