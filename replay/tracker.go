package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// FieldSeqID is the envelope field holding the seq_id.
const FieldSeqID = "seq_id"

// MaxSeq is the upper bound of an open-ended catch-up query (the largest integer every JSON
// peer reads exactly).
const MaxSeq = 1<<53 - 1

// SeqID returns the envelope's seq_id, and whether it has one that is a positive integer.
func SeqID(m *message.Message) (int64, bool) {
	v, ok := m.Get(FieldSeqID)
	if !ok {
		return 0, false
	}
	n, ok := asInt(v)
	return n, ok && n > 0
}

// Verdict is what a Tracker says about a live message.
type Verdict int

const (
	// Untracked: the publisher name has no replay endpoint, or the message no seq_id: deliver.
	Untracked Verdict = iota
	// InOrder: the next seq_id, or the first one seen of this name: deliver.
	InOrder
	// Duplicate: a seq_id already delivered: drop it (a message carrying the ACK marker is
	// delivered anyway: the ACK layer de-duplicates it by msg_id and re-ACKs it).
	Duplicate
	// Gap: seq_ids are missing before this one: fetch them, then deliver.
	Gap
	// Reset: seq_id 1 after higher ones, and not the seq_id 1 this Tracker delivered (another
	// msg_id): the publisher's history started again; deliver.
	Reset
)

// TrackerStats are a Tracker's counters.
type TrackerStats struct {
	Gaps          uint64 // gaps seen in live traffic (and catch-ups at start that found messages missed)
	Recovered     uint64 // messages delivered from replay replies
	Unrecoverable uint64 // seq_ids given up: beyond retention, invalid, endpoint down
	Lost          uint64 // gaps (or parts of gaps) given up, each logged with its size
	Queries       uint64 // replay queries sent
	QueryErrors   uint64 // of them, failed (timeout, transport, unexpected error reply)
	Duplicates    uint64 // live messages dropped as already delivered
	Resets        uint64 // sequences that started again at 1
}

// Tracker follows the seq_ids of the publishers that have a replay endpoint, per publisher
// name (the endpoints key a message arrived under, as fedmsg does), and fetches what is missing.
// It is used by one reading goroutine; Stats may be read from any.
type Tracker struct {
	endpoints map[string]string
	client    *Client
	limit     int
	log       *slog.Logger
	state     *stateFile

	fromStart bool
	explicit  bool

	smu sync.Mutex // serialises state file writes, so an older snapshot never replaces a newer one

	mu    sync.Mutex
	last  map[string]int64  // highest seq_id delivered, per name
	first map[string]string // msg_id of the seq_id 1 delivered, per name (tells a reset from a late copy)
	done  map[string]int64  // highest seq_id finished with every one before it: what the state records
	open  map[string][]mark // seq_ids delivered and not yet in done, in delivery order (ExplicitFinish)

	gaps, recovered, unrecoverable, lost, queries, queryErrs, dups, resets atomic.Uint64
}

// TrackerConfig configures NewTracker.
type TrackerConfig struct {
	// Endpoints maps publisher names to replay endpoint addresses (replay_endpoints).
	Endpoints map[string]string
	// Client sends the queries.
	Client *Client
	// PageSize is the number of seq_ids a fallback seq_ids query lists (for endpoints that
	// cannot answer seq_id_range, such as fedmsg's SqlStore). Default 1000.
	PageSize int
	// StatePath, when set, is the state file: read now, written by Commit and Close.
	StatePath string
	// FromStart makes Resume list every watched name the state does not know with seq_id 0,
	// so a new consumer first fetches each publisher's whole retained history.
	FromStart bool
	// ExplicitFinish makes the state record a delivered seq_id only once Finished was called
	// for it and for every seq_id delivered before it (a hub: its consumers finish messages
	// after the next ones were read, in any order). Without it a seq_id counts as finished
	// when delivered: the caller commits once it asks for the next message.
	ExplicitFinish bool
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// mark is one delivered seq_id waiting for Finished.
type mark struct {
	seq      int64
	finished bool
}

// NewTracker reads the state file, when there is one.
func NewTracker(c TrackerConfig) (*Tracker, error) {
	t := &Tracker{endpoints: c.Endpoints, client: c.Client, limit: c.PageSize, log: c.Logger, explicit: c.ExplicitFinish,
		last: map[string]int64{}, first: map[string]string{}, done: map[string]int64{}, open: map[string][]mark{}}
	if t.limit <= 0 {
		t.limit = 1000
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if c.StatePath != "" {
		st, last, err := openState(c.StatePath)
		if err != nil {
			return nil, err
		}
		t.state, t.last = st, last
		for k, v := range last {
			t.done[k] = v
		}
	}
	t.fromStart = c.FromStart
	return t, nil
}

// Watched reports whether messages arriving under name are tracked.
func (t *Tracker) Watched(name string) bool {
	_, ok := t.endpoints[name]
	return ok
}

// Resume lists the names the state file knows, with their last seq_id, that have a replay
// endpoint (and with FromStart every other watched name, at 0): what a consumer should catch
// up on at start.
func (t *Tracker) Resume() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int64{}
	for n, s := range t.last {
		if t.Watched(n) {
			out[n] = s
		}
	}
	if t.fromStart {
		for n := range t.endpoints {
			if _, ok := out[n]; !ok {
				out[n] = 0
			}
		}
	}
	return out
}

// Last is the highest seq_id delivered from name, and whether one was.
func (t *Tracker) Last(name string) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.last[name]
	return n, ok
}

