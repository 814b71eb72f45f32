package main

// The publisher processes of the publishers curve (load.go): ackmsg-logger processes through the
// relay, fed one line at a time on their standard input, and what their log says.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// loggerProc is a running ackmsg-logger whose standard input the bench writes.
type loggerProc struct {
	pid    int
	stdin  io.WriteCloser
	log    *loggerLog
	exited chan struct{}
	lines  int // lines written so far
}

// loggerLog reads a logger's stderr: each "all recipients ACKed" line's took goes on acks, and
// the last lines are kept for an error message.
type loggerLog struct {
	acks    chan time.Duration
	mu      sync.Mutex
	partial []byte
	last    []string
}

// Write parses the complete lines of p.
func (l *loggerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if !strings.Contains(line, `msg="all recipients ACKed"`) {
			l.last = append(l.last[max(0, len(l.last)-4):], line)
			continue
		}
		_, rest, _ := strings.Cut(line, " took=")
		took, err := time.ParseDuration(strings.Fields(rest + " ")[0])
		if err != nil {
			l.last = append(l.last[max(0, len(l.last)-4):], "unparsed: "+line)
			took = -1 // the driver fails on it
		}
		select {
		case l.acks <- took:
		default: // only the driver's own line is ever outstanding; a surplus is a failure it sees below
			l.last = append(l.last[max(0, len(l.last)-4):], "ACK line not awaited: "+line)
		}
	}
}

// String is the last lines the logger logged.
func (l *loggerLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// startLogger starts ackmsg-logger with args (and --log-level info) on conf, registered with p so
// that stopAll ends it.
func (p *procs) startLogger(conf string, args ...string) (*loggerProc, error) {
	cmd := exec.Command(filepath.Join(p.bin, "ackmsg-logger"), append(args, "--log-level", "info")...)
	cmd.Env = append(os.Environ(), "ACKMSG_CONFIG="+conf)
	cmd.Dir = p.dir
	log := &loggerLog{acks: make(chan time.Duration, 4)}
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	exited, err := p.track(cmd)
	if err != nil {
		return nil, err
	}
	return &loggerProc{pid: cmd.Process.Pid, stdin: stdin, log: log, exited: exited}, nil
}

// send writes the next line: a body about the size of benchBody's.
func (l *loggerProc) send() error {
	l.lines++
	if _, err := fmt.Fprintf(l.stdin, "bench line %041d\n", l.lines); err != nil {
		return fmt.Errorf("ackmsg-logger %d: %w\n%s", l.pid, err, l.log)
	}
	return nil
}

// acked sends a line and waits until the logger logs that all its recipients ACKed it; it returns
// the time the logger says it took.
func (l *loggerProc) acked() (time.Duration, error) {
	if err := l.send(); err != nil {
		return 0, err
	}
	select {
	case took := <-l.log.acks:
		if took < 0 {
			return 0, fmt.Errorf("ackmsg-logger %d: a line without a duration:\n%s", l.pid, l.log)
		}
		return took, nil
	case <-l.exited:
		return 0, fmt.Errorf("ackmsg-logger %d exited:\n%s", l.pid, l.log)
	case <-time.After(benchWithin + 5*time.Second):
		return 0, fmt.Errorf("ackmsg-logger %d: no ACK in %s:\n%s", l.pid, benchWithin+5*time.Second, l.log)
	}
}

// grow starts acked and plain loggers until there are n of each, and warms each: an acked line
// ACKed, a plain line printed by every tail (each logger's first message waits for the relay).
func (lb *loadBus) grow(n int) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	plainFrom := len(lb.plainLog)
	for len(lb.ackedLog) < n {
		l, err := lb.p.startLogger(lb.conf, "--recipients", strings.Join(lb.names, ","), "--ack-timeout", "30")
		if err != nil {
			return err
		}
		lb.ackedLog = append(lb.ackedLog, l)
		wg.Go(func() {
			if _, err := l.acked(); err != nil {
				fail(err)
			}
		})
	}
	for len(lb.plainLog) < n {
		l, err := lb.p.startLogger(lb.conf)
		if err != nil {
			return err
		}
		lb.plainLog = append(lb.plainLog, l)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if plainFrom == n {
		return nil
	}
	_, _, err := lb.plainRun(n-plainFrom, func() error {
		for _, l := range lb.plainLog[plainFrom:] {
			if err := l.send(); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// processes measures the first n logger processes: closed-loop acked lines for d, then plainN
// plain lines split between the plain ones.
func (lb *loadBus) processes(n int, d time.Duration, plainN int) (loadFigures, error) {
	var f loadFigures
	lats := make([][]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var pids []int
	for _, l := range lb.ackedLog[:n] {
		pids = append(pids, l.pid)
	}
	err := lb.cpuPerMessage(&f, pids, func() (int, error) {
		start := time.Now()
		for g, l := range lb.ackedLog[:n] {
			wg.Go(func() {
				for time.Since(start) < d {
					took, err := l.acked()
					if err != nil {
						errs[g] = err
						return
					}
					lats[g] = append(lats[g], took)
				}
			})
		}
		wg.Wait()
		f.lat, f.acked = joinLatencies(lats, time.Since(start))
		return len(f.lat), errors.Join(errs...)
	})
	if err != nil {
		return f, err
	}
	if err := lb.quiet(); err != nil {
		return f, err
	}
	f.plain, f.plainBusCPU, err = lb.plainRun(plainN, func() error {
		for g, l := range lb.plainLog[:n] {
			wg.Go(func() {
				for range share(plainN, n, g) {
					if err := l.send(); err != nil {
						errs[g] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	return f, err
}
