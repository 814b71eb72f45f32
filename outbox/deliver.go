package outbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/ack"
)

// pollInterval is how often a deliverer looks for due messages when no notification came: the
// upper bound on the delay a lost notification, or a retry coming due, adds.
const pollInterval = time.Second

// Deliverer takes due messages from a Store and delivers them through an ack.Publisher until
// every recipient ACKed (the record then leaves the store), or they expire into the dead
// letters. Per-recipient progress is persisted as each ACK arrives, so after a restart only the
// recipients still missing are waited for. Several deliverers may share a store that allows it
// (PostgreSQL): claims keep a message in flight from one of them at a time.
type Deliverer struct {
	store Store
	pub   *ack.Publisher
	cfg   DelivererConfig
	now   func() time.Time
	delivererOptions

	// Per-recipient progress, persisted in order by one goroutine. An ACK may be counted just
	// after its attempt finished (ack.Deliver says so): after Run, notes are dropped, as the
	// attempt's outcome recorded them.
	amu        sync.RWMutex
	acks       chan ackNote
	acksClosed bool
}

type ackNote struct{ msgID, recipient string }

// DelivererOption configures a Deliverer.
type DelivererOption func(*delivererOptions)

// delivererOptions are what DelivererOptions set; a Deliverer embeds them.
type delivererOptions struct {
	log     *slog.Logger
	metrics *Metrics
	owner   string
	onDone  func(*Record)
}

// WithDelivererLogger sets the logger. Default: slog.Default().
func WithDelivererLogger(l *slog.Logger) DelivererOption {
	return func(d *delivererOptions) { d.log = l }
}

// WithDelivererMetrics records delivery figures in m.
func WithDelivererMetrics(m *Metrics) DelivererOption {
	return func(d *delivererOptions) { d.metrics = m }
}

// WithOnDelivered calls f (from the deliverer's goroutines: keep it short) after each message is
// delivered, that is once every recipient's ACK is persisted and the record left the store.
func WithOnDelivered(f func(*Record)) DelivererOption {
	return func(d *delivererOptions) { d.onDone = f }
}

// WithOwner sets the name this deliverer claims messages as (unique per deliverer). Default:
// hostname, pid and a random suffix.
func WithOwner(name string) DelivererOption { return func(d *delivererOptions) { d.owner = name } }

// NewDeliverer prepares a deliverer for store, sending through pub, with the attempt, retry,
// lease and in-flight settings of cfg (zero fields take their defaults).
func NewDeliverer(store Store, pub *ack.Publisher, cfg DelivererConfig, opts ...DelivererOption) *Deliverer {
	def := DefaultDelivererConfig()
	cfg.AttemptTimeout = cmp.Or(cfg.AttemptTimeout, def.AttemptTimeout)
	cfg.RetryMax = cmp.Or(cfg.RetryMax, def.RetryMax)
	cfg.ClaimLease = cmp.Or(cfg.ClaimLease, def.ClaimLease)
	d := &Deliverer{store: store, pub: pub, cfg: cfg, now: time.Now}
	for _, o := range opts {
		o(&d.delivererOptions)
	}
	d.log = cmp.Or(d.log, slog.Default())
	if d.owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		d.owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if d.cfg.MaxInFlight < 1 {
		d.cfg.MaxInFlight = DefaultMaxInFlight
	}
	return d
}

// Owner is the name the deliverer claims messages as.
func (d *Deliverer) Owner() string { return d.owner }

