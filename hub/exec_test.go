package hub

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testMsg(t *testing.T, topic string, body any) *message.Message {
	t.Helper()
	m, err := message.Build(topic, body, 1, "u", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func execConsumer(t *testing.T, argv ...string) *Exec {
	t.Helper()
	hc := config.DefaultHubConsumer("runner", config.HubKindExec)
	hc.Topics, hc.Command, hc.Dir = []string{"#"}, argv, t.TempDir()
	hc.Env = config.StringMap{"GREETING": "hello", config.EnvName: "x"}
	e, err := NewExec(hc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func infoCtx(ctx context.Context, m *message.Message, attempt int) context.Context {
	return consumer.ContextWithInfo(ctx, consumer.Info{Consumer: "runner", Attempt: attempt,
		Delivery: consumer.Delivery{Topic: m.Topic(), Message: m, Signer: &certs.Identity{CN: "pub01"}}})
}

// The envelope arrives on stdin, untouched by any shell, with the ACKMSG_* variables; nothing in
// the message is interpreted.
func TestExecStdinAndEnvironmentNoShell(t *testing.T) {
	e := execConsumer(t, "sh", "-c", `cat > stdin.json; env | grep -E '^(ACKMSG_|GREETING=)' | sort > env.txt`)
	evil := `'; touch pwned; echo '$(touch pwned2)` + "`touch pwned3`\n"
	m := testMsg(t, "org.example.test.x", map[string]any{"log": evil})
	if err := e.Consume(infoCtx(context.Background(), m, 2), m); err != nil {
		t.Fatal(err)
	}
	stdin, _ := os.ReadFile(filepath.Join(e.dir, "stdin.json"))
	want, _ := m.Marshal()
	if string(stdin) != string(want)+"\n" {
		t.Fatalf("stdin %q\nwant %q", stdin, string(want)+"\n")
	}
	env, _ := os.ReadFile(filepath.Join(e.dir, "env.txt"))
	for _, kv := range []string{"ACKMSG_TOPIC=org.example.test.x", "ACKMSG_MSG_ID=" + m.MsgID(), "ACKMSG_SIGNER=pub01",
		"ACKMSG_CONSUMER=runner", "ACKMSG_ATTEMPT=2", "GREETING=hello"} {
		if !strings.Contains(string(env), kv+"\n") {
			t.Errorf("environment lacks %s:\n%s", kv, env)
		}
	}
	for _, f := range []string{"pwned", "pwned2", "pwned3"} {
		if testbus.Exists(filepath.Join(e.dir, f)) {
			t.Errorf("the message ran a shell command (%s exists)", f)
		}
	}
}

func TestExecFailureCarriesStatusAndStderr(t *testing.T) {
	e := execConsumer(t, "sh", "-c", `cat >/dev/null; echo "disk on fire" >&2; exit 3`)
	m := testMsg(t, "a.b", 1)
	err := e.Consume(context.Background(), m)
	var ce *CommandError
	var ee *exec.ExitError
	if !errors.As(err, &ce) || !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("err = %#v, want a CommandError with exit status 3", err)
	}
	if !strings.Contains(err.Error(), `stderr: "disk on fire"`) || ce.Command != "sh" {
		t.Fatalf("error %q", err)
	}

	missing := execConsumer(t, filepath.Join(t.TempDir(), "no-such-program"))
	if err := missing.Consume(context.Background(), m); err == nil || !strings.Contains(err.Error(), "no-such-program") {
		t.Fatalf("missing program: %v", err)
	}
}

// alive reports whether pid exists and is not a zombie (a killed orphan may wait for its reaper).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// At the timeout the command's whole process group is killed: the shell and its sleep.
func TestExecTimeoutKillsTheProcessGroup(t *testing.T) {
	e := execConsumer(t, "sh", "-c", `sleep 100 & echo $! > sleep.pid; wait`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.Consume(ctx, testMsg(t, "a.b", 1))
	if err == nil || !strings.Contains(err.Error(), "killed (with its process group)") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want killed at the deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("returned after %s", took)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "sleep.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testbus.Eventually(t, 5*time.Second, "the sleep to be killed", func() bool { return !alive(pid) })
}

// A command that exits 0 but leaves a child holding its output open succeeds after a grace
// period, and the child is killed.
func TestExecLeftoverChildIsKilled(t *testing.T) {
	e := execConsumer(t, "sh", "-c", `sleep 100 & echo $! > sleep.pid; exit 0`)
	if err := e.Consume(context.Background(), testMsg(t, "a.b", 1)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "sleep.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	testbus.Eventually(t, 5*time.Second, "the leftover sleep to be killed", func() bool { return !alive(pid) })
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	b.Write([]byte("abc"))
	if b.String() != "abc" {
		t.Fatalf("%q", b.String())
	}
	b.Write([]byte(strings.Repeat("x", outputLimit-2)))
	if s := b.String(); !strings.HasPrefix(s, "...bc") || len(s) != outputLimit+3 {
		t.Fatalf("len %d prefix %q", len(s), s[:6])
	}
	b.Write([]byte(strings.Repeat("y", 2*outputLimit)))
	if s := b.String(); s != "..."+strings.Repeat("y", outputLimit) {
		t.Fatalf("big write kept %d bytes", len(s))
	}
}
