package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/pgtest"
	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// The README is executable documentation: every ```sh block in it is run, in document order, in
// one bash session in an empty scratch directory, with the freshly built commands on PATH, as a
// user who follows it literally would. Loopback ports are replaced by free ones so runs do not
// collide. The run must succeed, leave no process behind (each section stops what it started)
// and leave the scratch directory empty (the tour deletes its own directory).
//
// A block that must not run here (the first screen's make commands, which CI runs itself) is
// preceded by a line `<!-- readme-test: skip REASON -->`.
//
// ACKMSG_README_RUNS=N runs the whole README N times in a row (the issue asks for 20 of 20).

const readmeBudget = 3 * time.Minute

// amqpPort is the broker port the README names (RabbitMQ's standard one).
const amqpPort = "5672"

// readmePostgres is the database URL the README names; here it is a fresh database of the
// tests' throwaway PostgreSQL.
const readmePostgres = "postgres://archive@127.0.0.1:5432/archive"

// readmeBlock is one runnable shell block of the README.
type readmeBlock struct {
	line int // 1-based line of the opening fence
	text string
}

var skipMarker = regexp.MustCompile(`^<!--\s*readme-test:\s*skip\s+(.+?)\s*-->$`)

// readmeBlocks extracts the ```sh blocks of a Markdown document, without the skipped ones.
func readmeBlocks(doc []byte) ([]readmeBlock, []string, error) {
	var blocks []readmeBlock
	var skipped []string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	n, skipNext := 0, ""
	for sc.Scan() {
		n++
		line := sc.Text()
		if m := skipMarker.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			skipNext = m[1]
			continue
		}
		fence := strings.TrimSpace(line)
		if !strings.HasPrefix(fence, "```") {
			if strings.TrimSpace(line) != "" {
				skipNext = ""
			}
			continue
		}
		lang := strings.TrimPrefix(fence, "```")
		start := n
		var body strings.Builder
		closed := false
		for sc.Scan() {
			n++
			if strings.TrimSpace(sc.Text()) == "```" {
				closed = true
				break
			}
			body.WriteString(sc.Text())
			body.WriteByte('\n')
		}
		if !closed {
			return nil, nil, fmt.Errorf("README line %d: unterminated code block", start)
		}
		switch {
		case lang != "sh" && lang != "bash" && lang != "shell":
		case skipNext != "":
			skipped = append(skipped, fmt.Sprintf("line %d: %s", start, skipNext))
		default:
			blocks = append(blocks, readmeBlock{line: start, text: body.String()})
		}
		skipNext = ""
	}
	return blocks, skipped, sc.Err()
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:([0-9]{2,5})\b`)

// readmeScript joins the blocks into one bash script, each loopback port replaced by a free one
// (the same README port always maps to the same free port).
func readmeScript(t *testing.T, blocks []readmeBlock) string {
	ports := map[string]string{}
	for _, b := range blocks {
		if strings.Contains(b.text, "127.0.0.1:"+amqpPort+"/") {
			// The README's broker is RabbitMQ on its standard port; here it is the tests'
			// throwaway node, wherever that listens.
			u, err := neturl.Parse(rmqtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			ports[amqpPort] = u.Port()
			break
		}
	}
	dsn := ""
	for _, b := range blocks {
		if strings.Contains(b.text, readmePostgres) {
			dsn = pgtest.Start(t)
			break
		}
	}
	var s strings.Builder
	s.WriteString("set -euo pipefail\n")
	s.WriteString(`trap 'echo "README test: command failed (status $?) at script line $LINENO: $BASH_COMMAND" >&2' ERR` + "\n")
	for _, b := range blocks {
		text := strings.ReplaceAll(b.text, readmePostgres, "\x00pg\x00")
		text = loopbackPort.ReplaceAllStringFunc(text, func(m string) string {
			port := loopbackPort.FindStringSubmatch(m)[1]
			if _, ok := ports[port]; !ok {
				ports[port] = strconv.Itoa(testbus.FreePort(t))
			}
			return "127.0.0.1:" + ports[port]
		})
		text = strings.ReplaceAll(text, "\x00pg\x00", dsn)
		fmt.Fprintf(&s, "echo '>>> README block at line %d' >&2\n%s", b.line, text)
	}
	return s.String()
}

func TestREADME(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testbus.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, skipped, err := readmeBlocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 2 {
		t.Fatalf("README has %d runnable sh blocks; the tour alone has more", len(blocks))
	}
	for _, s := range skipped {
		t.Logf("not run here: README %s", s)
	}
	runs := 1
	if v := os.Getenv("ACKMSG_README_RUNS"); v != "" {
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("ACKMSG_README_RUNS=%q: want a positive count", v)
		}
	}
	for i := range runs {
		if !runREADME(t, readmeScript(t, blocks)) {
			t.Fatalf("README run %d of %d failed", i+1, runs)
		}
	}
	if runs > 1 {
		t.Logf("README followed literally %d times out of %d", runs, runs)
	}
}

// runREADME runs the script in a fresh scratch directory and reports whether it passed.
func runREADME(t *testing.T, script string) bool {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), readmeBudget)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = readmeEnv(dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout, kill the whole group: the script's background processes too.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output goes to a file, not a pipe: a process the README leaves running would hold a pipe
	// open and keep Run from returning.
	out, err := os.Create(filepath.Join(t.TempDir(), "readme.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	runErr := cmd.Run()
	took := time.Since(start)
	pgid := cmd.Process.Pid

	ok := true
	if runErr != nil {
		ok = false
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("README did not finish within %s", readmeBudget)
		} else {
			t.Errorf("README failed: %v", runErr)
		}
	}
	// Every process the README started must be gone: each section stops what it started.
	// Processes stopped by a signal just now may take a moment to exit.
	if left := waitGroupGone(pgid, 15*time.Second); left != "" {
		ok = false
		t.Errorf("the README leaves processes running after its last block:\n%s", left)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if entries, err := os.ReadDir(dir); err != nil {
		t.Error(err)
	} else if len(entries) > 0 {
		ok = false
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the README leaves files in the directory it started in: %v", names)
	}
	if !ok {
		text, _ := os.ReadFile(out.Name())
		t.Logf("README output:\n%s", text)
	} else {
		t.Logf("README ran in %s", took.Round(time.Millisecond))
	}
	return ok
}

// readmeEnv is the environment of a user who built the commands and put them on PATH, with no
// ACKMSG_* variable of the test's own.
func readmeEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ACKMSG_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// waitGroupGone waits until no live process is left in process group pgid and returns "" then,
// or a listing of what is still running when the deadline passes. Zombies do not count: an
// orphan that exited is reaped by init, on its own time.
func waitGroupGone(pgid int, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		left := liveInGroup(pgid)
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(left, "\n")
		}
		time.Sleep(20 * time.Millisecond) // polling for exit: nothing to be notified by
	}
}

// liveInGroup lists the processes of group pgid that are not zombies, as "pid command".
func liveInGroup(pgid int) []string {
	entries, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		left = append(left, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return left
}
