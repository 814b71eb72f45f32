// Package ratelog logs repeated events at a bounded rate: one line per key per interval, with the
// count of lines suppressed since. A peer flooding garbage then costs counters, not a flood of
// log lines.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter counts events by key and logs at most one line per key per interval. It is safe for
// concurrent use.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	counts map[string]uint64
	last   map[string]time.Time
	muted  map[string]uint64
}

// New returns a Limiter logging to log at most once per interval per key.
func New(log *slog.Logger, interval time.Duration) *Limiter {
	return &Limiter{log: log, interval: interval, now: time.Now,
		counts: map[string]uint64{}, last: map[string]time.Time{}, muted: map[string]uint64{}}
}

// Warn counts one event under key and logs msg with args (plus the key and the number of
// suppressed lines) unless a line for key was logged less than an interval ago.
func (l *Limiter) Warn(key, msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	l.counts[key]++
	logIt := now.Sub(l.last[key]) >= l.interval
	var suppressed uint64
	if logIt {
		l.last[key] = now
		suppressed = l.muted[key]
		l.muted[key] = 0
	} else {
		l.muted[key]++
	}
	l.mu.Unlock()
	if logIt {
		l.log.Warn(msg, append(args, "reason", key, "suppressed_since_last", suppressed)...)
	}
}

// Count counts one event under key without logging it: an expected event that only the
// counters show.
func (l *Limiter) Count(key string) {
	l.mu.Lock()
	l.counts[key]++
	l.mu.Unlock()
}

// Counts returns a snapshot of the event counts by key.
func (l *Limiter) Counts() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]uint64, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}
