package hub

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
)

// Environment variables an exec consumer's command gets, besides the hub's own and the
// configured env.
const (
	EnvTopic    = "ACKMSG_TOPIC"    // the full topic
	EnvMsgID    = "ACKMSG_MSG_ID"   // the msg_id
	EnvSigner   = "ACKMSG_SIGNER"   // the CN of the certificate that signed the message, or ""
	EnvConsumer = "ACKMSG_CONSUMER" // the consumer's name
	EnvAttempt  = "ACKMSG_ATTEMPT"  // 1 for the first run of this msg_id, 2 after one failure, ...
)

// outputLimit is how much of a command's stdout and stderr is kept for the log: the last bytes,
// where the error usually is.
const outputLimit = 4096

// pipeGrace bounds how long a finished command's output pipes may stay open (held by a child
// it left running in the background) before the hub closes them and kills its process group.
const pipeGrace = time.Second

// Exec is a consumer that runs a command for each message, as fedmsg-trigger does, but safely:
// the command is an argv list run without a shell, and the envelope goes to its standard input
// as one line of canonical JSON (never into a command line, so nothing in a message can inject
// shell code). Exit status 0 means processed; anything else, a failure to start, or being killed
// at the timeout means failed, and the error carries the end of the command's stderr.
//
// The command runs in its own process group; when the consumer's timeout passes (or the hub
// gives up at shutdown) the whole group is killed with SIGKILL, so `sh -c 'sleep 100'` leaves
// no sleep behind.
type Exec struct {
	name   string
	topics []string
	argv   []string
	env    []string
	dir    string
	log    *slog.Logger
}

// NewExec builds the exec consumer of a [[hub.consumers]] table of kind "exec".
func NewExec(hc config.HubConsumer, log *slog.Logger) (*Exec, error) {
	if len(hc.Command) == 0 || hc.Command[0] == "" {
		return nil, fmt.Errorf("hub: exec consumer %q: empty command", hc.Name)
	}
	e := &Exec{name: hc.Name, topics: slices.Clone(hc.Topics), argv: slices.Clone(hc.Command), dir: hc.Dir,
		log: cmp.Or(log, slog.Default()).With("consumer", hc.Name)}
	keys := make([]string, 0, len(hc.Env))
	for k := range hc.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.env = append(e.env, k+"="+hc.Env[k])
	}
	return e, nil
}

// Topics implements consumer.Consumer.
func (e *Exec) Topics() []string { return e.topics }

// Consume runs the command with the envelope on standard input.
func (e *Exec) Consume(ctx context.Context, m *message.Message) error {
	envelope, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("encoding the envelope: %w", err)
	}
	info, _ := consumer.InfoFrom(ctx)
	signer := ""
	if info.Delivery.Signer != nil {
		signer = info.Delivery.Signer.CN
	}
	vars := []string{
		EnvTopic + "=" + m.Topic(),
		EnvMsgID + "=" + m.MsgID(),
		EnvSigner + "=" + signer,
		EnvConsumer + "=" + e.name,
		EnvAttempt + "=" + strconv.Itoa(max(info.Attempt, 1)),
	}
	for _, v := range vars {
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("%s contains a NUL byte, which an environment variable cannot hold", strings.SplitN(v, "=", 2)[0])
		}
	}

	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Dir = e.dir
	// Later entries win: the hub's environment, then the configured env, then ours.
	cmd.Env = append(append(os.Environ(), e.env...), vars...)
	cmd.Stdin = bytes.NewReader(append(envelope, '\n'))
	var stdout, stderr tailBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = pipeGrace
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if errors.Is(err, exec.ErrWaitDelay) {
		// It exited 0 but left something holding its output open: clean up the group.
		_ = killGroup(cmd)
		e.log.Warn("command succeeded but left processes running with its output open; killed its process group",
			"msg_id", m.MsgID(), "command", e.argv[0])
		err = nil
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("killed (with its process group): %w", ctx.Err())
		}
		return &CommandError{Command: e.argv[0], Err: err, Stderr: stderr.String(), Took: took}
	}
	if out, errOut := stdout.String(), stderr.String(); out != "" || errOut != "" {
		e.log.Debug("command output", "msg_id", m.MsgID(), "stdout", out, "stderr", errOut)
	}
	return nil
}

// killGroup kills the command's process group (its pid: Setpgid made it the leader).
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// CommandError is an exec consumer's failure: the command, why it failed (an *exec.ExitError for
// a non-zero status) and the end of its stderr.
type CommandError struct {
	Command string
	Err     error
	Stderr  string // the last bytes written to stderr
	Took    time.Duration
}

func (e *CommandError) Error() string {
	s := fmt.Sprintf("command %s: %v after %s", e.Command, e.Err, e.Took.Round(time.Millisecond))
	if e.Stderr != "" {
		s += fmt.Sprintf("; stderr: %q", strings.TrimSpace(e.Stderr))
	}
	return s
}

func (e *CommandError) Unwrap() error { return e.Err }

// tailBuffer keeps the last outputLimit bytes written to it.
type tailBuffer struct {
	b       []byte
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= outputLimit {
		t.b = append(t.b[:0], p[len(p)-outputLimit:]...)
		t.dropped = true
		return n, nil
	}
	if over := len(t.b) + len(p) - outputLimit; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
		t.dropped = true
	}
	t.b = append(t.b, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	if t.dropped {
		return "..." + string(t.b)
	}
	return string(t.b)
}