// Run delivers until ctx ends, then cancels the attempts in flight, releases their claims (the
// messages are due again at once, for the next deliverer or the next start), persists the
// progress they made and returns nil. It returns early only when the store fails to claim
// (closed, unreachable) for longer than one claim lease.
func (d *Deliverer) Run(ctx context.Context) error {
	// The attempts end with ctx, at once: one that is starting (waiting for the relay to
	// subscribe, up to attempt_timeout) holds up the loop, which would notice ctx only after it.
	attemptCtx, cancelAttempts := context.WithCancel(ctx)
	defer cancelAttempts()
	stopPersisting, err := d.persisting()
	if err != nil {
		return err
	}
	fl := &inFlight{ctx: attemptCtx, slots: make(chan struct{}, d.cfg.MaxInFlight), freed: make(chan struct{}, 1)}
	defer func() {
		cancelAttempts()
		fl.wg.Wait()
		stopPersisting()
	}()

	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var failingSince time.Time
	lease := d.cfg.ClaimLease
	d.log.Info("deliverer running", "owner", d.owner, "max_in_flight", d.cfg.MaxInFlight)
	for {
		if ctx.Err() != nil {
			return nil
		}
		free := cap(fl.slots) - len(fl.slots)
		var recs []*Record
		if free > 0 {
			recs, err = d.store.Claim(ctx, d.owner, d.now(), lease, free)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case err != nil:
				if failingSince.IsZero() {
					failingSince = time.Now()
				}
				d.log.Error("claiming messages failed", "error", err)
				if errors.Is(err, ErrClosed) || time.Since(failingSince) > lease {
					return fmt.Errorf("outbox: deliverer: %w", err)
				}
			default:
				failingSince = time.Time{}
			}
		}
		d.launch(ctx, fl, recs)
		if len(recs) > 0 && len(recs) == free {
			continue // there may be more due right now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.store.Changed():
		case <-fl.freed:
		case <-poll.C:
		}
	}
}

// persisting starts the goroutine that persists per-recipient progress; stop closes its queue
// and waits until what was queued is written.
func (d *Deliverer) persisting() (stop func(), err error) {
	d.amu.Lock()
	if d.acks != nil {
		d.amu.Unlock()
		return nil, errors.New("outbox: Deliverer.Run called twice")
	}
	d.acks = make(chan ackNote, 4096)
	d.amu.Unlock()
	var persist sync.WaitGroup
	persist.Add(1)
	go func() {
		defer persist.Done()
		d.persistAcks()
	}()
	return func() {
		d.amu.Lock()
		d.acksClosed = true
		close(d.acks)
		d.amu.Unlock()
		persist.Wait()
	}, nil
}

// inFlight is Run's attempts under way: one slot each (MaxInFlight in all), freed signalled as
// one ends, wg waited for before Run returns.
type inFlight struct {
	ctx   context.Context // the attempts' context: Run's, cancelled when Run returns
	slots chan struct{}
	freed chan struct{}
	wg    sync.WaitGroup
}

// launch starts an attempt at each of recs, in claim order, each in a slot of fl; once ctx has
// ended, the records left are released unstarted.
func (d *Deliverer) launch(ctx context.Context, fl *inFlight, recs []*Record) {
	for _, r := range recs {
		if ctx.Err() != nil {
			// Claimed but not started: make it due again for whoever runs next.
			d.release(r, d.now(), "deliverer stopped before the attempt")
			continue
		}
		fl.slots <- struct{}{}
		fl.wg.Add(1)
		// The first send happens here, in claim order, so messages of one topic leave in
		// enqueue order; only the wait for ACKs runs concurrently.
		fut, err := d.start(fl.ctx, r)
		go func() {
			defer fl.wg.Done()
			defer func() {
				<-fl.slots
				select {
				case fl.freed <- struct{}{}:
				default:
				}
			}()
			d.finish(r, fut, err)
		}()
	}
}

// start begins one attempt at r: Kill it when expired, else send it to the recipients still
// missing. A nil Future with a nil error means r was handled without an attempt.
func (d *Deliverer) start(ctx context.Context, r *Record) (*ack.Future, error) {
	now := d.now()
	missing := r.Missing()
	if len(missing) == 0 {
		return nil, nil // every ACK is in: finish removes it
	}
	if !now.Before(r.Expires) {
		return nil, errExpired
	}
	within := min(d.cfg.AttemptTimeout, r.Expires.Sub(now))
	id := r.MsgID
	d.log.Debug("delivery attempt", "msg_id", id, "missing", strings.Join(missing, ","), "within", within)
	return d.pub.Deliver(ctx, r.MsgID, r.Topic, r.Envelope, missing, within, func(who string) { d.note(id, who) })
}

var errExpired = errors.New("expired")

