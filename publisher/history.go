package publisher

import (
	"context"
	"errors"
	"fmt"

	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/replay"
)

// serveHistory serves the history at Config.ReplayBind, when set.
func (p *Publisher) serveHistory() error {
	if p.cfg.ReplayBind == "" {
		p.log.Info("history open", "name", p.cfg.Name)
		return nil
	}
	srv, err := replay.NewServer(replay.ServerConfig{Store: p.histStore, Name: p.cfg.Name, Bind: p.cfg.ReplayBind,
		Options: p.cfg.Transport, Logger: p.log, Limits: p.cfg.ReplayLimits})
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	p.replaySrv = srv
	p.log.Info("history open", "name", p.cfg.Name, "replay_addr", srv.Addr())
	return nil
}

// history is the numbering, made at the first numbered publish: reading the store's last
// seq_id is I/O, bounded by that publish's ctx, not a constructor's. A failed read is the
// publish's error, and the next publish tries again.
func (p *Publisher) history(ctx context.Context) (*replay.History, error) {
	if h := p.hist.Load(); h != nil {
		return h, nil
	}
	p.histMu.Lock()
	defer p.histMu.Unlock()
	if h := p.hist.Load(); h != nil {
		return h, nil
	}
	h, err := replay.NewHistory(ctx, p.histStore, p.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("publisher: history: %w", err)
	}
	last, _ := p.histStore.LastSeq(ctx, p.cfg.Name)
	p.log.Debug("history continues", "name", p.cfg.Name, "last_seq_id", last)
	p.hist.Store(h)
	return h, nil
}

// Numbered reports whether this Publisher gives its messages a seq_id (WithHistory).
func (p *Publisher) Numbered() bool { return p.histStore != nil }

// History is the numbering and history of this Publisher: nil without a history, and before
// the first numbered publish read where the numbering continues.
func (p *Publisher) History() *replay.History { return p.hist.Load() }

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
	if p.histStore == nil {
		m, frame, err := build(func(*publishOptions) {})
		if err != nil {
			return nil, err
		}
		if err := send(m, frame); err != nil {
			return nil, err
		}
		return m, nil
	}
	h, err := p.history(ctx)
	if err != nil {
		return nil, err
	}
	var m *message.Message
	var frame []byte
	_, err = h.Publish(ctx, func(seq int64) (replay.Record, error) {
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
