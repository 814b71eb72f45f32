package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// conf writes a configuration without signing (so no certificate is needed to reach the store)
// and points ACKMSG_CONFIG at it.
func conf(t *testing.T, extra string) {
	t.Helper()
	t.Setenv("ACKMSG_NAME", "")
	path := filepath.Join(t.TempDir(), "ackmsg.toml")
	if err := os.WriteFile(path, []byte("topic_prefix = \"org.example\"\nenvironment = \"test\"\n"+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ACKMSG_CONFIG", path)
}

// Exit codes: no database is bad usage (2), naming archive.store and --store; a database that
// does not answer is a runtime error (1) naming the URL without its password.
func TestExitCodes(t *testing.T) {
	conf(t, "")
	var out, errs bytes.Buffer
	if code := run(nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "archive.store") || !strings.Contains(errs.String(), "--store") {
		t.Errorf("no store: exit %d, want 2 naming archive.store and --store\n%s", code, errs.String())
	}
	port, err := freeport.Pick() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	conf(t, fmt.Sprintf("[archive]\nstore = \"postgres://archive:s3cret@127.0.0.1:%d/archive?connect_timeout=2\"\n", port))
	errs.Reset()
	if code := run(nil, &out, &errs); code != 1 || !strings.Contains(errs.String(), "connecting") || strings.Contains(errs.String(), "s3cret") {
		t.Errorf("no database: exit %d, want 1 saying connecting, password masked\n%s", code, errs.String())
	}
	errs.Reset()
	if code := run([]string{"--store", "postgres://x@127.0.0.1:1/x", "extra"}, &out, &errs); code != 2 {
		t.Errorf("an extra argument: exit %d, want 2\n%s", code, errs.String())
	}
}
