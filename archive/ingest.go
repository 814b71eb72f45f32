package archive

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// Delivery is one verified message for the archive, and the way to answer it.
type Delivery struct {
	// Message is the decoded envelope.
	Message *message.Message
	// Raw is frame 2 as received: what is stored.
	Raw []byte
	// Signer is the CN of the certificate whose signature was verified ("" when none was).
	Signer string
	// Done is called once: with nil after the message is committed (an acking source ACKs it
	// then), or with the error that kept it out of the archive (no ACK: the publisher
	// retransmits). Nil for a source that needs no answer.
	Done func(error)
}

// Source is where the ingest loop reads messages: an acking subscriber, in ackmsg-archive.
// Next is called from one goroutine; it returns an error when the source is closed or ctx is
// done, which ends the loop.
type Source interface {
	Next(ctx context.Context) (Delivery, error)
}

// Writer is what the ingest loop writes to (a *Store).
type Writer interface {
	Insert(ctx context.Context, recs []Record) (int, error)
	Prune(ctx context.Context, cutoff time.Time) (int64, error)
}

// IngestStats are the ingest loop's counters.
type IngestStats struct {
	// Received counts the messages read from the source; Stored the rows added; Duplicates
	// the messages already archived (answered as stored); Failed those not stored (not ACKed);
	// Commits the transactions; Pruned the rows retention deleted.
	Received, Stored, Duplicates, Failed, Commits, Pruned uint64
}

// Ingester is the ingest loop: it reads a Source, commits what it read in groups (what
// arrives while a commit runs goes into the next) and answers each message only after its
// commit. Create it with NewIngester; Run it once.
type Ingester struct {
	w   Writer
	src Source
	cfg Config

	received, stored, duplicates, failed, commits, pruned atomic.Uint64
}

// NewIngester returns the loop reading src into w. cfg must be valid (see Config.Validate).
func NewIngester(w Writer, src Source, cfg Config) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil || src == nil {
		return nil, errors.New("archive: NewIngester needs a writer and a source")
	}
	return &Ingester{w: w, src: src, cfg: cfg}, nil
}

// Stats returns the counters so far.
func (in *Ingester) Stats() IngestStats {
	return IngestStats{Received: in.received.Load(), Stored: in.stored.Load(), Duplicates: in.duplicates.Load(),
		Failed: in.failed.Load(), Commits: in.commits.Load(), Pruned: in.pruned.Load()}
}

type pending struct {
	rec  Record
	done func(error)
}

// Run reads and commits until ctx is done or the source fails. What was read before is
// committed (within Timeout) and answered before Run returns; it returns nil when ctx ended
// it, else the source's error.
func (in *Ingester) Run(ctx context.Context) error {
	log := in.cfg.logger()
	queue := make(chan pending, in.cfg.QueueSize)
	var srcErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(queue)
		for {
			d, err := in.src.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					srcErr = err
				}
				return
			}
			in.received.Add(1)
			rec, err := NewRecord(d.Message, d.Raw, d.Signer, in.cfg.now())
			if err != nil {
				in.failed.Add(1)
				log.Warn("not archived", "topic", d.Message.Topic(), "error", err)
				answer(d.Done, err)
				continue
			}
			queue <- pending{rec: rec, done: d.Done}
		}
	}()

	rctx, stopRetain := context.WithCancel(ctx)
	defer stopRetain()
	if in.cfg.Retention > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.retain(rctx)
		}()
	}

	batch := make([]pending, 0, in.cfg.BatchSize)
	recs := make([]Record, 0, in.cfg.BatchSize)
	for p := range queue {
		batch = append(batch[:0], p)
	fill:
		for len(batch) < in.cfg.BatchSize {
			select {
			case p, ok := <-queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		recs = recs[:0]
		for _, p := range batch {
			recs = append(recs, p.rec)
		}
		// A batch read before ctx ended is still committed: it is answered either way, and an
		// answer that says "stored" saves the publisher a retransmission.
		added, err := in.w.Insert(context.WithoutCancel(ctx), recs)
		in.commits.Add(1)
		if err != nil {
			in.failed.Add(uint64(len(batch)))
			log.Warn("archive commit failed: messages not ACKed (their publishers retransmit)", "messages", len(batch), "error", err)
		} else {
			in.stored.Add(uint64(added))
			in.duplicates.Add(uint64(len(batch) - added))
		}
		for _, p := range batch {
			answer(p.done, err)
		}
	}
	stopRetain()
	wg.Wait()
	return srcErr
}

func answer(done func(error), err error) {
	if done != nil {
		done(err)
	}
}

// retain deletes what is past Retention every PruneInterval until ctx is done.
func (in *Ingester) retain(ctx context.Context) {
	t := time.NewTicker(in.cfg.PruneInterval)
	defer t.Stop()
	for {
		n, err := in.w.Prune(ctx, in.cfg.now().Add(-in.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			in.cfg.logger().Warn("archive retention failed", "error", err)
		}
		in.pruned.Add(uint64(n))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