// Check classifies a live message with seq_id seq and msg_id msgID from name.
//
// A seq_id 1 at or below the last one is a reset only when it is another message than the seq_id
// 1 delivered: at the start of a catch-up the replay reply and the live copies of the same
// first messages race (the live ones sit in the socket while the reply is fetched), and the
// late live copy of seq_id 1 is a duplicate like the others.
func (t *Tracker) Check(name string, seq int64, msgID string) Verdict {
	if !t.Watched(name) || seq <= 0 {
		return Untracked
	}
	t.mu.Lock()
	last, ok := t.last[name]
	firstID, known := t.first[name]
	t.mu.Unlock()
	if !ok && t.fromStart {
		// Resume listed it at 0: its whole history is wanted. A catch-up that found nothing yet
		// (asked before the publisher's first message) leaves it unknown, and the first live
		// message, seq_id 43 say, is a gap of 1..42, not the start of the sequence.
		last, ok = 0, true
	}
	switch {
	case !ok || seq == last+1:
		return InOrder
	case seq <= last && seq == 1 && !(known && firstID == msgID):
		return Reset
	case seq <= last:
		t.dups.Add(1)
		return Duplicate
	default:
		t.gaps.Add(1)
		return Gap
	}
}

// Delivered records that seq (msg_id msgID) from name was handed to the application. With
// ExplicitFinish the state records it once Finished says so; otherwise at once.
func (t *Tracker) Delivered(name string, seq int64, msgID string, replayed bool) {
	t.mu.Lock()
	if last, ok := t.last[name]; !ok || seq > last || seq == 1 {
		if ok && seq == 1 && last >= 1 {
			t.resets.Add(1)
			t.log.Warn("replay: the seq_ids of a publisher started again at 1 (its history was reset?)",
				"name", name, "previous_seq_id", last)
		}
		t.last[name] = seq
		if seq == 1 {
			t.first[name] = msgID
		}
		t.advance(name, seq, !t.explicit)
	}
	t.mu.Unlock()
	if replayed {
		t.recovered.Add(1)
	}
}

// Finished records that the application finished seq from name (delivered before). The state
// moves up to the highest seq_id of name finished with every one delivered before it. A seq_id
// not waiting (finished already, or never delivered as new) changes nothing.
func (t *Tracker) Finished(name string, seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.open[name]
	for i := range q {
		if q[i].seq == seq && !q[i].finished {
			q[i].finished = true
			break
		}
	}
	t.settle(name)
}

// advance appends seq to name's delivered seq_ids; t.mu is held.
func (t *Tracker) advance(name string, seq int64, finished bool) {
	t.open[name] = append(t.open[name], mark{seq: seq, finished: finished})
	t.settle(name)
}

// settle moves done past the finished seq_ids at the head of name's queue; t.mu is held.
func (t *Tracker) settle(name string) {
	q := t.open[name]
	n := 0
	for n < len(q) && q[n].finished {
		t.done[name] = q[n].seq
		n++
	}
	if n == len(q) {
		delete(t.open, name)
		return
	}
	t.open[name] = q[n:]
}

// GiveUp records that seq_ids from..to of name are not recoverable, counts and logs them, and
// moves past them.
func (t *Tracker) GiveUp(name string, from, to int64, why string) {
	if to < from {
		return
	}
	n := uint64(to - from + 1)
	t.unrecoverable.Add(n)
	t.lost.Add(1)
	t.log.Error("replay: messages missed and not recoverable", "name", name, "gap", n, "from_seq_id", from, "to_seq_id", to, "why", why)
	t.mu.Lock()
	if last, ok := t.last[name]; !ok || to > last {
		t.last[name] = to
		t.advance(name, to, true)
	}
	t.mu.Unlock()
}

