package ack_test

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// useDefaultLog makes slog.Default write to a buffer for the rest of the test. Tests that call it
// must not run in parallel.
func useDefaultLog(t *testing.T) *logBuffer {
	prev := slog.Default()
	out := new(logBuffer)
	slog.SetDefault(slog.New(slog.NewTextHandler(out, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return out
}

// A program that passes no logger still sees the warnings the documentation calls loud: they go
// to slog.Default(), as Go programs expect, not to a discarding logger.
func TestLoudWarningsGoToSlogDefault(t *testing.T) {
	t.Run("no recipients", func(t *testing.T) {
		out := useDefaultLog(t)
		w := newWorld(t)
		p, err := config.NewAckPublisher(t.Context(), w.config("pub.host", "pub01"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if _, err := p.Publish(testbus.Within(t, 10*time.Second), "nobody", 1); err != nil {
			t.Fatal(err)
		}
		if len(out.lines("level=WARN", "without recipients", "topic="+p.FullTopic("nobody"))) != 1 {
			t.Fatalf("slog.Default() lacks the no-recipients warning:\n%s", out)
		}
	})
	t.Run("development mode", func(t *testing.T) {
		out := useDefaultLog(t)
		w := newWorld(t)
		cfg := w.config("pub.host", "pub01")
		cfg.Mode = config.ModeDevelopment
		cfg.CACertLocation = filepath.Join(t.TempDir(), "no-such-ca.crt")
		p, err := config.NewAckPublisher(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if len(out.lines("level=WARN", "ACKS ARE NOT AWAITED", "mode=development")) != 1 {
			t.Fatalf("slog.Default() lacks the development-mode warning:\n%s", out)
		}
	})
	t.Run("log sink", func(t *testing.T) {
		out := useDefaultLog(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cfg := configtest.Config(map[string][]string{"pub.host": {"tcp://" + l.Addr().String()}})
		cfg.Name, cfg.Sink = "pub.host", config.SinkLog
		p, err := config.NewAckPublisher(t.Context(), cfg, ack.WithModname("shop"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		m, err := p.Publish(testbus.Within(t, 10*time.Second), "order.new", map[string]any{"id": 7}, ack.To("billing"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range [][]string{
			{"level=WARN", `sink = \"log\": no socket is opened`},
			{"level=WARN", "would send", "msg_id=" + m.MsgID()},
		} {
			if len(out.lines(want...)) != 1 {
				t.Errorf("slog.Default() lacks one line with %q:\n%s", want, out)
			}
		}
	})
}
