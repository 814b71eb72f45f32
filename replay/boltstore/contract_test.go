package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/replay"
	"github.com/ackmsg/ackmsg/replay/boltstore"
	"github.com/ackmsg/ackmsg/replay/storetest"
)

// TestBoltContract runs the store contract against the bbolt history, fsync'd as by default.
func TestBoltContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "history.db")
		return func(t *testing.T, ret replay.Retention, now func() time.Time) replay.Store {
			s, err := boltstore.Open(path, boltstore.Options{Retention: ret, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}
