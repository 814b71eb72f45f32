package outboxctl

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A command gets the file shared with its owner (boltstore.Shared, tested in boltstore), and a
// clear error without a store.
func TestOpen(t *testing.T) {
	s, err := Open(t.Context(), &config.OutboxConfig{Store: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*boltstore.Shared); !ok {
		t.Fatalf("Open of a file store = %T, want *boltstore.Shared (a command never owns the file)", s)
	}
	if _, err := Open(t.Context(), &config.OutboxConfig{}); err == nil || !strings.Contains(err.Error(), "no outbox store configured") {
		t.Fatalf("Open without a store: %v", err)
	}
}
