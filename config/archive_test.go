package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestArchiveLoad(t *testing.T) {
	if a := DefaultConfig().Archive; a.BatchSize != 512 || a.QueryTimeout != 5 || a.CountLimit != 10000 || a.Store != "" {
		t.Fatalf("archive defaults %+v", a)
	}
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10-archive.toml": "[archive]\nstore = \"postgres://archive:s3cret@db/archive\"\n" +
		"http_address = \"127.0.0.1:9114\"\nbatch_size = 100\nretention = 86400\ntopic = \"org.fedoraproject\"\n"})
	c := mustLoad(t, opts)
	a := c.Archive
	if a.Store != "postgres://archive:s3cret@db/archive" || a.HTTPAddress != "127.0.0.1:9114" || a.BatchSize != 100 ||
		a.Retention != 86400 || a.Topic != "org.fedoraproject" || a.QueryTimeout != 5 {
		t.Fatalf("archive %+v", a)
	}
	if src := c.Source("archive.batch_size"); !strings.HasSuffix(src, "10-archive.toml") {
		t.Errorf("source of archive.batch_size = %q", src)
	}
	var b bytes.Buffer
	if err := c.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "[archive]\n  store = \"postgres://archive:xxxxx@db/archive\"") || strings.Contains(b.String(), "s3cret") {
		t.Errorf("--print-config lacks the archive table, or shows the password:\n%s", b.String())
	}
}

func TestArchiveErrors(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"unknown key", "[archive]\nbatch_sise = 3\n", []string{"archive.batch_sise", "did you mean batch_size?"}},
		{"batch size", "[archive]\nbatch_size = 0\n", []string{"archive.batch_size", "below 1"}},
		{"query timeout", "[archive]\nquery_timeout = 0\n", []string{"archive.query_timeout", "at least 0.001"}},
		{"retention", "[archive]\nretention = -1\n", []string{"archive.retention", "0 or a positive"}},
		{"http address", "[archive]\nhttp_address = \"nope\"\n", []string{"archive.http_address", "want host:port"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"a.toml": c.file})
			_, err := Load(opts)
			wantErr(t, err, c.want...)
		})
	}
}
