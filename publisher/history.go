package publisher

import (
	"context"
	"errors"
	"fmt"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
	"github.com/ackmsg/ackmsg/replay/pgstore"
)

// openHistory opens persistent_store and, when replay_endpoints names this publisher, serves
// it there.
func (p *Publisher) openHistory() error {
	cfg := p.cfg
	if cfg.PersistentStore == "" {
		return nil
	}
	where := config.RedactURL(cfg.PersistentStore)
	if cfg.Active || cfg.Name == "" || cfg.Name == config.RelayInboundKey {
		// Consumers follow seq_ids per endpoints key; the relay's mixes every publisher behind
		// it, so numbering there would only make false gaps.
		p.log.Warn("persistent_store ignored: only a passive publisher with a name (an endpoints key it binds) numbers its messages",
			"persistent_store", where, "name", cfg.Name, "active", cfg.Active)
		return nil
	}
	// New takes no context (issue 30 moves the opening of stores out of the constructor), so
	// Background stays here; every store bounds its own I/O without a deadline (pgstore's
	// connect and operation timeouts; boltstore's lock timeout, and reads that do not wait).
	ctx := context.Background()
	st, err := p.openStore(ctx)
	if err != nil {
		return fmt.Errorf("publisher: persistent_store: %w", err)
	}
	h, err := replay.NewHistory(ctx, st, cfg.Name)
	if err != nil {
		st.Close()
		return fmt.Errorf("publisher: persistent_store: %w", err)
	}
	p.hist, p.histStore = h, st
	if _, ok := cfg.ReplayEndpoint(cfg.Name); ok {
		srv, err := replay.NewServerFromConfig(cfg, st, cfg.Name, p.log)
		if err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
		p.replaySrv = srv
	}
	last, _ := st.LastSeq(ctx, cfg.Name)
	p.log.Info("history open", "persistent_store", where, "name", cfg.Name, "last_seq_id", last)
	return nil
}

// openStore opens the history persistent_store names: PostgreSQL for a postgres:// URL (owning
// the publisher's name there, so that a second process with the name fails here), else the
// bbolt file.
func (p *Publisher) openStore(ctx context.Context) (replay.Store, error) {
	cfg := p.cfg
	ret := replay.Retention{MaxAge: cfg.HistoryMaxAge.Duration(), MaxMessages: cfg.HistoryMaxMessages, MaxBytes: cfg.HistoryMaxBytes}
	if !config.IsPostgresURL(cfg.PersistentStore) {
		return boltstore.Open(cfg.PersistentStore, boltstore.Options{NoSync: !cfg.HistoryFsync, Retention: ret})
	}
	// Open bounds itself: the connection (connect_timeout in the URL, else 10 s), then each step.
	st, err := pgstore.Open(ctx, cfg.PersistentStore, pgstore.Options{Retention: ret, Own: []string{cfg.Name}})
	if err != nil {
		return nil, err
	}
	if !cfg.HistoryFsync {
		p.log.Warn("history_fsync = false has no effect on a PostgreSQL persistent_store: a record is as durable as the server's commits",
			"synchronous_commit", st.SynchronousCommit())
	}
	if st.SynchronousCommit() == "off" {
		p.log.Warn("the PostgreSQL history has synchronous_commit = off: a crash of the server can lose the last records, and their seq_ids be handed out again",
			"persistent_store", config.RedactURL(cfg.PersistentStore))
	}
	return st, nil
}

// Numbered reports whether this Publisher gives its messages a seq_id (persistent_store).
func (p *Publisher) Numbered() bool { return p.hist != nil }

// History is the numbering and history of this Publisher, nil without persistent_store.
func (p *Publisher) History() *replay.History { return p.hist }

// ReplayAddr is the address of the replay endpoint this Publisher serves, "" when none.
func (p *Publisher) ReplayAddr() string {
	if p.replaySrv == nil {
		return ""
	}
	return p.replaySrv.Addr()
}

// ReplayStats are the counters of the replay endpoint (zero when there is none).
func (p *Publisher) ReplayStats() replay.ServerStats {
	if p.replaySrv == nil {
		return replay.ServerStats{}
	}
	return p.replaySrv.Stats()
}

// Sequence numbers one message when the Publisher keeps a history: build makes the signed
// envelope with the option it is given (the seq_id field, signed with the rest), the message is
// recorded durably, and send runs in seq_id order. Without a history, build gets a no-op option
// and send runs at once. This is how the ACK overlay numbers acked messages; Publish uses it
// itself. ctx bounds the history's append (see replay.History.Publish).
func (p *Publisher) Sequence(ctx context.Context, build func(extra PublishOption) (*message.Message, []byte, error),
	send func(m *message.Message, frame []byte) error) (*message.Message, error) {
	if p.hist == nil {
		m, frame, err := build(func(*publishOptions) {})
		if err != nil {
			return nil, err
		}
		if err := send(m, frame); err != nil {
			return nil, err
		}
		return m, nil
	}
	var m *message.Message
	var frame []byte
	_, err := p.hist.Publish(ctx, func(seq int64) (replay.Record, error) {
		var err error
		m, frame, err = build(Field(replay.FieldSeqID, seq))
		if err != nil {
			return replay.Record{}, err
		}
		if got, ok := replay.SeqID(m); !ok || got != seq {
			return replay.Record{}, errors.New("publisher: the envelope's seq_id field was set by the caller")
		}
		return replay.Record{MsgID: m.MsgID(), Timestamp: m.Timestamp(), Envelope: frame}, nil
	}, func() error { return send(m, frame) })
	if err != nil {
		return nil, err
	}
	return m, nil
}
