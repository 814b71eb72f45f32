package main

import (
	"bytes"
	"strings"
	"testing"
)

var commands = []string{"serve", "list", "stats", "retry", "drop", "flush", "wait"}

// help runs ackmsg-outbox with args as the binary does and returns what it printed.
func help(t *testing.T, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(args, &out, &errs); code != 0 {
		t.Fatalf("ackmsg-outbox %q: exit %d\n%s", args, code, errs.String())
	}
	return out.String()
}

// The command's --help names every command in its synopsis and list; each command's --help
// shows its own synopsis, with its name once.
func TestHelpOutputs(t *testing.T) {
	root := help(t, "--help")
	usage := "\nUsage: ackmsg-outbox " + strings.Join(commands, "|") + " [flags]\n"
	if !strings.Contains(root, usage) {
		t.Errorf("ackmsg-outbox --help has no %q:\n%s", usage, root)
	}
	if h := help(t, "help"); h != root {
		t.Errorf("ackmsg-outbox help differs from --help:\n%s", h)
	}
	for _, sub := range commands {
		if !strings.Contains(root, "\n  "+sub+" ") {
			t.Errorf("ackmsg-outbox --help does not list %s", sub)
		}
		for _, args := range [][]string{{sub, "--help"}, {"--help", sub}, {"help", sub}} {
			h := help(t, args...)
			if !strings.Contains(h, "\nUsage: ackmsg-outbox "+sub+" ") || strings.Contains(h, "ackmsg-outbox "+sub+" "+sub) ||
				strings.Contains(h, "serve|list") {
				t.Errorf("ackmsg-outbox %s:\n%s", strings.Join(args, " "), h)
			}
		}
	}
}

// Flags may come before the command's name.
func TestFlagsBeforeTheCommand(t *testing.T) {
	var out, errs bytes.Buffer
	code := run([]string{"--config", "/nonexistent.toml", "stats", "--json"}, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "ackmsg-outbox stats: configuration") {
		t.Fatalf("exit %d, want 1 from stats reading its configuration:\n%s", code, errs.String())
	}
	errs.Reset()
	if code := run([]string{"--config", "x.toml"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "want a command") {
		t.Fatalf("no command: exit %d\n%s", code, errs.String())
	}
}
