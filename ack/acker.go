package ack

import (
	"context"
	"sync/atomic"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

const (
	ackQueue      = 1024 // jobs waiting for a worker before Done blocks
	maxAckWorkers = 8
)

// ackJob is a worker's task: sign the ACK of id and send it, or (pre set, presign) sign it into
// pre only unless Done withdrew it, or (pre and send set) send what pre holds once it is signed.
type ackJob struct {
	id   string
	pre  *presigned
	send bool
}

// presigned is an ACK signed ahead of Done(nil). Whoever moves state from queued first owns
// the signing: a worker (to signing) signs it and closes ready once m, frame and err are set,
// nothing being written after that; Done (to withdrawn) takes it back while it still waits in
// the queue, and the worker then skips it. Dropped unsent, it is only garbage: nothing waits on
// ready but a Done(nil).
type presigned struct {
	state atomic.Int32
	ready chan struct{}
	m     *message.Message
	frame []byte
	err   error
}

const (
	preQueued int32 = iota
	preSigning
	preWithdrawn
)

// withdraw takes pre back from the queue before a worker started it; false once one did.
func (pre *presigned) withdraw() bool { return pre.state.CompareAndSwap(preQueued, preWithdrawn) }

// presign hands the signing of id's ACK to a worker, so that in AfterProcessing mode the
// signature is computed while the application processes the message: the ACK leaves
// max(processing, signing) after delivery instead of their sum. Only a verified message is
// presigned (the caller checks), and nothing is sent or recorded before Done(nil). It returns
// nil, and Done signs as it would without it, when the workers have a full queue or the
// Subscriber is closed.
func (s *Subscriber) presign(id string) *presigned {
	s.jmu.RLock()
	defer s.jmu.RUnlock()
	if s.jclosed {
		return nil
	}
	pre := &presigned{ready: make(chan struct{})}
	select {
	case s.jobs <- ackJob{id: id, pre: pre}:
		return pre
	default:
		return nil
	}
}

// queueAck sends the ACK for id, signed ahead in pre when pre is not nil. A pre still waiting
// in the queue is withdrawn, and the ACK is signed as without one (two jobs per message would
// halve the workers' parallelism in a burst); a signed pre is sent right here, and so is one a
// worker is signing when no message waits to be read (the wait is the rest of one signature,
// cheaper than a hand-off); otherwise a worker sends it once signed. Without pre, when no
// message is waiting to be read and no job is queued, it signs and sends right here: nothing
// else needs the time, and the ACK leaves without a hand-off. Otherwise a worker signs it, and
// the caller goes on to the next message. After Close it only records the ACK as not sent.
func (s *Subscriber) queueAck(id string, pre *presigned) {
	s.jmu.RLock()
	defer s.jmu.RUnlock()
	if s.jclosed {
		s.stats.ackErrors.Add(1)
		s.setState(id, stateFailed)
		s.log.Warn("ACK not sent: subscriber closed", "msg_id", id)
		return
	}
	if pre != nil && !pre.withdraw() {
		select {
		case <-pre.ready:
		default:
			if s.sub.Pending() {
				s.jobs <- ackJob{id: id, pre: pre, send: true}
				return
			}
			<-pre.ready
		}
		s.sendPresigned(context.Background(), id, pre)
		return
	}
	if len(s.jobs) == 0 && !s.sub.Pending() {
		s.ack(context.Background(), id)
		return
	}
	s.jobs <- ackJob{id: id}
}

func (s *Subscriber) ackWorker() {
	defer s.workers.Done()
	for j := range s.jobs {
		switch {
		case j.pre == nil:
			s.ack(context.Background(), j.id)
		case j.send:
			<-j.pre.ready
			s.sendPresigned(context.Background(), j.id, j.pre)
		case j.pre.state.CompareAndSwap(preQueued, preSigning):
			j.pre.m, j.pre.frame, j.pre.err = s.signAck(j.id)
			close(j.pre.ready)
		}
	}
}

// signAck builds, signs and encodes the ACK for id.
func (s *Subscriber) signAck(id string) (*message.Message, []byte, error) {
	m, err := s.pub.Build("ack", map[string]any{"ack_msg_id": id}, ackModname)
	if err != nil {
		return nil, nil, err
	}
	frame, err := m.Marshal()
	if err != nil {
		return nil, nil, err
	}
	return m, frame, nil
}

// ack signs and sends the ACK for id.
func (s *Subscriber) ack(ctx context.Context, id string) {
	m, frame, err := s.signAck(id)
	s.sendAck(ctx, id, m, frame, err)
}

// sendPresigned sends pre, once ready, as id's ACK; an ACK that could not be signed ahead is
// signed again here (the error may have been passing).
func (s *Subscriber) sendPresigned(ctx context.Context, id string, pre *presigned) {
	if pre.err != nil {
		s.ack(ctx, id)
		return
	}
	s.sendAck(ctx, id, pre.m, pre.frame, nil)
}

// sendAck sends the signed ACK m (encoded as frame) for id, or reports err, the failure to sign
// it. The frame is remembered, the state set to acked and the ACK counted before it is sent, so
// a retransmission that the publisher sends as soon as it has this ACK is re-ACKed, never
// mistaken for one still being processed; a failed send undoes them.
func (s *Subscriber) sendAck(ctx context.Context, id string, m *message.Message, frame []byte, err error) {
	if err == nil {
		s.mu.Lock()
		e := s.seen.put(id, stateAcked)
		e.ack = frame
		s.mu.Unlock()
		s.stats.acked.Add(1) // before the send too: whoever sees the ACK sees it counted
		if err = s.pub.SendRaw(ctx, m.Topic(), frame); err != nil {
			s.stats.acked.Add(^uint64(0))
		}
	}
	if err != nil {
		// The publisher will retransmit and we will ACK again.
		s.stats.ackErrors.Add(1)
		s.setState(id, stateFailed)
		s.log.Warn("ACK not sent", "msg_id", id, "error", err)
		return
	}
	s.log.Debug("ACK sent", "msg_id", id)
}

// ackModname puts ACKs on the gilmsg ACK topic whichever publisher sends them.
var ackModname = publisher.Modname("gilmsg")
