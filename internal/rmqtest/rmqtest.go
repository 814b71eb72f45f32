// Package rmqtest starts a throwaway RabbitMQ node for tests: one node per test binary, with
// its data (mnesia), logs, configuration, Erlang cookie and HOME in a temporary directory, a
// unique node name, and every port it listens on chosen free on loopback (AMQP, Erlang
// distribution, and a private epmd), so it clashes with nothing else on the machine, including a
// node the Debian package may have started. Tests share the node and use unique exchange and
// queue names ([Name]). Readiness is proven by an AMQP connection succeeding. [Restart] stops
// the node and starts it again on the same port and data directory, for tests of a broker
// restart. Without rabbitmq-server the tests skip, saying why, except under CI=true, where they
// fail: CI must not skip them.
package rmqtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// Server is where the Debian package keeps the node's start script (rabbitmq-server in
// /usr/sbin is a wrapper that switches to the rabbitmq user).
var Server = "/usr/lib/rabbitmq/bin/rabbitmq-server"

type node struct {
	dir                      string
	name                     string
	amqpPort, distPort, epmd int
	proc                     *os.Process
	exited                   chan error
	err                      error
}

var (
	mu    sync.Mutex // serialises Restart and Stop against each other
	once  sync.Once
	n     node
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

func url() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.amqpPort) }

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
	stopProc()
}

// StartNode starts the node stopped by StopNode again and waits until it accepts connections.
func StartNode(t testing.TB) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if n.proc != nil {
		t.Fatal("rmqtest: StartNode: the node is running")
	}
	if err := launch(); err != nil {
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
	stopProc()
	// The node started its own epmd on a private port (it daemonizes, so it is not our child):
	// ask it to exit.
	if epmd, err := exec.LookPath("epmd"); err == nil {
		c := exec.Command(epmd, "-port", strconv.Itoa(n.epmd), "-kill")
		c.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(n.epmd))
		c.Run()
	} else if matches, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd"); len(matches) > 0 {
		exec.Command(matches[0], "-port", strconv.Itoa(n.epmd), "-kill").Run()
	}
	os.RemoveAll(n.dir)
	n.dir = ""
}

func stopProc() {
	if n.proc == nil {
		return
	}
	n.proc.Signal(syscall.SIGTERM) // RabbitMQ stops cleanly on SIGTERM
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.proc.Kill()
		<-n.exited
	}
	n.proc = nil
}

func first() error {
	if err := Available(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ackmsg-rmqtest")
	if err != nil {
		return err
	}
	n.dir = dir
	n.name = fmt.Sprintf("ackmsg-test-%d@localhost", os.Getpid())
	ports, err := freeport.PickN(3) // below the ephemeral range: the node binds them seconds later
	if err != nil {
		return err
	}
	n.amqpPort, n.distPort, n.epmd = ports[0], ports[1], ports[2]
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return err
	}
	// A private cookie: the node and nothing else on the machine share it.
	if err := os.WriteFile(filepath.Join(dir, "home", ".erlang.cookie"), []byte(fmt.Sprintf("ACKMSGTEST%dCOOKIE", os.Getpid())), 0o400); err != nil {
		return err
	}
	conf := fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\nlog.console = true\nlog.file = false\n"+
		"disk_free_limit.absolute = 1MB\n", n.amqpPort)
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o600); err != nil {
		return err
	}
	if err := launch(); err != nil {
		Stop()
		return err
	}
	return nil
}

func launch() error {
	dir := n.dir
	cmd := exec.Command(Server)
	cmd.Env = append(os.Environ(),
		"HOME="+filepath.Join(dir, "home"),
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_PORT="+strconv.Itoa(n.epmd),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(filepath.Join(dir, "rabbitmq.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	n.proc, n.exited = cmd.Process, make(chan error, 1)
	exited := n.exited
	go func() { exited <- cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := amqp.DialConfig(url(), amqp.Config{Dial: amqp.DefaultDial(time.Second)})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case werr := <-exited:
			out, _ := os.ReadFile(logf.Name())
			n.proc = nil
			return fmt.Errorf("rabbitmq-server exited (%v): %s", werr, tail(out, 3000))
		case <-time.After(100 * time.Millisecond): // polling for readiness: dial until it answers
		}
		if time.Now().After(deadline) {
			stopProc()
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("RabbitMQ did not accept AMQP connections within 60 s: %s", tail(out, 3000))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
