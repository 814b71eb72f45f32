package publisher_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
)

func TestConfigValidate(t *testing.T) {
	ok := publisher.DefaultConfig()
	ok.Bind = []string{"tcp://127.0.0.1:1"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a default config with Bind: %v", err)
	}
	for name, tc := range map[string]struct {
		tune func(*publisher.Config)
		want string
	}{
		"nowhere":       {func(c *publisher.Config) { c.Bind = nil }, "nowhere to send"},
		"both":          {func(c *publisher.Config) { c.Connect = "tcp://127.0.0.1:2" }, "not both"},
		"sink and bind": {func(c *publisher.Config) { c.LogSink = true }, "leave Bind and Connect empty"},
		"no prefix":     {func(c *publisher.Config) { c.TopicPrefix = "" }, "TopicPrefix and Environment"},
		"bad transport": {func(c *publisher.Config) { c.Transport.HWM = -1 }, "HWM"},
		"bad limits":    {func(c *publisher.Config) { c.ReplayLimits.MaxBytes = -1 }, "ReplayLimits"},
	} {
		c := ok
		tc.tune(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error saying %q", name, err, tc.want)
		}
		if _, err := publisher.New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// countingStore counts the store calls, so a test can tell what New did to it.
type countingStore struct {
	replay.Store
	calls, closes atomic.Int32
}

func (s *countingStore) LastSeq(ctx context.Context, name string) (int64, error) {
	s.calls.Add(1)
	return s.Store.LastSeq(ctx, name)
}

func (s *countingStore) Append(ctx context.Context, name string, r replay.Record) error {
	s.calls.Add(1)
	return s.Store.Append(ctx, name, r)
}

func (s *countingStore) Close() error { s.closes.Add(1); return s.Store.Close() }

// Without any fedmsg configuration: a Config, an injected history. New does no I/O on the
// store (its last seq_id is read by the first publish, within that publish's context), the
// numbering continues from the store, the history is served at ReplayBind, and Close closes the
// store it was given.
func TestNewWithInjectedHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	bs, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Append(t.Context(), "svc.host", replay.Record{Seq: 41, MsgID: "old"}); err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: bs}
	cfg := publisher.DefaultConfig()
	cfg.Name, cfg.Bind, cfg.ReplayBind = "svc.host", []string{testbus.Addr(t)}, testbus.Addr(t)
	cfg.Transport.Linger = 0
	p, err := publisher.New(cfg, publisher.WithHistory(st), publisher.WithModname("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n := st.calls.Load(); n != 0 || !p.Numbered() || p.History() != nil || p.ReplayAddr() == "" {
		t.Fatalf("after New: %d store calls, numbered %v, history %v, replay at %q; want 0 calls, numbered, none yet, served",
			n, p.Numbered(), p.History(), p.ReplayAddr())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	m, err := p.Publish(ctx, "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := replay.SeqID(m); !ok || seq != 42 || m.Topic() != "org.fedoraproject.dev.app.x" {
		t.Fatalf("published seq_id %d (%v) on %q; want 42 on org.fedoraproject.dev.app.x", seq, ok, m.Topic())
	}
	if p.History() == nil {
		t.Fatal("no History after the first numbered publish")
	}
	c, err := replay.NewClient(cfg.Transport, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frames, err := c.Fetch(ctx, p.ReplayAddr(), replay.Range(42, 42))
	if err != nil || len(frames) != 1 {
		t.Fatalf("replay of seq_id 42: %d frames, %v", len(frames), err)
	}
	if got, err := message.Decode(frames[0]); err != nil || got.MsgID() != m.MsgID() {
		t.Fatalf("replayed %v, %v; want msg_id %s", got, err, m.MsgID())
	}
	if err := p.Close(); err != nil || st.closes.Load() != 1 {
		t.Fatalf("Close = %v with %d closes of the store; want it closed once", err, st.closes.Load())
	}
}

// A New that fails closes the history it was given (the Publisher owned it), and a history on
// an active or log-sink publisher is refused.
func TestNewRefusesHistoryWhereNothingIsNumbered(t *testing.T) {
	for name, tune := range map[string]func(*publisher.Config){
		"active":   func(c *publisher.Config) { c.Connect = testbus.Addr(t) },
		"log sink": func(c *publisher.Config) { c.LogSink = true },
		"no name":  func(c *publisher.Config) { c.Name, c.Bind = "", []string{testbus.Addr(t)} },
	} {
		bs, err := boltstore.Open(filepath.Join(t.TempDir(), "h.db"), boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		st := &countingStore{Store: bs}
		cfg := publisher.DefaultConfig()
		cfg.Name = "svc.host"
		tune(&cfg)
		if p, err := publisher.New(cfg, publisher.WithHistory(st)); err == nil {
			p.Close()
			t.Errorf("%s: New accepted a history", name)
		}
		if st.closes.Load() != 1 {
			t.Errorf("%s: the refused store was closed %d times, want 1", name, st.closes.Load())
		}
	}
}

// A Publisher from a Config alone talks to a plain ZeroMQ subscriber.
func TestNewFromConfigOnly(t *testing.T) {
	cfg := publisher.DefaultConfig()
	cfg.TopicPrefix, cfg.Environment, cfg.Name = "org.example", "test", "svc.host"
	cfg.Bind = []string{testbus.Addr(t)}
	p, err := publisher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer zctx.Term()
	sub, err := zctx.NewSocket(zmq.SUB)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.SetLinger(0)
	sub.SetRcvtimeo(100 * time.Millisecond)
	sub.SetSubscribe("org.example.test.svc.")
	if err := sub.Connect(cfg.Bind[0]); err != nil {
		t.Fatal(err)
	}
	ctx := testbus.Within(t, 10*time.Second)
	if err := p.WaitSubscribed(ctx, "org.example.test.svc.x"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil { // retransmit: the subscription is in, the SUB may still be connecting
		if _, err := p.Publish(ctx, "x", 1); err != nil {
			t.Fatal(err)
		}
		frames, err := sub.RecvMessageBytes(0)
		if err == nil && len(frames) == 2 && string(frames[0]) == "org.example.test.svc.x" {
			return
		}
		if err != nil && !errors.Is(err, zmq.Errno(11)) { // EAGAIN: the receive timeout
			t.Fatal(err)
		}
	}
	t.Fatal("no message within 10 s")
}
