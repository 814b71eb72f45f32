package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// evalScript evaluates fedmsg files as fedmsg/config.py does and prints the result as JSON; see
// its header comment for the format.
//
//go:embed fedmsg_config.py
var evalScript string

// maxEvalOutput bounds what the script may print: far above any real configuration.
const maxEvalOutput = 64 << 20

// unrepresentable is the key of the object the script puts in place of a value JSON cannot hold.
const unrepresentable = "__ackmsg_unrepresentable__"

// evaluated is the merged fedmsg configuration as the script prints it.
type evaluated struct {
	// Files are the files read, in merge order.
	Files []string `json:"files"`
	// Config is the merged config dict; numbers are json.Number.
	Config map[string]any `json:"config"`
	// Origins lists, for each top-level key, the files that set it, in order.
	Origins map[string][]string `json:"origins"`
	// EntryOrigins gives, for each dict-valued key, the file that last set each entry.
	EntryOrigins map[string]map[string]string `json:"entry_origins"`
	// Error is set when a file failed to compile or run.
	Error *pyError `json:"error"`
}

// pyError is a file that failed: a syntax error, an exception, or no config dict.
type pyError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e *pyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Message)
}

// errNoPython says what is needed when no interpreter is found.
var errNoPython = errors.New("fedmsg.d files are Python programs, and ackmsg-config import evaluates them " +
	"with the system python3 (fedmsg itself is not needed); install Python 3 (Debian/Ubuntu: " +
	"apt-get install python3; Fedora: dnf install python3), or name an interpreter with --python")

// findPython resolves the interpreter: a name is looked up in $PATH.
func findPython(python string) (string, error) {
	p, err := exec.LookPath(python)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) && !strings.Contains(python, "/") {
			return "", fmt.Errorf("%s not found in $PATH: %w", python, errNoPython)
		}
		return "", fmt.Errorf("%s: %v: %w", python, unwrapExec(err), errNoPython)
	}
	return p, nil
}

func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// limitedBuffer keeps at most max bytes and fails the write beyond, which ends the child's
// output instead of filling memory.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

var errOutputTooLarge = errors.New("output too large")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}

// evaluate runs the script on paths with python, within timeout. Its own standard error (what the
// files print, Python warnings) is returned as pyStderr for the caller to show.
func evaluate(ctx context.Context, python string, paths []string, timeout time.Duration) (ev *evaluated, pyStderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"-c", evalScript}, paths...)
	cmd := exec.CommandContext(ctx, python, args...)
	// Its own process group, killed as a whole: a file could start children that would otherwise
	// keep the pipes open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	stdout := &limitedBuffer{max: maxEvalOutput}
	stderr := &limitedBuffer{max: 1 << 20}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	pyStderr = stderr.String()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, pyStderr, fmt.Errorf("%s did not finish evaluating %s within %v (a file may wait on the "+
			"network or loop); give more with --timeout", python, strings.Join(paths, " "), timeout)
	}
	if runErr != nil {
		msg := strings.TrimSpace(pyStderr)
		if msg == "" {
			msg = "no message"
		}
		return nil, "", fmt.Errorf("%s failed (%v): %s", python, runErr, lastLines(msg, 10))
	}
	ev = new(evaluated)
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(ev); err != nil {
		return nil, pyStderr, fmt.Errorf("%s printed no configuration (%v); its output began %q", python, err, head(stdout.String(), 200))
	}
	if ev.Error != nil {
		return nil, pyStderr, ev.Error
	}
	return ev, pyStderr, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
