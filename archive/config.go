package archive

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ackmsg/ackmsg/internal/pgconf"
)

// Config configures the archive: its store ([Open]), its ingest loop ([NewIngester]) and its
// HTTP API ([NewHandler]). Each field comment gives the default [DefaultConfig] sets.
type Config struct {
	// BatchSize bounds the messages committed in one transaction (group commit: what arrived
	// while the previous commit ran goes into the next one). Default 512.
	BatchSize int
	// QueueSize bounds the messages received and not yet committed; the reader waits beyond
	// it, and publishers retransmit. Default 4096.
	QueueSize int
	// Retention deletes messages whose timestamp is older than this; 0 keeps everything.
	// Default 0.
	Retention time.Duration
	// PruneInterval is how often retention runs. Default 1 minute.
	PruneInterval time.Duration
	// ConnectTimeout bounds each connection attempt, unless the URL sets connect_timeout.
	// Default 10 s (pgconf.ConnectTimeout, as the other PostgreSQL stores).
	ConnectTimeout time.Duration
	// Timeout bounds each write (a batch's transaction, a prune). Default 30 s (pgconf.Timeout).
	Timeout time.Duration
	// QueryTimeout is the statement_timeout of every API query: a query that would take longer
	// is cancelled by the server and answered 503. Default 5 s.
	QueryTimeout time.Duration
	// CountLimit is how far total is counted exactly; beyond it total is the planner's estimate
	// (never below CountLimit+1) and total_estimated is true. Default 10000.
	CountLimit int
	// DefaultDelta is datagrepper's DEFAULT_QUERY_DELTA: the time range of a query that gives
	// none of start, end and delta; 0 means no range (all messages). Default 0.
	DefaultDelta time.Duration
	// ContainsMaxAge is how far back a query using contains may start (datagrepper: eight
	// months). Default 32 weeks.
	ContainsMaxAge time.Duration
	// Logger receives the ingest loop's and the API's warnings. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock (retention, default time ranges). Default time.Now.
	Now func() time.Time
}

// Defaults of [Config].
const (
	DefaultBatchSize      = 512
	DefaultQueueSize      = 4096
	DefaultPruneInterval  = time.Minute
	DefaultQueryTimeout   = 5 * time.Second
	DefaultCountLimit     = 10000
	DefaultContainsMaxAge = 32 * 7 * 24 * time.Hour
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BatchSize: DefaultBatchSize, QueueSize: DefaultQueueSize, PruneInterval: DefaultPruneInterval,
		ConnectTimeout: pgconf.ConnectTimeout, Timeout: pgconf.Timeout, QueryTimeout: DefaultQueryTimeout,
		CountLimit: DefaultCountLimit, ContainsMaxAge: DefaultContainsMaxAge}
}

// ErrConfig is what every error of [Config.Validate] is (errors.Is).
var ErrConfig = errors.New("archive: invalid configuration")

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrConfig, field, v, want)
	}
	switch {
	case c.BatchSize < 1:
		return bad("BatchSize", c.BatchSize, "want at least 1")
	case c.QueueSize < 1:
		return bad("QueueSize", c.QueueSize, "want at least 1")
	case c.Retention < 0:
		return bad("Retention", c.Retention, "want 0 (keep everything) or a positive duration")
	case c.Retention > 0 && c.PruneInterval <= 0:
		return bad("PruneInterval", c.PruneInterval, "want a positive duration")
	case c.ConnectTimeout <= 0:
		return bad("ConnectTimeout", c.ConnectTimeout, "want a positive duration")
	case c.Timeout <= 0:
		return bad("Timeout", c.Timeout, "want a positive duration")
	case c.QueryTimeout < time.Millisecond:
		return bad("QueryTimeout", c.QueryTimeout, "want at least 1ms")
	case c.CountLimit < 0:
		return bad("CountLimit", c.CountLimit, "want 0 or more")
	case c.DefaultDelta < 0:
		return bad("DefaultDelta", c.DefaultDelta, "want 0 (no range) or a positive duration")
	case c.ContainsMaxAge <= 0:
		return bad("ContainsMaxAge", c.ContainsMaxAge, "want a positive duration")
	}
	return nil
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
