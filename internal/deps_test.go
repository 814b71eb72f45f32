package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// lean are the packages a Go program imports to publish or consume, and what they must not
// link: a store or broker client belongs to the package that needs it (replay/boltstore,
// replay/pgstore, the outbox's stores, bridge), so a program that only talks on the bus links
// none (docs/design.md). Package config, which opens the stores, sits above them all.
var lean = []string{"ack", "consumer", "publisher", "replay", "transport", "message", "certs"}

var heavy = []string{"github.com/jackc/pgx", "go.etcd.io/bbolt", "github.com/rabbitmq/amqp091-go"}

func TestLeanPackagesLinkNoStoreOrBroker(t *testing.T) {
	for _, pkg := range lean {
		out, err := exec.Command("go", "list", "-deps", "../"+pkg).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed %d packages: %q", pkg, len(deps), deps)
		}
		for _, d := range deps {
			for _, h := range heavy {
				if strings.HasPrefix(d, h) {
					t.Errorf("%s links %s", pkg, d)
				}
			}
		}
	}
}

// belowConfig are the components that take their Config and collaborators and know nothing of
// fedmsg configurations: package config builds them, so none may import it (docs/design.md).
var belowConfig = []string{"ack", "bridge", "bridge/broker", "consumer", "outbox", "publisher", "replay", "transport", "message", "certs"}

func TestComponentsDoNotImportConfig(t *testing.T) {
	const config = "github.com/ackmsg/ackmsg/config"
	for _, pkg := range belowConfig {
		out, err := exec.Command("go", "list", "-deps", "../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed %d packages: %q", pkg, len(deps), deps)
		}
		for _, d := range deps {
			if d == config || strings.HasPrefix(d, config+"/") {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}
