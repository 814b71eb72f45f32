package publisher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

// The package-level Publish builds its Publisher from $ACKMSG_CONFIG on first use, reuses it,
// and builds a new one after CloseDefault.
func TestDefaultPublisherFromConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ackmsg.toml")
	body := fmt.Sprintf("topic_prefix = \"org.example\"\nenvironment = \"test\"\nname = \"svc.host\"\n"+
		"zmq_linger = 0\n[endpoints]\n\"svc.host\" = [%q]\n", testbus.Addr(t))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACKMSG_CONFIG", conf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := publisher.Publish(ctx, "x", 1, publisher.Modname("app"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic() != "org.example.test.app.x" {
		t.Fatalf("topic %q", m.Topic())
	}
	first, _ := publisher.Default()
	again, _ := publisher.Default()
	if first != again {
		t.Fatal("Default built a second Publisher")
	}
	if err := publisher.CloseDefault(); err != nil {
		t.Fatal(err)
	}
	next, err := publisher.Default()
	if err != nil {
		t.Fatal(err)
	}
	if next == first {
		t.Fatal("CloseDefault did not drop the Publisher")
	}
	if err := publisher.CloseDefault(); err != nil {
		t.Fatal(err)
	}
}
