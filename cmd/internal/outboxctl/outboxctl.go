// Package outboxctl gives the short-lived commands (ackmsg-outbox list, stats, retry, drop,
// flush, wait; ackmsg-logger --outbox) the configured outbox store without taking it from
// anyone. A file store admits one process (bbolt's exclusive lock, which also blocks
// read-only opens), and its owner, whoever it is (ackmsg-outbox serve, a program using
// outbox/boltstore), answers on the unix socket next to the file. So a command never holds the
// file beyond one operation: each operation asks the owner over the socket, or, when no process
// owns the file, opens it, does the one operation and closes it. A command that waits (wait
// polls for minutes) therefore never locks a deliverer out, and every command works while
// another process owns the store. A PostgreSQL store needs none of this: every process opens
// it, and several deliverers may serve it.
package outboxctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
)

// Open returns the configured store for a command: PostgreSQL when store is a postgres:// URL,
// else the file shared with its owner (boltstore.OpenShared). The caller closes it.
func Open(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	return boltstore.OpenShared(ctx, cfg.Store)
}

var errNoStore = errors.New("no outbox store configured: set store in the [outbox] table of the configuration (a file path, or a postgres:// URL)")

func openPostgres(ctx context.Context, dsn string) (outbox.Store, error) {
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{}) // bounded, and its errors name the URL (password masked)
	if err != nil {
		return nil, fmt.Errorf("outbox store: %w", err)
	}
	return s, nil
}

// OpenLocal opens the store for a deliverer, which owns it: the file itself (which then
// answers the other processes on boltstore.SocketPath), or PostgreSQL.
func OpenLocal(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	return boltstore.Open(cfg.Store, boltstore.Options{})
}
