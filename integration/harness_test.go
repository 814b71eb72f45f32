package integration

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// binDir holds the binaries built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ackmsg-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
		// The race runtime sleeps a second before every exit (atexit_sleep_ms) so that late
		// reports can print; the tests run hundreds of short-lived commands, each would wait.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	cmd := exec.Command("go", append(args, "./cmd/...")...)
	cmd.Dir = testbus.RepoRoot()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building the commands:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	pgtest.Stop()
	rmqtest.Stop()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for a process writer and a test reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Proc is a running command.
type Proc struct {
	Name           string
	cmd            *exec.Cmd
	Stdout, Stderr *syncBuffer
	done           chan struct{}
	code           int
}

// Bus is a test bus: a directory with a PKI and a configuration file.
type Bus struct {
	t        *testing.T
	Dir      string
	PKI      string
	Config   string
	Relay    string // relay_inbound
	Outbound string // relay_outbound
	Host     string // short host name, as certnames keys use it
	// ExtraEnv is added to every command's environment (e.g. SSL_CERT_FILE for a test HTTPS
	// server's CA).
	ExtraEnv []string
}

// BusOptions shape NewBus.
type BusOptions struct {
	// Certs are the service names to issue certificates for (besides "logger", which the
	// shell tools sign with).
	Certs []string
	// Extra is top-level TOML keys added to the configuration file.
	Extra string
	// Endpoints are extra endpoints keys, each with one address.
	Endpoints map[string]string
	// Unsigned turns signing and validation off.
	Unsigned bool
	// Relay and Outbound are the relay's inbound and outbound addresses; free loopback ports
	// when empty.
	Relay, Outbound string
	// Bits is the RSA key size of the CA and the certificates; 0 is 1024. Python's ssl
	// (SECLEVEL 2) refuses keys under 2048 bits in TLS.
	Bits int
}

// NewBus issues a CA and certificates (RSA-1024 unless o.Bits: fast, and enough for tests) and writes
// ackmsg.toml with a relay on free loopback ports.
func NewBus(t *testing.T, o BusOptions) *Bus {
	t.Helper()
	dir := t.TempDir()
	b := &Bus{t: t, Dir: dir, PKI: filepath.Join(dir, "pki"), Config: filepath.Join(dir, "ackmsg.toml"),
		Relay: o.Relay, Outbound: o.Outbound, Host: config.ShortHostname()}
	if b.Relay == "" {
		b.Relay = testbus.Addr(t)
	}
	if b.Outbound == "" {
		b.Outbound = testbus.Addr(t)
	}
	opts := certs.PKIOptions{Bits: cmp.Or(o.Bits, 1024)}
	if _, err := certs.InitCA(b.PKI, opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"logger"}, o.Certs...) {
		if _, err := certs.Issue(b.PKI, name, opts); err != nil {
			t.Fatal(err)
		}
	}
	sign := !o.Unsigned
	conf := fmt.Sprintf(`# written by the integration harness
topic_prefix = "org.example"
environment = "test"
relay_inbound = %q
sign_messages = %t
validate_signatures = %t
ssldir = %q
ca_cert_location = %q
crl_location = %q
zmq_linger = 1000
%s
[endpoints]
relay_outbound = [%q]
%s
[certnames]
"shell.%s" = "logger"
`, b.Relay, sign, sign, b.PKI, filepath.Join(b.PKI, "ca.crt"), filepath.Join(b.PKI, "crl.pem"),
		o.Extra, b.Outbound, endpointLines(o.Endpoints), b.Host)
	if err := os.WriteFile(b.Config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// Env is the environment for commands on this bus: ACKMSG_CONFIG points at its file.
func (b *Bus) Env() []string {
	return append(append(os.Environ(), b.ExtraEnv...), "ACKMSG_CONFIG="+b.Config)
}

// Start runs a command on the bus in the background; it is killed when the test ends.
func (b *Bus) Start(name string, args ...string) *Proc {
	return b.StartInput(nil, name, args...)
}

// StartInput is Start with standard input.
func (b *Bus) StartInput(stdin io.Reader, name string, args ...string) *Proc {
	b.t.Helper()
	return b.start(stdin, nil, nil, name, args...)
}

// StartTo is Start with standard output going to w only (e.g. a file that survives kill -9);
// Proc.Stdout stays empty.
func (b *Bus) StartTo(w io.Writer, name string, args ...string) *Proc {
	b.t.Helper()
	return b.start(nil, w, nil, name, args...)
}

// StartIn is Start inside the network namespace ns (ip netns exec, which execs the command, so
// signals reach it directly).
func (b *Bus) StartIn(ns string, stdin io.Reader, name string, args ...string) *Proc {
	b.t.Helper()
	return b.start(stdin, nil, []string{"ip", "netns", "exec", ns}, name, args...)
}

func (b *Bus) start(stdin io.Reader, stdout io.Writer, wrap []string, name string, args ...string) *Proc {
	b.t.Helper()
	p := &Proc{Name: name, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{})}
	argv := append(append(append([]string(nil), wrap...), filepath.Join(binDir, name)), args...)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = b.Dir
	p.cmd.Env = b.Env()
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if stdout != nil {
		p.cmd.Stdout = stdout // not kept in memory too: long runs write a lot
	}
	if err := p.cmd.Start(); err != nil {
		b.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.done)
	}()
	b.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if b.t.Failed() {
			b.t.Logf("%s stderr:\n%s", name, p.Stderr.String())
		}
	})
	return p
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// Run runs a command to completion (at most d) and returns its output and exit code.
func (b *Bus) Run(d time.Duration, stdin string, name string, args ...string) (stdout, stderr string, code int) {
	b.t.Helper()
	p := b.StartInput(strings.NewReader(stdin), name, args...)
	code = p.Wait(b.t, d)
	return p.Stdout.String(), p.Stderr.String(), code
}

