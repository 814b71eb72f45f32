package ack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

// maxVerifiers bounds the goroutines that verify ACKs.
const maxVerifiers = 4

// listen reads ACKs and counts them, until the listener is closed. One ACK at a time is verified
// right here, with no hand-off; when several are already waiting (many recipients answering at
// once) the others go to the verify goroutines, so their checks use every core.
func (p *Publisher) listen(verifiers int) {
	defer p.wg.Done()
	var work chan zsock.Inbound
	if verifiers > 0 {
		work = make(chan zsock.Inbound, 64)
		var vwg sync.WaitGroup
		vwg.Add(verifiers)
		for range verifiers {
			go func() {
				defer vwg.Done()
				for in := range work {
					p.handleAck(in)
				}
			}()
		}
		defer vwg.Wait()
		defer close(work)
	}
	for {
		in, err := p.listener.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, zsock.ErrClosed) {
				p.log.Error("ACK listener stopped", "error", err)
			}
			return
		}
		for work != nil {
			more, ok := p.listener.TryRecv()
			if !ok {
				break
			}
			work <- more
		}
		p.handleAck(in)
	}
}

// handleAck counts a verified ACK from a recipient that is still missing.
func (p *Publisher) handleAck(in zsock.Inbound) {
	p.stats.acksReceived.Add(1)
	reject := func(reason string, err error) {
		p.rejects.Warn(reason, "ACK not counted", "endpoint", in.Endpoint.Name, "error", err)
	}
	if p.notWaitedFor(in.Frames) {
		p.stats.acksSkipped.Add(1)
		p.stats.acksOther.Add(1)
		return
	}
	p.stats.acksDecoded.Add(1)
	id, m, reason, err := parseAck(in.Frames, p.ackTopic, p.cfg.MaxFrameSize)
	if err != nil {
		reject(reason, err)
		return
	}
	p.mu.Lock()
	w := p.waiters[id]
	p.mu.Unlock()
	if w == nil {
		p.stats.acksOther.Add(1) // another publisher's message, or one already finished
		return
	}
	p.stats.acksVerified.Add(1)
	who, err := p.verifier.Verify(m)
	if err != nil {
		reject(rejectReason(err), fmt.Errorf("ACK for %s: %w", id, err))
		return
	}
	if cn, ok := p.count(w, who); ok && w.onAck != nil {
		w.onAck(cn)
	}
}

// notWaitedFor reports whether an ACK frame can be dropped unread: it is on the ACK topic (frame
// 1; anything else is left to parseAck to reject) and either nothing waits here for ACKs, or the
// msg_id its envelope names (found without decoding it, see peekAckID) is not waiting. On a bus
// where many consumers ACK many publishers' messages, most ACKs a listener hears are for
// someone else; they cost a map lookup instead of a JSON decode.
func (p *Publisher) notWaitedFor(frames [][]byte) bool {
	if len(frames) != 2 || string(frames[0]) != p.ackTopic {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) == 0 {
		return true
	}
	id, ok := peekAckID(frames[1])
	if !ok {
		return false
	}
	_, waiting := p.waiters[id]
	return !waiting
}

// count records who's verified ACK for w and reports whether it counted (who was missing).
func (p *Publisher) count(w *waiter, who *certs.Identity) (string, bool) {
	id := w.msg.MsgID()
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.index < 0 {
		p.stats.acksOther.Add(1) // finished while we verified
		return "", false
	}
	if _, missing := w.missing[who.CN]; !missing {
		if slices.Contains(w.acked, who.CN) {
			p.stats.acksDuplicate.Add(1)
		} else {
			// Every subscriber ACKs every marked message it gets (gilmsg's rule), so a genuine
			// ACK from a trusted certificate that is not a recipient is ordinary traffic (a
			// bridge ACKs the messages it brings to the bus itself, an ackmsg-tail --ack ACKs
			// messages meant for others): counted, not logged at warn level. A recipient
			// misnamed in To shows where it matters, in the TimeoutError's Others.
			p.rejects.Count("not_recipient")
			p.log.Debug("ACK not counted: signer is not a recipient", "msg_id", id, "signer", who.CN)
			if len(w.others) < maxOthers && !slices.Contains(w.others, who.CN) {
				w.others = append(w.others, who.CN)
			}
		}
		return "", false
	}
	delete(w.missing, who.CN)
	w.acked = append(w.acked, who.CN)
	p.stats.acksCounted.Add(1)
	if w.attempts == 1 && !w.sent.IsZero() {
		p.est.sample(max(now.Sub(w.sent)-w.queued, 0)) // the round trip, not the queueing
	}
	if len(w.missing) == 0 {
		p.finishLocked(w, nil, nil, now)
	}
	return who.CN, true
}

// parseAck checks the shape of an ACK, without its signature: two frames, frame 1 and the
// envelope's topic equal to ackTopic, frame 2 at most maxFrame bytes (0: no limit) and a JSON
// envelope whose body has a string ack_msg_id. It returns that msg_id and the envelope, or the
// reason (a Stats.AcksRejected key) and the error.
func parseAck(frames [][]byte, ackTopic string, maxFrame int) (id string, m *message.Message, reason string, err error) {
	if len(frames) != 2 {
		return "", nil, "frames", fmt.Errorf("%d frames", len(frames))
	}
	if string(frames[0]) != ackTopic {
		return "", nil, "topic", fmt.Errorf("topic %q is not %q", frames[0], ackTopic)
	}
	if maxFrame > 0 && len(frames[1]) > maxFrame {
		return "", nil, "oversize", fmt.Errorf("%d bytes", len(frames[1]))
	}
	m, err = message.Decode(frames[1])
	if err != nil {
		return "", nil, "envelope", err
	}
	if m.Topic() != ackTopic {
		return "", nil, "topic", fmt.Errorf("envelope topic %q is not %q", m.Topic(), ackTopic)
	}
	body, _ := m.Body().(map[string]any)
	id, ok := body["ack_msg_id"].(string)
	if !ok {
		return "", nil, "body", errors.New(`body has no string "ack_msg_id"`)
	}
	return id, m, "", nil
}

func rejectReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{certs.ErrUnsigned, "unsigned"}, {certs.ErrCrypto, "crypto"}, {certs.ErrEncoding, "encoding"},
		{certs.ErrUntrusted, "untrusted"}, {certs.ErrExpired, "expired"}, {certs.ErrRevoked, "revoked"},
		{certs.ErrCRL, "crl"}, {certs.ErrSignature, "tampered"}, {certs.ErrPolicy, "policy"},
		{certs.ErrSigner, "signer"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "invalid"
}
