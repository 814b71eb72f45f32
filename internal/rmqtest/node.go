package rmqtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ackmsg/ackmsg/internal/child"
	amqp "github.com/rabbitmq/amqp091-go"
)

// node is one RabbitMQ node started by this package: its directory (data, logs, configuration,
// HOME with the Erlang cookie), its name and ports, and its process while it runs.
type node struct {
	dir                      string
	name                     string
	amqpPort, distPort, epmd int
	proc                     *os.Process
	exited                   <-chan error
	err                      error
}

// nodeSpec is what a node is set up with.
type nodeSpec struct {
	dir, name, cookie        string
	amqpPort, distPort, epmd int
	conf                     string   // more rabbitmq.conf lines
	plugins                  []string // enabled plugins
	advanced                 string   // advanced.config, when not empty
}

// setup writes the node's directory: HOME with the cookie, rabbitmq.conf, enabled_plugins.
func setup(s nodeSpec) (*node, error) {
	if err := os.MkdirAll(filepath.Join(s.dir, "home"), 0o700); err != nil {
		return nil, err
	}
	// A private cookie: the node (and the nodes of its cluster) and nothing else share it.
	if err := os.WriteFile(filepath.Join(s.dir, "home", ".erlang.cookie"), []byte(s.cookie), 0o400); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\nlog.console = true\nlog.file = false\n"+
		"disk_free_limit.absolute = 1MB\n", s.amqpPort) + s.conf
	if err := os.WriteFile(filepath.Join(s.dir, "rabbitmq.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "enabled_plugins"), []byte("["+strings.Join(s.plugins, ",")+"].\n"), 0o600); err != nil {
		return nil, err
	}
	if s.advanced != "" {
		if err := os.WriteFile(filepath.Join(s.dir, "advanced.config"), []byte(s.advanced), 0o600); err != nil {
			return nil, err
		}
	}
	return &node{dir: s.dir, name: s.name, amqpPort: s.amqpPort, distPort: s.distPort, epmd: s.epmd}, nil
}

func (nd *node) url() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", nd.amqpPort) }

// env is the environment of the node and of rabbitmqctl talking to it.
func (nd *node) env() []string {
	return append(os.Environ(),
		"HOME="+filepath.Join(nd.dir, "home"),
		"RABBITMQ_NODENAME="+nd.name,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(nd.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(nd.dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(nd.dir, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(nd.dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(nd.dir, "enabled_plugins"),
		"RABBITMQ_PID_FILE="+filepath.Join(nd.dir, "rabbitmq.pid"),
		"RABBITMQ_NODE_PORT="+strconv.Itoa(nd.amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(nd.distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_PORT="+strconv.Itoa(nd.epmd),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
}

// launch starts the node and returns once it accepts AMQP connections (60 s at most), or why
// it did not.
func (nd *node) launch() error {
	cmd := exec.Command(Server)
	cmd.Env = nd.env()
	cmd.Dir = nd.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(filepath.Join(nd.dir, "rabbitmq.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// From a thread that lives as long as the node: Pdeathsig fires when the forking thread
	// ends (see package child).
	exited, err := child.Start(cmd)
	if err != nil {
		return err
	}
	nd.proc, nd.exited = cmd.Process, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := amqp.DialConfig(nd.url(), amqp.Config{Dial: amqp.DefaultDial(time.Second)})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case werr := <-exited:
			out, _ := os.ReadFile(logf.Name())
			nd.proc = nil
			return fmt.Errorf("rabbitmq-server %s exited (%v): %s", nd.name, werr, tail(out, 3000))
		case <-time.After(100 * time.Millisecond): // polling for readiness: dial until it answers
		}
		if time.Now().After(deadline) {
			nd.stop()
			out, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("RabbitMQ %s did not accept AMQP connections within 60 s: %s", nd.name, tail(out, 3000))
		}
	}
}

// stop stops the node with SIGTERM (RabbitMQ stops cleanly on it), SIGKILL after 30 s.
func (nd *node) stop() {
	if nd.proc == nil {
		return
	}
	nd.proc.Signal(syscall.SIGTERM)
	select {
	case <-nd.exited:
	case <-time.After(30 * time.Second):
		nd.proc.Kill()
		<-nd.exited
	}
	nd.proc = nil
}

// kill kills the node's whole process group with SIGKILL (the Erlang VM and its port
// programs) and waits until it exited.
func (nd *node) kill() {
	if nd.proc == nil {
		return
	}
	syscall.Kill(-nd.proc.Pid, syscall.SIGKILL)
	<-nd.exited
	nd.proc = nil
}

// ctl runs rabbitmqctl (or another tool of the package, by name) against the node, bounded by
// 60 s.
func (nd *node) ctl(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(Server), tool), append([]string{"-n", nd.name}, args...)...)
	cmd.Env = nd.env()
	cmd.Dir = nd.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, tail(out, 2000))
	}
	return string(out), nil
}

// killEpmd asks the private epmd on port to exit (it daemonizes: it is not our child).
func killEpmd(port int) {
	env := append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))
	if epmd, err := exec.LookPath("epmd"); err == nil {
		c := exec.Command(epmd, "-port", strconv.Itoa(port), "-kill")
		c.Env = env
		c.Run()
	} else if matches, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd"); len(matches) > 0 {
		c := exec.Command(matches[0], "-port", strconv.Itoa(port), "-kill")
		c.Env = env
		c.Run()
	}
}

var errNotRunning = errors.New("rmqtest: the node is not running")

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