// CountGap counts a gap found at start (a catch-up that found messages).
func (t *Tracker) CountGap() { t.gaps.Add(1) }

// Replayed is one envelope of a replay reply.
type Replayed struct {
	Seq int64
	Msg *message.Message
	Raw []byte
}

// Fetch asks name's replay endpoint for seq_ids from..to (to = MaxSeq for "everything after
// from"), splitting the range when the endpoint says a reply would be too big, and returns the
// envelopes in seq_id order, each once. Envelopes that do not decode, or whose seq_id is
// missing or outside the range, are counted as unrecoverable and left out. An error means the
// endpoint could not be asked (down, timeout) or refused in an unexpected way; what was
// fetched before it is returned with it.
func (t *Tracker) Fetch(ctx context.Context, name string, from, to int64) ([]Replayed, error) {
	addr, ok := t.endpoints[name]
	if !ok {
		return nil, fmt.Errorf("replay: no replay endpoint for %q", name)
	}
	byseq := map[int64]Replayed{}
	err := t.fetch(ctx, addr, from, to, byseq, 0)
	out := make([]Replayed, 0, len(byseq))
	for _, r := range byseq {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, err
}

func (t *Tracker) fetch(ctx context.Context, addr string, from, to int64, into map[int64]Replayed, depth int) error {
	if depth > 128 {
		return errors.New("replay: range splitting went too deep")
	}
	t.queries.Add(1)
	frames, err := t.client.Fetch(ctx, addr, Range(from, to))
	var re *ReplyError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.NoMatch():
		return nil
	case errors.As(err, &re) && re.TooMany() && from < to:
		mid := from + (to-from)/2
		if err := t.fetch(ctx, addr, from, mid, into, depth+1); err != nil {
			return err
		}
		return t.fetch(ctx, addr, mid+1, to, into, depth+1)
	case errors.As(err, &re):
		// An endpoint that cannot answer seq_id_range (fedmsg's SqlStore always fails it):
		// list the seq_ids instead, a page at a time; an open-ended range ends at the first
		// page with nothing in it.
		for lo := from; lo <= to; {
			hi := min(to, lo+int64(t.limit)-1)
			ids := make([]int64, 0, hi-lo+1)
			for n := lo; n <= hi; n++ {
				ids = append(ids, n)
			}
			t.queries.Add(1)
			page, err := t.client.Fetch(ctx, addr, Query{SeqIDs: ids})
			if errors.As(err, &re) && re.NoMatch() {
				if to == MaxSeq {
					break
				}
			} else if err != nil {
				t.queryErrs.Add(1)
				return err
			}
			frames = append(frames, page...)
			if hi == to {
				break
			}
			lo = hi + 1
		}
	default:
		t.queryErrs.Add(1)
		return err
	}
	for _, f := range frames {
		m, err := message.Decode(f)
		if err != nil {
			t.log.Warn("replay: a replayed frame is not an envelope", "addr", addr, "error", err)
			continue
		}
		seq, ok := SeqID(m)
		if !ok || seq < from || seq > to {
			t.log.Warn("replay: a replayed envelope has no seq_id in the range asked", "addr", addr, "msg_id", m.MsgID(), "from", from, "to", to)
			continue
		}
		into[seq] = Replayed{Seq: seq, Msg: m, Raw: f}
	}
	return nil
}

// Commit writes the state file (when there is one) if what is finished changed and at least
// interval passed since the last write; Close forces it. It may be called from any goroutine.
func (t *Tracker) Commit(interval time.Duration) error {
	if t.state == nil {
		return nil
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	t.mu.Lock()
	snap := maps.Clone(t.done)
	t.mu.Unlock()
	return t.state.save(snap, interval)
}

// Close writes the state file a last time and closes it, leaving it one line long.
func (t *Tracker) Close() error {
	err := t.Commit(0)
	if t.state == nil {
		return err
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	return errors.Join(err, t.state.close())
}

// Stats returns the counters.
func (t *Tracker) Stats() TrackerStats {
	return TrackerStats{Gaps: t.gaps.Load(), Recovered: t.recovered.Load(), Unrecoverable: t.unrecoverable.Load(),
		Lost: t.lost.Load(), Queries: t.queries.Load(), QueryErrors: t.queryErrs.Load(), Duplicates: t.dups.Load(),
		Resets: t.resets.Load()}
}

// Addr is the replay endpoint of name.
func (t *Tracker) Addr(name string) string { return t.endpoints[name] }
