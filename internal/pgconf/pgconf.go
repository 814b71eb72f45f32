// Package pgconf is what every PostgreSQL store of ackmsg (outbox/pgstore, replay/pgstore)
// shares about reaching the server: the bounds on connecting and on each operation, and how a
// failure to reach it is reported. One place, so that the stores cannot drift apart.
//
// Guarantees: a connection attempt ends after ConnectTimeout (or the URL's connect_timeout),
// whatever the server does (a server that accepts the TCP connection and never answers
// included); an operation ends after Timeout. Errors name the URL with its password masked.
package pgconf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	dsnurl "github.com/ackmsg/ackmsg/internal/dsn"
)

// The defaults of the stores' ConnectTimeout and Timeout options.
const (
	// ConnectTimeout bounds each connection attempt (TCP, TLS and the startup exchange), unless
	// the URL sets connect_timeout.
	ConnectTimeout = 10 * time.Second
	// Timeout bounds each operation: a statement, a transaction, a batch.
	Timeout = 30 * time.Second
)

// Bounds are a store's connect and operation timeouts, defaults applied.
type Bounds struct {
	// ConnectTimeout bounds a connection attempt, unless the URL sets connect_timeout.
	ConnectTimeout time.Duration
	// Timeout bounds an operation.
	Timeout time.Duration
}

// WithDefaults returns b with ConnectTimeout and Timeout set where zero or negative.
func (b Bounds) WithDefaults() Bounds {
	if b.ConnectTimeout <= 0 {
		b.ConnectTimeout = ConnectTimeout
	}
	if b.Timeout <= 0 {
		b.Timeout = Timeout
	}
	return b
}

// Parse parses dsn (a postgres:// URL or a key=value string) into a pool configuration whose
// connection attempts end after b.ConnectTimeout, unless dsn sets connect_timeout, and whose
// sessions show as application in pg_stat_activity unless dsn names one. The returned Bounds
// hold the connect timeout in effect. Its error never carries the password.
func Parse(dsn string, b Bounds, application string) (*pgxpool.Config, Bounds, error) {
	b = b.WithDefaults()
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, b, fmt.Errorf("%s: %w", dsnurl.Redact(dsn), err) // pgx hides the password in its text
	}
	cc := pcfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = b.ConnectTimeout
	}
	b.ConnectTimeout = cc.ConnectTimeout
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = application
	}
	return pcfg, b, nil
}

// OpenContext bounds the opening of a store (connecting, then its first statements) by
// b.ConnectTimeout + b.Timeout.
func OpenContext(ctx context.Context, b Bounds) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.ConnectTimeout+b.Timeout)
}

// OpContext bounds one operation by b.Timeout (or the caller's earlier deadline).
func OpContext(ctx context.Context, b Bounds) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.Timeout)
}

// ErrNoAnswer is what an error of a server that did not answer in time is (errors.Is).
var ErrNoAnswer = errors.New("no answer from the PostgreSQL server")

// Failed is the error of reaching the server at dsn, doing what (e.g. "connecting",
// "creating the outbox table"): it names the URL (password masked) and, when the server did not
// answer in time, says so with the bound that ran out and matches ErrNoAnswer.
func Failed(dsn, what string, b Bounds, connecting bool, err error) error {
	url := dsnurl.Redact(dsn)
	if timedOut(err) {
		bound, name := b.Timeout, "operation timeout"
		if connecting {
			bound, name = b.ConnectTimeout, "connect_timeout"
		}
		return &NoAnswerError{URL: url, What: what, Bound: bound, BoundName: name, Err: err}
	}
	return fmt.Errorf("PostgreSQL %s: %s: %w", url, what, err)
}

// NoAnswerError is a server that did not answer within a bound.
type NoAnswerError struct {
	URL       string // the URL, password masked
	What      string // what was being done
	Bound     time.Duration
	BoundName string // "connect_timeout" or "operation timeout"
	Err       error
}

// Error names the URL, what was being done and the bound.
func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("PostgreSQL %s: %s: no answer within %s (%s): %v", e.URL, e.What, e.Bound, e.BoundName, e.Err)
}

// Unwrap returns ErrNoAnswer and the cause, so errors.Is tells a timeout (context.DeadlineExceeded).
func (e *NoAnswerError) Unwrap() []error { return []error{ErrNoAnswer, e.Err} }

// timedOut reports whether err is a deadline that ran out (a context's, or a network one).
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
