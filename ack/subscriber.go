package ack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-multierror"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/transport"
)

// Mode says when a consumer ACKs a message.
type Mode int

const (
	// AfterProcessing ACKs once the application reports success (Delivery.Done(nil), or the
	// body of a Tail loop returning): the publisher learns the message was processed. A failure
	// sends no ACK, and a retransmission is delivered again.
	AfterProcessing Mode = iota
	// OnReceipt ACKs as soon as the message passed validation, before the application sees it:
	// gilmsg's behaviour. The publisher learns only that it was received.
	OnReceipt
)

func (m Mode) String() string {
	if m == OnReceipt {
		return "on-receipt"
	}
	return "after-processing"
}

// Subscriber is consumer.Subscriber plus ACKs: it validates every message, ACKs the ones that ask
// for it (they carry gilmsg_version), re-ACKs retransmissions without delivering them twice, and
// leaves other messages alone. Next is for one reading goroutine; Delivery.Done may be called
// from any.
type Subscriber struct {
	sub  *consumer.Subscriber
	pub  *publisher.Publisher
	own  bool // pub was opened here (else WithAckPublisher's, closed by its owner)
	log  *slog.Logger
	mode Mode
	name string

	mu   sync.Mutex
	seen *window

	// ACKs are signed and sent by workers, so the reading goroutine goes on to the next message
	// while a signature (about 1 ms with RSA-2048) is computed, on every core (acker.go).
	jmu     sync.RWMutex // guards sending on jobs against its close
	jobs    chan ackJob
	jclosed bool
	workers sync.WaitGroup

	stats struct {
		acked, reacked, duplicates, failed, ackErrors, notAsked atomic.Uint64
	}
	closeOnce sync.Once
	closeErr  error
}

// NewSubscriber subscribes like consumer.NewSubscriber and prepares the ACK publisher (cfg.Acks):
// passive (binding endpoints[name], where publishers' ACK listeners connect) or active (ACKs
// then go through the relay). Signatures are always validated, with the verifier given
// (WithVerifier): ACKing what was not verified would let anyone make this consumer vouch for
// anything. The ACKs are signed by the signer given (WithSigner), whose certificate's CN is the
// name publishers list as a recipient. Package config builds one from a fedmsg configuration
// (config.NewAckSubscriber).
func NewSubscriber(cfg SubscriberConfig, topic string, opts ...Option) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := collectOptions(opts)
	if len(o.publisherOnly) > 0 {
		return nil, misplaced(o.publisherOnly, "Subscriber", "Publisher")
	}
	log := cmp.Or(o.log, slog.Default())
	if o.verifier == nil {
		return nil, errors.New("ack: an acking consumer validates what it ACKs: give the verifier (WithVerifier)")
	}
	pub, own := o.ackPub, o.ackPub == nil
	if own {
		ac := cfg.Acks
		if !ac.LogSink && ac.Connect == "" && (ac.Name == "" || len(ac.Bind) == 0) {
			return nil, errors.New("ack: an acking consumer publishes its ACKs: set name (an endpoints key to bind) or active (send through the relay)")
		}
		if o.signer == nil {
			return nil, errors.New("ack: an acking consumer signs its ACKs: set sign_messages and a certificate (certname)")
		}
		pubOpts := []publisher.Option{publisher.WithLogger(log), publisher.WithModname("gilmsg"), publisher.WithSigner(o.signer)}
		if o.clock != nil {
			pubOpts = append(pubOpts, publisher.WithClock(o.clock))
		}
		// ACKs are control traffic: never numbered, never in a history (ac has no ReplayBind
		// use without one, and no history is given).
		var err error
		if pub, err = publisher.New(ac, append(pubOpts, o.ackOpts...)...); err != nil {
			return nil, fmt.Errorf("ack: ACK publisher: %w", err)
		}
	}
	if pub.Signer() == nil {
		if own {
			pub.Close()
		}
		return nil, errors.New("ack: an acking consumer signs its ACKs: set sign_messages and a certificate (certname)")
	}
	copts := []consumer.Option{consumer.WithLogger(log)}
	if !o.ackMessages {
		copts = append(copts, consumer.WithSkip(isAckTopic))
	}
	sub, err := consumer.NewSubscriber(cfg.Consumer, topic, append(copts, o.consumerOptions()...)...)
	if err != nil {
		if own {
			pub.Close()
		}
		return nil, err
	}
	s := &Subscriber{sub: sub, pub: pub, own: own, log: log, mode: o.mode, name: pub.Signer().Name(), seen: newWindow(cfg.DedupeWindow),
		jobs: make(chan ackJob, ackQueue)}
	n := min(runtime.GOMAXPROCS(0), maxAckWorkers)
	s.workers.Add(n)
	for range n {
		go s.ackWorker()
	}
	log.Info("acking consumer ready", "as", s.name, "mode", s.mode.String(), "acks_from", pub.Addr())
	return s, nil
}

