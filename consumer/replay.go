package consumer

import (
	"context"
	"fmt"
	"strings"

	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/replay"
)

type pendingDelivery struct {
	d    Delivery
	name string
	seq  int64
	// skip: a replayed message outside this Subscriber's topic prefixes: it advances the
	// sequence without being delivered.
	skip bool
	// lost, when set, is a range of seq_ids given up on, recorded when its turn comes (so the
	// state never moves past a message still waiting here).
	lost *lostRange
}

type lostRange struct {
	from, to int64
	why      string
}

// openReplay sets up gap detection when replay_endpoints names a publisher this Subscriber
// hears (an endpoints key it connects to), or when a state file is configured.
func (s *Subscriber) openReplay(prefixes []string) error {
	if s.noReplay || len(s.cfg.Replay.Endpoints) == 0 {
		return nil
	}
	watched := map[string]string{}
	for _, e := range s.endpoints {
		if a := s.cfg.Replay.Endpoints[e.Name]; a != "" {
			watched[e.Name] = a
		}
	}
	if len(watched) == 0 {
		return nil
	}
	c, err := replay.NewClient(s.cfg.Transport, s.cfg.Replay.Timeout)
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	t, err := replay.NewTracker(replay.TrackerConfig{Endpoints: watched, Client: c, StatePath: s.cfg.Replay.StatePath,
		PageSize: s.cfg.Replay.PageSize, Logger: s.log, FromStart: s.fromStart, ExplicitFinish: s.explicit})
	if err != nil {
		c.Close()
		return fmt.Errorf("consumer: %w", err)
	}
	s.tracker, s.rclient, s.prefixes = t, c, prefixes
	return nil
}

// commitState writes the state file when what is finished changed: at every Next (the message
// handed out before is finished), and with explicit finishing at every finish. A write is a
// line appended to the file (replay.BenchmarkStateCommit: a few µs; docs/replay.md), so a
// consumer killed (-9) delivers again at most the message it was processing.
func (s *Subscriber) commitState() {
	if s.tracker == nil {
		return
	}
	if err := s.tracker.Commit(0); err != nil {
		s.drops.Warn("state", "cannot write the replay state file", "error", err.Error())
	}
}

// handOut records that d (seq_id seq of name) goes to the application, and with explicit
// finishing gives it the way to say it was finished.
func (s *Subscriber) handOut(d *Delivery, name string, seq int64, replayed bool) {
	s.tracker.Delivered(name, seq, d.Message.MsgID(), replayed)
	if s.explicit {
		d.finish = func() {
			s.tracker.Finished(name, seq)
			s.commitState()
		}
	}
}

func (s *Subscriber) popPending() (Delivery, bool) {
	defer func() { s.queued.Store(int64(len(s.pending))) }()
	for len(s.pending) > 0 {
		p := s.pending[0]
		s.pending[0] = pendingDelivery{}
		s.pending = s.pending[1:]
		if p.lost != nil {
			s.tracker.GiveUp(p.name, p.lost.from, p.lost.to, p.lost.why)
			continue
		}
		if p.skip {
			s.tracker.Delivered(p.name, p.seq, p.d.Message.MsgID(), false)
			s.tracker.Finished(p.name, p.seq)
			continue
		}
		s.handOut(&p.d, p.name, p.seq, p.d.Replayed)
		s.delivered.Add(1)
		return p.d, true
	}
	return Delivery{}, false
}

// resume catches up, at the first Next, on every publisher the state file knows: everything
// after the last seq_id delivered before the restart.
func (s *Subscriber) resume(ctx context.Context) {
	todo := s.tracker.Resume()
	if len(todo) == 0 {
		return
	}
	// Ask once the subscription is (probably) in place, so that what is published after the
	// reply arrives live; anything that falls between is a gap the next live message reveals.
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Replay.Timeout)
	_ = s.sub.WaitSettled(wctx)
	cancel()
	for name, last := range todo {
		fetched := s.fill(ctx, name, last+1, replay.MaxSeq)
		if fetched > 0 {
			s.tracker.CountGap()
		}
		s.log.Info("replay: caught up after restart", "name", name, "after_seq_id", last, "fetched", fetched)
	}
}

// sequence applies gap detection to a live message; false means drop it.
func (s *Subscriber) sequence(ctx context.Context, d *Delivery) bool {
	seq, ok := replay.SeqID(d.Message)
	if !ok {
		return true
	}
	name := d.EndpointName
	switch s.tracker.Check(name, seq, d.Message.MsgID()) {
	case replay.Untracked:
		return true
	case replay.Duplicate:
		// Acked messages go on: the ACK layer re-ACKs a retransmission it already delivered.
		return d.Message.Has(message.FieldGilmsgVersion)
	case replay.Gap:
		last, _ := s.tracker.Last(name)
		fetched := s.fill(ctx, name, last+1, seq-1)
		s.log.Info("replay: gap in seq_ids filled from the replay endpoint", "name", name,
			"gap", seq-1-last, "from_seq_id", last+1, "to_seq_id", seq-1, "fetched", fetched)
		s.pending = append(s.pending, pendingDelivery{d: *d, name: name, seq: seq})
		s.queued.Store(int64(len(s.pending)))
		return false
	default:
		s.handOut(d, name, seq, false)
		return true
	}
}

// fill fetches seq_ids from..to of name and queues them, validated like live messages, in
// order, and returns how many it queued. What cannot be fetched is given up on (counted, logged with its size), except at the
// open end of a catch-up (to == replay.MaxSeq), where a missing tail is simply not published
// yet.
func (s *Subscriber) fill(ctx context.Context, name string, from, to int64) (fetched int) {
	recs, err := s.tracker.Fetch(ctx, name, from, to)
	open := to == replay.MaxSeq
	why := "not in the publisher's history (beyond its retention?)"
	if err != nil {
		why = err.Error()
		s.drops.Warn("replay", "replay query failed", "endpoint", name, "error", why)
	}
	next := from
	for _, r := range recs {
		if r.Seq > next {
			s.giveUp(name, next, r.Seq-1, "not in the publisher's history (beyond its retention?)")
		}
		next = r.Seq + 1
		in := zsock.Inbound{Frames: [][]byte{[]byte(r.Msg.Topic()), r.Raw}, Endpoint: zsock.Endpoint{Name: name, Addr: s.tracker.Addr(name)}}
		d, reason, err := s.accept(in)
		if err != nil {
			s.drop(reason, in.Endpoint, fmt.Errorf("replayed seq_id %d: %w", r.Seq, err))
			s.giveUp(name, r.Seq, r.Seq, "the replayed message is invalid: "+err.Error())
			continue
		}
		d.Replayed = true
		s.pending = append(s.pending, pendingDelivery{d: d, name: name, seq: r.Seq, skip: !s.wants(d.Topic)})
		fetched++
	}
	if !open && next <= to {
		s.giveUp(name, next, to, why)
	}
	s.queued.Store(int64(len(s.pending)))
	return fetched
}

// giveUp queues seq_ids from..to of name as lost, behind the messages queued before them.
func (s *Subscriber) giveUp(name string, from, to int64, why string) {
	s.pending = append(s.pending, pendingDelivery{name: name, lost: &lostRange{from: from, to: to, why: why}})
}

// wants reports whether topic passes the subscription's prefixes.
func (s *Subscriber) wants(topic string) bool {
	if len(s.prefixes) == 0 {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}
