package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ackmsg-trigger runs its command once per message with the envelope on stdin, never through a
// shell: a message carrying shell syntax is data. --shell gives pipes; --wait-for batches.
func TestTrigger(t *testing.T) {
	b := NewBus(t, BusOptions{})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	pwned := filepath.Join(dir, "pwned")

	trig := b.Start("ackmsg-trigger", "--count", "2", "--timeout", "30", "--", "sh", "-c", `cat >> "$0"; echo "$ACKMSG_TOPIC" >> "$0"`, out)
	trig.WaitLog(t, "endpoint connected")
	evil := `'; touch ` + pwned + `; echo '`
	if _, stderr, code := b.Run(20*time.Second, "hello\n"+evil+"\n", "ackmsg-logger"); code != 0 {
		t.Fatalf("logger: exit %d\n%s", code, stderr)
	}
	if code := trig.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("trigger exit %d\n%s", code, trig.Stderr.String())
	}
	data, _ := os.ReadFile(out)
	lines := Lines(string(data))
	if len(lines) != 4 || !strings.Contains(lines[0], `"log":"hello"`) || lines[1] != "org.example.test.logger.log" ||
		!strings.Contains(lines[2], "touch ") {
		t.Fatalf("command output:\n%s", data)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a message's text was run as a shell command")
	}

	// --shell, and --wait-for: both messages queued, then run in one burst.
	out2 := filepath.Join(dir, "out2")
	trig = b.Start("ackmsg-trigger", "--shell", "--command", "grep -o '\"log\":\"[a-z]*\"' >> "+out2,
		"--wait-for", "0.2", "--count", "2", "--timeout", "30")
	trig.WaitLog(t, "endpoint connected")
	if _, stderr, code := b.Run(20*time.Second, "one\ntwo\n", "ackmsg-logger"); code != 0 {
		t.Fatalf("logger: exit %d\n%s", code, stderr)
	}
	if code := trig.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("trigger exit %d\n%s", code, trig.Stderr.String())
	}
	if data, _ := os.ReadFile(out2); string(data) != "\"log\":\"one\"\n\"log\":\"two\"\n" {
		t.Fatalf("--shell output %q", data)
	}

	if _, stderr, code := b.Run(10*time.Second, "", "ackmsg-trigger"); code != 2 || !strings.Contains(stderr, "no command") {
		t.Fatalf("no command: exit %d\n%s", code, stderr)
	}
}
