package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// Each broker tool's --help shows its own synopsis, with its name once; ackmsg-bridge --help
// lists them.
func TestHelpOutputs(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"--help"}, &out, &errs); code != 0 {
		t.Fatalf("--help: exit %d\n%s", code, errs.String())
	}
	root := out.String()
	for _, c := range []struct{ sub, usage string }{
		{"queue", "queue NAME --bind KEY... [flags]"},
		{"send", "send KEY JSON [flags]"},
		{"get", "get NAME [--count N] [--timeout SECONDS] [flags]"},
	} {
		if !strings.Contains(root, "\n  "+c.sub+" ") {
			t.Errorf("ackmsg-bridge --help does not list %s:\n%s", c.sub, root)
		}
		out.Reset()
		if code := run([]string{c.sub, "--help"}, &out, &errs); code != 0 {
			t.Fatalf("%s --help: exit %d\n%s", c.sub, code, errs.String())
		}
		if h := out.String(); !strings.Contains(h, "\nUsage: ackmsg-bridge "+c.usage+"\n") {
			t.Errorf("ackmsg-bridge %s --help:\n%s", c.sub, h)
		}
	}
}

// Global flags may come before a broker tool's name: the tool runs (here it fails to connect,
// exit 1) instead of a usage error.
func TestGlobalFlagsBeforeATool(t *testing.T) {
	port, err := freeport.Pick() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port)
	for _, args := range [][]string{
		{"--url", url, "queue", "q", "--bind", "k"},
		{"--url=" + url, "--exchange", "ex", "send", "k", "{}"},
		{"--url", url, "--count", "2", "get", "q", "--timeout", "1"},
	} {
		var out, errs bytes.Buffer
		code := run(args, &out, &errs)
		if code != 1 || !strings.Contains(errs.String(), "connecting to the broker") {
			t.Errorf("ackmsg-bridge %q: exit %d, want 1 from the tool\n%s", args, code, errs.String())
		}
	}
}
