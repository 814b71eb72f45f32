package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles creates files (name -> content) under dir, creating dir, and returns dir.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// env returns a Getenv over a fixed map.
func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// testOptions points the search at two fresh (absent) directories under a temp dir, and an empty
// environment, so that tests never see the machine's /etc/ackmsg.d or ./ackmsg.d.
func testOptions(t *testing.T) (LoadOptions, string, string) {
	t.Helper()
	root := t.TempDir()
	sys, local := filepath.Join(root, "etc"), filepath.Join(root, "local")
	return LoadOptions{SystemDir: sys, LocalDir: local, Getenv: env(nil)}, sys, local
}

// mustLoad loads and fails the test on any error.
func mustLoad(t *testing.T, opts LoadOptions) *Config {
	t.Helper()
	c, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// wantErr fails unless err is non-nil and its text contains every want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not contain %q", err, w)
		}
	}
}

// settings returns c without its provenance fields, for comparisons.
func settings(c *Config) Config {
	s := *c
	s.Sources, s.Ignored, s.origins = nil, nil, nil
	return s
}

func equalSettings(t *testing.T, got, want *Config) {
	t.Helper()
	if g, w := settings(got), settings(want); !reflect.DeepEqual(g, w) {
		t.Errorf("configs differ:\n got %+v\nwant %+v", g, w)
	}
}