// finish waits for the attempt and records its outcome in the store.
func (d *Deliverer) finish(r *Record, fut *ack.Future, err error) {
	if err == nil && fut != nil {
		<-fut.Finished()
		err = fut.Err()
		if d.metrics != nil {
			d.metrics.attempt(fut.Attempts() - 1)
		}
	}
	var acked []string
	if fut != nil {
		acked = fut.Acked()
	}
	ctx := context.Background()
	var te *ack.TimeoutError
	switch {
	case err == nil:
		done, merr := d.store.MarkAcked(ctx, r.MsgID, acked...)
		if errors.Is(merr, ErrNotFound) {
			done, merr = true, nil // the progress writer completed it first
		}
		if merr != nil {
			d.log.Error("delivered, but the store did not record it: it will be sent again", "msg_id", r.MsgID, "error", merr)
			return
		}
		if !done {
			d.release(r, d.now(), "")
			return
		}
		d.delivered(r)
	case errors.Is(err, errExpired):
		d.expire(r, r.Missing())
	case errors.As(err, &te):
		if len(acked) > 0 {
			if _, merr := d.store.MarkAcked(ctx, r.MsgID, acked...); merr != nil && !errors.Is(merr, ErrNotFound) {
				d.log.Error("recording ACKs failed", "msg_id", r.MsgID, "error", merr)
			}
		}
		if te.Cause != nil { // our shutdown: due again at once
			d.release(r, d.now(), "deliverer stopped during the attempt")
			return
		}
		now := d.now()
		if !now.Before(r.Expires) {
			d.expire(r, te.Missing)
			return
		}
		d.release(r, now.Add(d.backoff(r.Attempts)), fmt.Sprintf("missing %s after %d sends", strings.Join(te.Missing, ", "), te.Attempts))
	case errors.Is(err, ack.ErrClosed):
		d.release(r, d.now(), "publisher closed during the attempt")
	case errors.Is(err, context.Canceled): // only Run cancels an attempt: our shutdown
		d.release(r, d.now(), "deliverer stopped during the attempt")
	default:
		d.log.Warn("delivery attempt failed", "msg_id", r.MsgID, "error", err)
		d.release(r, d.now().Add(d.backoff(r.Attempts)), err.Error())
	}
}

// backoff is the pause after the attempts-th failed attempt: 1 s doubling, at most retry_max.
func (d *Deliverer) backoff(attempts int) time.Duration {
	b := time.Second << min(attempts, 20)
	return min(b, d.cfg.RetryMax)
}

func (d *Deliverer) release(r *Record, next time.Time, why string) {
	if err := d.store.Release(context.Background(), d.owner, r.MsgID, next, why); err != nil && !errors.Is(err, ErrNotFound) {
		// The claim ends with its lease; the message is then due again.
		d.log.Error("releasing a message failed", "msg_id", r.MsgID, "error", err)
	}
	if why != "" {
		d.log.Debug("delivery attempt ended", "msg_id", r.MsgID, "topic", r.Topic, "why", why, "next", next.Format(time.RFC3339))
	}
}

func (d *Deliverer) expire(r *Record, missing []string) {
	reason := fmt.Sprintf("expired at %s with %s missing", r.Expires.UTC().Format(time.RFC3339), strings.Join(missing, ", "))
	if err := d.store.Kill(context.Background(), r.MsgID, reason); err != nil {
		d.log.Error("moving an expired message to the dead letters failed", "msg_id", r.MsgID, "error", err)
		return
	}
	if d.metrics != nil {
		d.metrics.expired.Inc()
	}
	d.log.Warn("message expired into the dead letters", "msg_id", r.MsgID, "topic", r.Topic, "missing", strings.Join(missing, ","))
}

func (d *Deliverer) delivered(r *Record) {
	if d.metrics != nil {
		d.metrics.delivered(d.now().Sub(r.Enqueued))
	}
	d.log.Info("delivered", "msg_id", r.MsgID, "topic", r.Topic, "recipients", strings.Join(r.Recipients, ","),
		"after", d.now().Sub(r.Enqueued).Round(time.Millisecond))
	if d.onDone != nil {
		d.onDone(r)
	}
}

func (d *Deliverer) note(msgID, who string) {
	d.amu.RLock()
	defer d.amu.RUnlock()
	if !d.acksClosed {
		d.acks <- ackNote{msgID, who}
	}
}

// persistAcks records each recipient's ACK as it arrives, so a deliverer killed in the middle
// of an attempt does not wait again for those that answered.
func (d *Deliverer) persistAcks() {
	for n := range d.acks {
		_, err := d.store.MarkAcked(context.Background(), n.msgID, n.recipient)
		if err != nil && !errors.Is(err, ErrNotFound) {
			d.log.Warn("recording an ACK failed (the attempt's outcome records it again)", "msg_id", n.msgID, "recipient", n.recipient, "error", err)
		}
	}
}
