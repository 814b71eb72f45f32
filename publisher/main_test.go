package publisher_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/internal/pgtest"
)

// withServer runs the tests with the throwaway PostgreSQL server (started by the first test
// that needs it), stopped before goleak looks.
type withServer struct{ m *testing.M }

// Run runs the tests and stops the server.
func (w withServer) Run() int { return pgtest.Main(w.m) }

// TestMain runs the tests (with PostgreSQL for the ones that need it) and checks for leaked
// goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withServer{m}) }
