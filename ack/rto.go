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
	// svc is the smoothed time between two messages' completions while others still wait: how
	// long a message queues behind each one sent before it (the recipients' pace). A message's
	// first timeout adds svc for each message in flight ahead of it, so a deep pipeline does not
	// retransmit what is merely queued (TCP times only its oldest segment for the same reason).
	svc time.Duration
	// The pace is measured over windows of at least paceWindow (completions counted, time
	// elapsed), not per interval: recipients that answer in bursts (a broker confirming in
	// batches behind a bridge) make most intervals near zero and a few long, and a per-interval
	// average weighted to the latest would drop to zero within every burst.
	winStart time.Time
	winN     int
}

// paceWindow is the shortest time over which the completion pace is measured.
const paceWindow = 50 * time.Millisecond

// completed records that a message finished with every ACK in at now, busy telling whether
// others were still waiting (only then is the interval a measure of the recipients' pace).
func (e *rtoEstimator) completed(now time.Time, busy bool) {
	if !busy || e.winStart.IsZero() {
		// Idle time is not a pace: a window starts at a completion with others waiting.
		e.winStart, e.winN = now, 0
		if !busy {
			e.winStart = time.Time{}
		}
		return
	}
	e.winN++
	if el := now.Sub(e.winStart); el >= paceWindow {
		d := el / time.Duration(e.winN)
		if e.svc == 0 {
			e.svc = d
		} else {
			e.svc = (3*e.svc + d) / 4
		}
		e.winStart, e.winN = now, 0
	}
}

// queueDelay is the queueing allowance of a message sent with ahead messages in flight: twice
// what it can expect to queue, since the pace varies and the error grows with the queue (the
// round-trip part of the timeout has its own margin, 4 × rttvar). Until a pace is known (a
// pipeline filling up), each message ahead counts as one round trip.
func (e *rtoEstimator) queueDelay(ahead int) time.Duration {
	per := e.svc
	if per == 0 {
		per = e.srtt
	}
	return min(2*time.Duration(ahead)*per, maxQueueDelay)
}

// sizeAllowance is what a message's first timeout adds for its size: the work that grows with
// the frame (encoding and signing it, libzmq's copies, the recipient's decoding and verifying,
// the same for the ACK's digest of it) at perByteAllowance, about twice the 1 MB crypto chain
// measured under load (9-27 ms for 1 MB, make bench's payload curve, 2026-12-07). The round trips
// the estimator learns are mostly small messages', so without it a 1 MB message was
// retransmitted although nothing was lost (6-10 of 10-32 under load), and Karn's rule takes no
// sample from a retransmitted message, so the estimator never learnt better. Negligible for
// ordinary messages: 0.1 ms at 2 KB.
func sizeAllowance(frameBytes int) time.Duration {
	return time.Duration(frameBytes) * perByteAllowance
}

// perByteAllowance is sizeAllowance's cost per byte of frame.
const perByteAllowance = 50 * time.Nanosecond

// maxQueueDelay bounds the queueing allowance, so a lost message in a deep pipeline is still
// retransmitted within seconds.
const maxQueueDelay = 5 * time.Second

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
