package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A program that stops the server and later asks for a database again (the benchmarks' outbox,
// then archive parts) gets a new server, not the address of the stopped one.
func TestNewDatabaseAfterStop(t *testing.T) {
	for round := range 2 {
		dsn, err := NewDatabase()
		if errors.Is(err, errUnavailable) && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL not available: %v", err)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("round %d: the database does not answer: %v", round, err)
		}
		Stop()
	}
}
