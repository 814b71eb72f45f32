package main

// ackmsg in separate processes: the commands built from this repository, started on a bus of
// their own (acked publish to ackmsg-tail --ack recipients, a cold CLI publish).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/config"
)

// procs are the commands built from this repository and the processes started from them.
type procs struct {
	bin, dir string
	mu       sync.Mutex
	running  []*running
}

// running is a started process and a channel closed when it has exited.
type running struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// track starts cmd and keeps it for stopAll; exited is closed once it has exited.
func (p *procs) track(cmd *exec.Cmd) (exited chan struct{}, err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited = make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.running = append(p.running, &running{cmd, exited})
	p.mu.Unlock()
	return exited, nil
}

// buildCommands builds ./cmd/... of the repository at root into dir.
func buildCommands(root, dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/...")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// writeConfig writes a TOML configuration file for the commands.
func (p *procs) writeConfig(k *pki, name, extra string, endpoints map[string]string) (string, error) {
	var eps []string
	for key, addr := range endpoints {
		eps = append(eps, fmt.Sprintf("%q = [%q]", key, addr))
	}
	conf := fmt.Sprintf(`# written by tools/bench
topic_prefix = "org.example"
environment = "test"
sign_messages = true
validate_signatures = true
ssldir = %q
ca_cert_location = %q
crl_location = %q
zmq_linger = 1000
%s
[endpoints]
%s
[certnames]
"shell.%s" = "logger"
`, k.dir, filepath.Join(k.dir, "ca.crt"), filepath.Join(k.dir, "crl.pem"), extra, strings.Join(eps, "\n"),
		config.ShortHostname())
	path := filepath.Join(p.dir, name+".toml")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}

// logBuffer collects a process's stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a command in the background with ACKMSG_CONFIG=conf and waits until its stderr
// shows ready (a log line it prints once connected); output goes nowhere.
func (p *procs) start(conf, ready, name string, args ...string) (*exec.Cmd, error) {
	return p.startTo(nil, conf, ready, name, args...)
}

// startTo is start with the command's standard output written to stdout (nil: nowhere).
func (p *procs) startTo(stdout io.Writer, conf, ready, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
	cmd.Dir = p.dir
	cmd.Stdout = stdout
	logs := &logBuffer{}
	cmd.Stderr = logs
	exited, err := p.track(cmd)
	if err != nil {
		return nil, err
	}
	deadline := time.After(30 * time.Second)
	for !strings.Contains(logs.String(), ready) {
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited before %q:\n%s", name, ready, logs)
		case <-deadline:
			return nil, fmt.Errorf("%s did not log %q within 30s:\n%s", name, ready, logs)
		case <-time.After(5 * time.Millisecond): // polling a pipe's buffer
		}
	}
	return cmd, nil
}

// stopAll kills every process started (by its own pid) and waits for it.
func (p *procs) stopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.running {
		r.cmd.Process.Kill()
	}
	for _, r := range p.running {
		<-r.exited
	}
	p.running = nil
}

// procAcked is acked publish latency from this process to n ackmsg-tail --ack processes, each
// binding its own endpoint (direct, no relay), samples publishes one at a time, with fig's
// crypto chain measured between them.
func procAcked(p *procs, fig keyed, n, samples int) ([]time.Duration, *cryptoFloor, uint64, error) {
	k := fig.k
	defer p.stopAll()
	eps := map[string]string{"pub.host": freeAddr()}
	var names []string
	for i := range n {
		names = append(names, subName(i))
		eps[subName(i)+".host"] = freeAddr()
	}
	conf, err := p.writeConfig(k, fmt.Sprintf("direct%d", n), "", eps)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, name := range names {
		if _, err := p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", name,
			"--name", name+".host", "--topic", benchTopic); err != nil {
			return nil, nil, 0, err
		}
	}
	cfg, err := config.Load(config.LoadOptions{File: conf})
	if err != nil {
		return nil, nil, 0, err
	}
	cfg.Name, cfg.Certname, cfg.ZMQLinger = "pub.host", "pub", 0
	pub, err := config.NewAckPublisher(context.Background(), cfg)
	if err != nil {
		return nil, nil, 0, err
	}
	defer pub.Close()
	b := &bus{pub: pub, names: names}
	for range 5 {
		if err := b.publish(); err != nil {
			return nil, nil, 0, err
		}
	}
	return ackedLatency(b, samples, fig.kit)
}

// coldCLI times `ackmsg-logger --recipients sub01 --message m` from process start to exit, runs
// times, with a relay and an acking ackmsg-tail already running.
func coldCLI(p *procs, k *pki, runs int) ([]time.Duration, error) {
	defer p.stopAll()
	inbound, outbound := freeAddr(), freeAddr()
	conf, err := p.writeConfig(k, "relay", fmt.Sprintf("relay_inbound = %q", inbound),
		map[string]string{"relay_outbound": outbound})
	if err != nil {
		return nil, err
	}
	if _, err := p.start(conf, "relay ready", "ackmsg-relay"); err != nil {
		return nil, err
	}
	if _, err := p.start(conf, "endpoint connected", "ackmsg-tail", "--ack", "--json", "--certname", "sub01",
		"--topic", "org.example.test.logger"); err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, runs)
	for i := range runs + 1 {
		cmd := exec.Command(filepath.Join(p.bin, "ackmsg-logger"), "--recipients", "sub01", "--message", "m",
			"--ack-timeout", "20")
		cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
		cmd.Dir = p.dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("ackmsg-logger: %v\n%s", err, stderr.String())
		}
		if i > 0 { // the first run warms the page cache and the relay's connection
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}

// coldStart times `ackmsg-logger --help`: starting the binary and exiting, nothing else.
func coldStart(p *procs, runs int) ([]time.Duration, error) {
	var lat []time.Duration
	for range runs {
		t0 := time.Now()
		cmd := exec.Command(filepath.Join(p.bin, "ackmsg-logger"), "--help")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}
