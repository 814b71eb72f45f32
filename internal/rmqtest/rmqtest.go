// Package rmqtest starts a throwaway RabbitMQ node for tests: one node per test binary, with
// its data (mnesia), logs, configuration, Erlang cookie and HOME in a temporary directory, a
// unique node name, and every port it listens on chosen free on loopback (AMQP, Erlang
// distribution, and a private epmd), so it clashes with nothing else on the machine, including a
// node the Debian package may have started. Tests share the node and use unique exchange and
// queue names ([Name]). Readiness is proven by an AMQP connection succeeding. [Restart] stops
// the node and starts it again on the same port and data directory, for tests of a broker
// restart. [NewCluster] starts a cluster of several nodes on this host for one test (private
// cookie and epmd, node kills with SIGKILL). Without rabbitmq-server the tests skip, saying
// why, except under CI=true, where they fail: CI must not skip them.
package rmqtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// Server is where the Debian package keeps the node's start script (rabbitmq-server in
// /usr/sbin is a wrapper that switches to the rabbitmq user).
var Server = "/usr/lib/rabbitmq/bin/rabbitmq-server"

var (
	mu    sync.Mutex // serialises Restart and Stop against each other
	once  sync.Once
	n     = &node{} // the shared node
	names atomic.Int64
)

// Available reports why RabbitMQ cannot be started here, or nil when it can.
func Available() error {
	if _, err := os.Stat(Server); err != nil {
		if p, err := exec.LookPath("rabbitmq-server"); err == nil && filepath.Dir(p) != "/usr/sbin" {
			Server = p
			return nil
		}
		return errors.New("rabbitmq-server not found (" + Server + "): install the Debian package rabbitmq-server")
	}
	return nil
}

// Main runs the tests and then stops the node, if one was started. Call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// URL returns the AMQP URL of the shared node (user guest, vhost /), starting it on first use.
// Without RabbitMQ the test is skipped with the reason (failed under CI=true).
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		mu.Lock()
		defer mu.Unlock()
		n.err = first()
	})
	if n.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ: %v (CI must run these tests)", n.err)
		}
		t.Skipf("RabbitMQ not available: %v", n.err)
	}
	return url()
}

func url() string { return n.url() }

// Name returns a name no other test of this binary uses, for an exchange or a queue.
func Name(base string) string {
	return fmt.Sprintf("%s.%d.%d", base, os.Getpid(), names.Add(1))
}

// Restart stops the node (as systemd would, with SIGTERM) and starts it again on the same port
// and data directory: durable exchanges, queues and persistent messages survive. It returns
// once the node accepts AMQP connections again.
func Restart(t testing.TB) {
	t.Helper()
	StopNode(t)
	StartNode(t)
}

// StopNode stops the node and waits until it exited; the port refuses connections afterwards.
func StopNode(t testing.TB) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if n.proc == nil {
		t.Fatal("rmqtest: StopNode: the node is not running")
	}
	n.stop()
}

// StartNode starts the node stopped by StopNode again and waits until it accepts connections.
func StartNode(t testing.TB) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if n.proc != nil {
		t.Fatal("rmqtest: StartNode: the node is running")
	}
	if err := n.launch(); err != nil {
		t.Fatalf("rmqtest: restarting RabbitMQ: %v", err)
	}
}

// Stop stops the shared node, its epmd, and removes its directory.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if n.dir == "" {
		return
	}
	n.stop()
	// The node started its own epmd on a private port: ask it to exit.
	killEpmd(n.epmd)
	os.RemoveAll(n.dir)
	n.dir = ""
}

func first() error {
	if err := Available(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ackmsg-rmqtest")
	if err != nil {
		return err
	}
	ports, err := freeport.PickN(3) // below the ephemeral range: the node binds them seconds later
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	nd, err := setup(nodeSpec{dir: dir, name: fmt.Sprintf("ackmsg-test-%d@localhost", os.Getpid()),
		cookie: fmt.Sprintf("ACKMSGTEST%dCOOKIE", os.Getpid()), amqpPort: ports[0], distPort: ports[1], epmd: ports[2]})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	n = nd
	if err := n.launch(); err != nil {
		Stop()
		return err
	}
	return nil
}