// Name is the identity ACKs are signed as (the certificate's CN).
func (s *Subscriber) Name() string { return s.name }

// Delivery is a message for the application.
type Delivery struct {
	consumer.Delivery
	// Marked reports that the publisher asked this consumer for an ACK: the message carries
	// gilmsg_version, and its signed ack_recipients, when present, names this consumer.
	Marked bool

	s    *Subscriber
	pre  *presigned // the ACK being signed while the application processes; nil if none
	once sync.Once
	done atomic.Bool
}

// Done reports the outcome of processing. In AfterProcessing mode, nil sends the ACK and a
// non-nil error sends none (a retransmission will be delivered again). The ACK of a verified
// message is signed by a worker while the application processes it, so Done(nil) usually only
// sends it (one still waiting for a worker is signed as without it); a signed ACK that Done(err)
// refuses is dropped unsent. Done waits only for the rest of a signature under way when no other
// message is waiting to be read, or when ackQueue jobs are already queued.
// It does nothing for unmarked messages or in OnReceipt mode, and only the first call counts.
func (d *Delivery) Done(err error) {
	d.once.Do(func() {
		d.done.Store(true)
		if !d.Marked || d.s.mode != AfterProcessing {
			return
		}
		id := d.Message.MsgID()
		if err != nil {
			d.s.stats.failed.Add(1)
			d.s.setState(id, stateFailed)
			d.s.log.Warn("processing failed: not ACKed", "msg_id", id, "error", err)
			if d.pre != nil {
				d.pre.withdraw() // not signed if still queued; dropped with d if signed
			}
			return
		}
		d.s.queueAck(id, d.pre)
	})
}

// Next returns the next message to process: valid, and for marked messages not delivered before
// (within the dedupe window). Retransmissions of messages already ACKed are re-ACKed here. In
// AfterProcessing mode every marked Delivery must be finished with Done: until then its
// retransmissions are neither delivered nor ACKed. This is the one change a loop over
// consumer.Subscriber.Next needs when moved here: call d.Done(nil) once the message is
// processed (or use Tail, which does it when the loop body returns, or WithMode(OnReceipt)).
// Without it the loop runs but ACKs nothing, and the publisher reports the missing ACKs.
func (s *Subscriber) Next(ctx context.Context) (*Delivery, error) {
	for {
		d, err := s.sub.Next(ctx)
		if err != nil {
			return nil, closedErr(err)
		}
		if !d.Message.Has(message.FieldGilmsgVersion) {
			return &Delivery{Delivery: d, s: s}, nil
		}
		id := d.Message.MsgID()
		s.mu.Lock()
		e := s.seen.get(id)
		var state seenState
		var frame []byte
		if e != nil {
			state, frame = e.state, e.ack
		}
		if e == nil || state == stateFailed {
			s.seen.put(id, stateProcessing)
		}
		s.mu.Unlock()

		switch state {
		case stateNotAsked:
			s.stats.duplicates.Add(1)
			continue
		case stateAcked:
			s.stats.duplicates.Add(1)
			s.stats.reacked.Add(1)
			if err := s.pub.Resend(s.pub.FullTopic("ack", ackModname), frame); err != nil {
				s.stats.ackErrors.Add(1)
				s.log.Warn("re-ACK failed", "msg_id", id, "error", err)
			}
			continue
		case stateProcessing:
			s.stats.duplicates.Add(1) // still being processed: its ACK will follow
			continue
		}
		if !asked(d, s.name) {
			// Another consumer's ACK is awaited: deliver once, never ACK, and let the
			// retransmissions (until the named recipients answer) pass as duplicates.
			s.setState(id, stateNotAsked)
			s.stats.notAsked.Add(1)
			return &Delivery{Delivery: d, s: s}, nil
		}
		del := &Delivery{Delivery: d, Marked: true, s: s}
		switch {
		case s.mode == OnReceipt:
			s.queueAck(id, nil)
		case d.Signer != nil: // verified: sign its ACK while the application processes it
			del.pre = s.presign(id)
		}
		return del, nil
	}
}

