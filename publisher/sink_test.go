package publisher_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/publisher"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With sink = "log" nothing is bound or connected (the configured address is taken by another
// listener, and active mode has no relay): every message is written to the logger instead.
func TestLogSinkOpensNoSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, active := range []bool{false, true} {
		cfg := configtest.Config(map[string][]string{"svc.host": {"tcp://" + l.Addr().String()}})
		cfg.Name, cfg.Sink, cfg.Active = "svc.host", config.SinkLog, active
		cfg.RelayInbound = "tcp://" + l.Addr().String()
		var out lockedBuffer
		p, err := config.NewPublisher(t.Context(), cfg, publisher.WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
		if err != nil {
			t.Fatalf("active=%v: %v", active, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := p.Publish(ctx, "created", map[string]any{"n": 1, "s": "é"}, publisher.Modname("app"))
		cancel()
		if err != nil {
			t.Fatalf("active=%v: %v", active, err)
		}
		want := `msg="would send (sink = \"log\")" topic=org.example.test.app.created msg_id=` + m.MsgID() +
			` body="{\"n\":1,\"s\":\"\\u00e9\"}"`
		if !strings.Contains(out.String(), want) {
			t.Errorf("active=%v: log lacks %s:\n%s", active, want, out.String())
		}
		if p.Addr() != "log" || p.Sent() != 1 || p.Subscriptions() != 0 {
			t.Errorf("active=%v: Addr %q Sent %d Subscriptions %d", active, p.Addr(), p.Sent(), p.Subscriptions())
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Publish(context.Background(), "created", 1); !errors.Is(err, publisher.ErrClosed) {
			t.Errorf("active=%v: publish after Close: %v", active, err)
		}
	}
}
