package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiterBoundsLinesAndCountsAll(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 100; i++ {
		l.Warn("bad", "dropped")
	}
	l.Warn("other", "dropped")
	now = now.Add(time.Second)
	l.Warn("bad", "dropped")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "suppressed_since_last=99") {
		t.Fatalf("third line %q does not report 99 suppressed", lines[2])
	}
	if c := l.Counts(); c["bad"] != 101 || c["other"] != 1 {
		t.Fatalf("counts %v", c)
	}
}
