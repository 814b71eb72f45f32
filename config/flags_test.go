package config

import (
	"bytes"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newFlags(t *testing.T, opts LoadOptions, args ...string) *Flags {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f := RegisterFlags(fs)
	f.Options = opts
	if err := fs.Parse(args); err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return f
}

func TestFlagsPrecedence(t *testing.T) {
	opts, sys, local := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
topic_prefix = "org.sys"
environment = "prod"
name = "svc.sys"
high_water_mark = 5
zmq_linger = 7
[endpoints]
"svc.sys" = "tcp://sys:1"
"svc.flag" = "tcp://flag:1"
`})
	writeFiles(t, local, map[string]string{"10.toml": `environment = "stg"`})
	opts.Getenv = env(map[string]string{EnvName: "svc.env"})

	t.Run("no flags: files and environment", func(t *testing.T) {
		f := newFlags(t, opts)
		_, err := f.Load()
		// ACKMSG_NAME names a key that is not in endpoints: the error says where it came from.
		wantErr(t, err, `name: invalid value: "svc.env" is not a key of endpoints`, "(set in $ACKMSG_NAME)")
	})
	t.Run("flags win, unset flags do not", func(t *testing.T) {
		f := newFlags(t, opts, "--name", "svc.flag", "--high-water-mark", "0", "--topic-prefix", "org.flag")
		c, err := f.Load()
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "svc.flag" || c.HighWaterMark != 0 || c.TopicPrefix != "org.flag" {
			t.Errorf("name, high_water_mark, topic_prefix = %q, %d, %q; want the flags", c.Name, c.HighWaterMark, c.TopicPrefix)
		}
		if c.Environment != "stg" || c.ZMQLinger != 7 {
			t.Errorf("environment, zmq_linger = %q, %d; want stg, 7 from files", c.Environment, c.ZMQLinger)
		}
		if c.Source("name") != "--name" || c.Source("high_water_mark") != "--high-water-mark" {
			t.Errorf("sources: name %q, high_water_mark %q", c.Source("name"), c.Source("high_water_mark"))
		}
		if f.PrintConfig() {
			t.Error("PrintConfig() = true without --print-config")
		}
	})
	t.Run("every flag", func(t *testing.T) {
		f := newFlags(t, opts, "--name=svc.sys", "--environment=dev", "--relay-inbound=tcp://relay:9",
			"--ssldir=/ssl", "--certname=cn", "--cert-prefix=shell", "--linger=-1", "--io-threads=2", "--print-config")
		c, err := f.Load()
		if err != nil {
			t.Fatal(err)
		}
		got := []any{c.Environment, c.RelayInbound, c.SSLDir, c.Certname, c.CertPrefix, c.ZMQLinger, c.IOThreads, f.PrintConfig()}
		want := []any{"dev", "tcp://relay:9", "/ssl", "cn", "shell", -1, 2, true}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("--config replaces the search and wins over ACKMSG_CONFIG", func(t *testing.T) {
		dir := writeFiles(t, filepath.Join(t.TempDir(), "cfg"), map[string]string{"only.toml": `environment = "only"`})
		o := opts
		o.Getenv = env(map[string]string{EnvConfig: sys})
		f := newFlags(t, o, "--config", filepath.Join(dir, "only.toml"))
		c, err := f.Load()
		if err != nil {
			t.Fatal(err)
		}
		if c.Environment != "only" || c.TopicPrefix != DefaultTopicPrefix {
			t.Errorf("environment, topic_prefix = %q, %q; want only and the default", c.Environment, c.TopicPrefix)
		}
	})
	t.Run("empty --config", func(t *testing.T) {
		_, err := newFlags(t, opts, "--config=").Load()
		wantErr(t, err, "--config: invalid value: empty file name")
	})
}

func TestFlagsEndpoint(t *testing.T) {
	opts, sys, _ := testOptions(t)

	t.Run("over the default: replaces it", func(t *testing.T) {
		f := newFlags(t, opts, "--endpoint", "a.h=tcp://h:1", "--endpoint", "b.h=tcp://h:2", "--endpoint", "a.h=tcp://h:3")
		c, err := f.Load()
		if err != nil {
			t.Fatal(err)
		}
		want := ListMap{"a.h": {"tcp://h:1", "tcp://h:3"}, "b.h": {"tcp://h:2"}}
		if !reflect.DeepEqual(c.Endpoints, want) {
			t.Errorf("endpoints = %v, want %v", c.Endpoints, want)
		}
	})
	t.Run("over files: merges per key", func(t *testing.T) {
		writeFiles(t, sys, map[string]string{"10.toml": "[endpoints]\n\"a.h\" = \"tcp://file:1\"\n\"c.h\" = \"tcp://file:2\"\n"})
		f := newFlags(t, opts, "--endpoint", "a.h=tcp://flag:1")
		c, err := f.Load()
		if err != nil {
			t.Fatal(err)
		}
		want := ListMap{"a.h": {"tcp://flag:1"}, "c.h": {"tcp://file:2"}}
		if !reflect.DeepEqual(c.Endpoints, want) {
			t.Errorf("endpoints = %v, want %v", c.Endpoints, want)
		}
		if c.Source(`endpoints."a.h"`) != "--endpoint" {
			t.Errorf(`Source(endpoints."a.h") = %q`, c.Source(`endpoints."a.h"`))
		}
	})
	t.Run("malformed", func(t *testing.T) {
		_, err := newFlags(t, opts, "--endpoint", "tcp://h:1", "--endpoint", "=tcp://h:1").Load()
		wantErr(t, err, `--endpoint: invalid value: "tcp://h:1": want NAME=ADDRESS`, `"=tcp://h:1"`)
	})
	t.Run("bad address is a validation error naming the flag", func(t *testing.T) {
		_, err := newFlags(t, opts, "--endpoint", "x=tcp://*:1").Load()
		wantErr(t, err, `endpoints.x[0]`, "(set in --endpoint)")
	})
}

func TestFlagsHelpMentionsKeys(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	for _, s := range []string{"--config", "--print-config", "config high_water_mark, default 10000", "$ACKMSG_NAME", "--endpoint stringArray"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("help lacks %q:\n%s", s, b.String())
		}
	}
}

func TestFlagsConfigFilename(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `environment = "prod"`})
	dir := writeFiles(t, filepath.Join(t.TempDir(), "cfg"), map[string]string{"only.toml": `environment = "stg"`})

	t.Run("alias of --config", func(t *testing.T) {
		for _, args := range [][]string{{"--config-filename", dir}, {"--config-filename=" + filepath.Join(dir, "only.toml")}} {
			c, err := newFlags(t, opts, args...).Load()
			if err != nil {
				t.Fatalf("%q: %v", args, err)
			}
			if c.Environment != "stg" || !slices.Equal(c.Sources, []string{filepath.Join(dir, "only.toml")}) {
				t.Errorf("%q: environment %q, sources %q; want stg from only.toml, the search replaced", args, c.Environment, c.Sources)
			}
		}
	})
	t.Run("errors name the flag given", func(t *testing.T) {
		missing := filepath.Join(dir, "nope")
		_, err := newFlags(t, opts, "--config-filename", missing).Load()
		wantErr(t, err, missing, "named by --config-filename", "no such file")
		_, err = newFlags(t, opts, "--config-filename=").Load()
		wantErr(t, err, "--config-filename: invalid value: empty file name")
	})
	t.Run("both is an error", func(t *testing.T) {
		_, err := newFlags(t, opts, "--config", dir, "--config-filename", dir).Load()
		wantErr(t, err, "--config-filename: invalid value: it is another name for --config; give one of them")
	})
}

// log_level comes from the files, then $ACKMSG_LOG_LEVEL, then --log-level; a bad value names
// where it was set.
func TestLogLevelPrecedence(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `log_level = "info"`})
	for _, c := range []struct {
		name, env string
		args      []string
		want, src string
	}{
		{"file", "", nil, "info", filepath.Join(sys, "10.toml")},
		{"environment over file", "error", nil, "error", "$ACKMSG_LOG_LEVEL"},
		{"flag over environment", "error", []string{"--log-level", "debug"}, "debug", "--log-level"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := opts
			o.Getenv = env(map[string]string{EnvLogLevel: c.env})
			cfg, err := newFlags(t, o, c.args...).Load()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LogLevel != c.want || cfg.Source("log_level") != c.src {
				t.Errorf("log_level = %q from %q, want %q from %q", cfg.LogLevel, cfg.Source("log_level"), c.want, c.src)
			}
		})
	}
	o := opts
	o.Getenv = env(map[string]string{EnvLogLevel: "loud"})
	_, err := newFlags(t, o).Load()
	wantErr(t, err, `log_level: invalid value: "loud": want debug, info, warn or error`, "$ACKMSG_LOG_LEVEL")
}