// Wait waits at most d for the process to exit and returns its exit code.
func (p *Proc) Wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %s; stderr:\n%s", p.Name, d, p.Stderr.String())
		return -1
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	p.Wait(t, 10*time.Second)
}

// Stop sends SIGTERM and waits at most 10 s for the exit code.
func (p *Proc) Stop(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(t, 10*time.Second)
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitLog waits until the process's stderr contains s (a log line it prints once ready).
func (p *Proc) WaitLog(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !strings.Contains(p.Stderr.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%d) before logging %q; stderr:\n%s", p.Name, p.code, s, p.Stderr.String())
		case <-ctx.Done():
			t.Fatalf("%s did not log %q within 20s; stderr:\n%s", p.Name, s, p.Stderr.String())
		case <-time.After(5 * time.Millisecond): // polling a pipe's buffer
		}
	}
}

// Lines splits output into non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func sorted(s []string) []string { s = append([]string(nil), s...); sort.Strings(s); return s }

func endpointLines(eps map[string]string) string {
	var lines []string
	for k, v := range eps {
		lines = append(lines, fmt.Sprintf("%q = [%q]", k, v))
	}
	return strings.Join(sorted(lines), "\n")
}

// AckPublisher builds an in-process ack.Publisher from the bus's configuration file, publishing
// from the endpoints key name (config.RelayInboundKey: actively, through the relay) and signing as
// certname; edit, when not nil, adjusts the configuration first. It is closed when the test ends.
func (b *Bus) AckPublisher(name, certname string, edit func(*config.Config), opts ...ack.Option) *ack.Publisher {
	b.t.Helper()
	cfg, err := config.Load(config.LoadOptions{File: b.Config})
	if err != nil {
		b.t.Fatal(err)
	}
	cfg.Name, cfg.Certname, cfg.Active = name, certname, name == config.RelayInboundKey
	if edit != nil {
		edit(cfg)
	}
	p, err := config.NewAckPublisher(context.Background(), cfg, opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { p.Close() })
	return p
}