func (s *Subscriber) setState(id string, st seenState) {
	s.mu.Lock()
	s.seen.put(id, st)
	s.mu.Unlock()
}

// SubscriberStats are a Subscriber's counters.
type SubscriberStats struct {
	consumer.Stats
	Acked      uint64 // ACKs sent
	Reacked    uint64 // ACKs re-sent for retransmissions
	Duplicates uint64 // retransmissions not delivered again
	Failed     uint64 // Done(err) with an error: not ACKed
	AckErrors  uint64 // ACKs that could not be sent
	NotAsked   uint64 // marked messages delivered without an ACK: their ack_recipients names others
	Window     int    // msg_ids remembered
}

// Stats returns a snapshot of the counters.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	n := s.seen.len()
	s.mu.Unlock()
	return SubscriberStats{Stats: s.sub.Stats(), Acked: s.stats.acked.Load(), Reacked: s.stats.reacked.Load(),
		Duplicates: s.stats.duplicates.Load(), Failed: s.stats.failed.Load(), AckErrors: s.stats.ackErrors.Load(), NotAsked: s.stats.notAsked.Load(), Window: n}
}

// WaitConnected waits until every endpoint has completed its handshake.
func (s *Subscriber) WaitConnected(ctx context.Context) error { return s.sub.WaitConnected(ctx) }

// Pending reports whether a message has arrived that Next would return without waiting, as
// consumer.Subscriber.Pending.
func (s *Subscriber) Pending() bool { return s.sub.Pending() }

// Endpoints returns the endpoints the Subscriber connects to.
func (s *Subscriber) Endpoints() []transport.Endpoint { return s.sub.Endpoints() }

// AckAddr is where the ACKs are published from (bound, or the relay connected to).
func (s *Subscriber) AckAddr() string { return s.pub.Addr() }

// Close closes the subscription, sends the ACKs already queued, and closes the ACK publisher
// (flushing sent ACKs within zmq_linger). It is safe to call more than once. When both the
// subscription and the ACK publisher fail to close, the error is a *multierror.Error with both.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		var errs *multierror.Error
		if err := s.sub.Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
		s.jmu.Lock()
		s.jclosed = true
		close(s.jobs)
		s.jmu.Unlock()
		s.workers.Wait()
		if s.own {
			if err := s.pub.Close(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("ack: ACK publisher: %w", err))
			}
		}
		s.closeErr = errs.ErrorOrNil()
	})
	return s.closeErr
}

// Tail is consumer.Tail with ACKs. In AfterProcessing mode a message is ACKed when the loop body
// returns for it, unless the body called Done with an error first; a body that panics ACKs
// nothing.
//
//	for d, err := range config.AckTail(ctx, cfg, "org.example.prod.orders") {
//		if err != nil { return err }
//		if err := handle(d.Message); err != nil {
//			d.Done(err) // not ACKed: the publisher retransmits and we see it again
//		}
//	}
//
// Options are this package's (WithLogger, WithEndpoints, WithMode, ...); consumer options go in
// through WithConsumerOptions.
func Tail(ctx context.Context, cfg SubscriberConfig, topic string, opts ...Option) iter.Seq2[*Delivery, error] {
	return func(yield func(*Delivery, error) bool) {
		s, err := NewSubscriber(cfg, topic, opts...)
		if err != nil {
			yield(nil, err)
			return
		}
		defer s.Close()
		for {
			d, err := s.Next(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
					yield(nil, err)
				}
				return
			}
			more := yield(d, nil)
			d.Done(nil)
			if !more {
				return
			}
		}
	}
}

// Reasons a received message is dropped, as counted in SubscriberStats.Dropped (consumer's).
const (
	DropFrames    = consumer.DropFrames    // not exactly two frames
	DropOversize  = consumer.DropOversize  // a frame above max_frame_size
	DropUTF8      = consumer.DropUTF8      // frame 1 is not valid UTF-8
	DropEnvelope  = consumer.DropEnvelope  // frame 2 is not a JSON envelope with topic and msg_id
	DropMismatch  = consumer.DropMismatch  // frame 1 differs from the envelope's topic
	DropSignature = consumer.DropSignature // validation failed (see the log for the check)
	DropTooOld    = consumer.DropTooOld    // older than max_message_age
)
