package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// Fresh maps each call: mutating one must not leak into the next.
	c.Endpoints["x"] = []string{"tcp://h:1"}
	c.Certnames["x"] = "y"
	c.CryptoValidateBackends[0] = "gpg"
	d := DefaultConfig()
	if _, ok := d.Endpoints["x"]; ok || len(d.Certnames) != 0 || d.CryptoValidateBackends[0] != "x509" {
		t.Fatal("DefaultConfig shares maps or slices between calls")
	}
	for name, m := range map[string]any{"Certnames": d.Certnames, "RoutingPolicy": d.RoutingPolicy, "Recipients": d.Recipients} {
		if reflect.ValueOf(m).IsNil() {
			t.Errorf("DefaultConfig().%s is nil", name)
		}
	}
}

func TestLoadNoFilesIsDefaults(t *testing.T) {
	opts, _, _ := testOptions(t)
	c := mustLoad(t, opts)
	d := DefaultConfig()
	equalSettings(t, c, &d)
	if len(c.Sources) != 0 {
		t.Errorf("Sources = %v, want none", c.Sources)
	}
}

func TestSecondsDuration(t *testing.T) {
	for _, tc := range []struct {
		s    Seconds
		want time.Duration
	}{{5, 5 * time.Second}, {0.25, 250 * time.Millisecond}, {0, 0}, {1e300, time.Duration(1<<63 - 1)}} {
		if got := tc.s.Duration(); got != tc.want {
			t.Errorf("Seconds(%v).Duration() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	type layer map[string]string // file name -> content
	tests := []struct {
		name          string
		sys, local    layer
		explicit      layer // written to its own dir; used as the File option when non-nil
		explicitFile  string
		environ       map[string]string
		wantName      string
		wantEnv       string
		wantHWM       int
		wantSources   []string // base names, in order
		wantNameSrcIn string   // base name or variable the name came from
	}{
		{
			name:          "system only",
			sys:           layer{"10.toml": "name = \"sys\"\nenvironment = \"prod\"\n[endpoints]\nsys = \"tcp://h:1\""},
			wantName:      "sys",
			wantEnv:       "prod",
			wantHWM:       DefaultHighWaterMark,
			wantSources:   []string{"10.toml"},
			wantNameSrcIn: "10.toml",
		},
		{
			name: "files sorted within a dir, later wins",
			sys: layer{
				"20-b.toml": "name = \"b\"\n[endpoints]\nb = \"tcp://h:2\"",
				"10-a.toml": "name = \"a\"\nhigh_water_mark = 7\n[endpoints]\na = \"tcp://h:1\"",
				"README":    "not toml = at all [",
				".#30.toml": "broken [",
			},
			wantName:      "b",
			wantEnv:       "dev",
			wantHWM:       7,
			wantSources:   []string{"10-a.toml", "20-b.toml"},
			wantNameSrcIn: "20-b.toml",
		},
		{
			name:          "local dir over system dir",
			sys:           layer{"99.toml": "name = \"sys\"\nhigh_water_mark = 5\n[endpoints]\nsys = \"tcp://h:1\""},
			local:         layer{"00.toml": "name = \"local\"\n[endpoints]\nlocal = \"tcp://h:2\""},
			wantName:      "local",
			wantEnv:       "dev",
			wantHWM:       5,
			wantSources:   []string{"99.toml", "00.toml"},
			wantNameSrcIn: "00.toml",
		},
		{
			name:          "explicit file replaces the search",
			sys:           layer{"10.toml": "high_water_mark = 5"},
			local:         layer{"10.toml": "environment = \"stg\""},
			explicit:      layer{"mine.toml": "name = \"mine\"\n[endpoints]\nmine = \"tcp://h:1\""},
			explicitFile:  "mine.toml",
			wantName:      "mine",
			wantEnv:       "dev",
			wantHWM:       DefaultHighWaterMark,
			wantSources:   []string{"mine.toml"},
			wantNameSrcIn: "mine.toml",
		},
		{
			name:          "explicit dir: its *.toml sorted",
			sys:           layer{"10.toml": "high_water_mark = 5"},
			explicit:      layer{"2.toml": "name = \"two\"", "1.toml": "name = \"one\"\nhigh_water_mark = 1\n[endpoints]\ntwo = \"tcp://h:1\""},
			wantName:      "two",
			wantEnv:       "dev",
			wantHWM:       1,
			wantSources:   []string{"1.toml", "2.toml"},
			wantNameSrcIn: "2.toml",
		},
		{
			name:          "environment overrides files",
			sys:           layer{"10.toml": "name = \"sys\"\n[endpoints]\nsys = \"tcp://h:1\"\nenv = \"tcp://h:2\""},
			environ:       map[string]string{EnvName: "env", EnvCertname: "cn"},
			wantName:      "env",
			wantEnv:       "dev",
			wantHWM:       DefaultHighWaterMark,
			wantSources:   []string{"10.toml"},
			wantNameSrcIn: "$ACKMSG_NAME",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, sys, local := testOptions(t)
			if tc.sys != nil {
				writeFiles(t, sys, tc.sys)
			}
			if tc.local != nil {
				writeFiles(t, local, tc.local)
			}
			if tc.explicit != nil {
				dir := writeFiles(t, filepath.Join(t.TempDir(), "explicit"), tc.explicit)
				opts.File = filepath.Join(dir, tc.explicitFile)
			}
			if tc.environ != nil {
				opts.Getenv = env(tc.environ)
			}
			c := mustLoad(t, opts)
			if c.Name != tc.wantName || c.Environment != tc.wantEnv || c.HighWaterMark != tc.wantHWM {
				t.Errorf("name, environment, high_water_mark = %q, %q, %d; want %q, %q, %d",
					c.Name, c.Environment, c.HighWaterMark, tc.wantName, tc.wantEnv, tc.wantHWM)
			}
			var bases []string
			for _, s := range c.Sources {
				bases = append(bases, filepath.Base(s))
			}
			if !slices.Equal(bases, tc.wantSources) {
				t.Errorf("Sources = %v, want %v", bases, tc.wantSources)
			}
			if got := filepath.Base(c.Source("name")); got != tc.wantNameSrcIn {
				t.Errorf("Source(name) = %q, want %q", c.Source("name"), tc.wantNameSrcIn)
			}
			if tc.environ[EnvCertname] != "" && c.Certname != tc.environ[EnvCertname] {
				t.Errorf("certname = %q, want %q", c.Certname, tc.environ[EnvCertname])
			}
		})
	}
}

func TestAckmsgConfigEnv(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `environment = "prod"`})
	dir := writeFiles(t, filepath.Join(t.TempDir(), "envdir"), map[string]string{
		"a.toml": `topic_prefix = "org.a"`,
		"b.toml": `topic_prefix = "org.b"`,
	})
	file := writeFiles(t, filepath.Join(t.TempDir(), "envfile"), map[string]string{"one.toml": `topic_prefix = "org.one"`})

	t.Run("dir", func(t *testing.T) {
		o := opts
		o.Getenv = env(map[string]string{EnvConfig: dir})
		c := mustLoad(t, o)
		if c.TopicPrefix != "org.b" || c.Environment != "dev" {
			t.Errorf("topic_prefix, environment = %q, %q; want org.b, dev (the search replaced)", c.TopicPrefix, c.Environment)
		}
	})
	t.Run("file", func(t *testing.T) {
		o := opts
		o.Getenv = env(map[string]string{EnvConfig: filepath.Join(file, "one.toml")})
		c := mustLoad(t, o)
		if c.TopicPrefix != "org.one" || c.Environment != "dev" {
			t.Errorf("topic_prefix, environment = %q, %q; want org.one, dev", c.TopicPrefix, c.Environment)
		}
	})
	t.Run("File option wins over the variable", func(t *testing.T) {
		o := opts
		o.Getenv = env(map[string]string{EnvConfig: dir})
		o.File = filepath.Join(file, "one.toml")
		if c := mustLoad(t, o); c.TopicPrefix != "org.one" {
			t.Errorf("topic_prefix = %q, want org.one", c.TopicPrefix)
		}
	})
	t.Run("missing", func(t *testing.T) {
		o := opts
		missing := filepath.Join(dir, "nope.toml")
		o.Getenv = env(map[string]string{EnvConfig: missing})
		c, err := Load(o)
		wantErr(t, err, missing, "$ACKMSG_CONFIG", "no such file")
		if c != nil || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got config %v, errors.Is(ErrNotExist) %v", c, errors.Is(err, fs.ErrNotExist))
		}
	})
	t.Run("empty dir", func(t *testing.T) {
		o := opts
		empty := t.TempDir()
		o.Getenv = env(map[string]string{EnvConfig: empty})
		_, err := Load(o)
		wantErr(t, err, empty, "no *.toml files")
	})
}

func TestDeepMerge(t *testing.T) {
	opts, sys, local := testOptions(t)
	writeFiles(t, sys, map[string]string{
		"10.toml": `
name = "bodhi.app01"
crypto_validate_backends = ["x509", "x509"]
[endpoints]
"bodhi.app01" = ["tcp://app01:3000", "tcp://app01:3001"]
"koji.hub01" = "tcp://hub01:3000"
[certnames]
"bodhi.app01" = "bodhi-app01"
[routing_policy]
"org.fedoraproject.prod.bodhi.update" = ["bodhi-app01"]
[recipients]
"org.fedoraproject.prod.bodhi.#" = ["archiver"]
`,
	})
	writeFiles(t, local, map[string]string{
		"10.toml": `
crypto_validate_backends = ["x509"]
[endpoints]
koji.hub01 = ["tcp://hub01:4000"]       # dotted key: the same as "koji.hub01"
"pkgs.pkgs01" = "tcp://pkgs01:3000"
[certnames]
shell.app01 = "shell-app01"
[routing_policy]
"org.fedoraproject.prod.koji.build" = ["koji-hub01"]
[recipients]
"org.fedoraproject.prod.bodhi.#" = ["archiver", "notifier"]
"org.fedoraproject.prod.koji.*" = ["archiver"]
`,
	})
	c := mustLoad(t, opts)
	want := DefaultConfig()
	want.Name = "bodhi.app01"
	want.CryptoValidateBackends = []string{"x509"}
	want.Endpoints = ListMap{
		"bodhi.app01": {"tcp://app01:3000", "tcp://app01:3001"},
		"koji.hub01":  {"tcp://hub01:4000"},
		"pkgs.pkgs01": {"tcp://pkgs01:3000"},
	} // no relay_outbound: the default is replaced, not merged into
	want.Certnames = StringMap{"bodhi.app01": "bodhi-app01", "shell.app01": "shell-app01"}
	want.RoutingPolicy = ListMap{
		"org.fedoraproject.prod.bodhi.update": {"bodhi-app01"},
		"org.fedoraproject.prod.koji.build":   {"koji-hub01"},
	}
	want.Recipients = ListMap{
		"org.fedoraproject.prod.bodhi.#": {"archiver", "notifier"},
		"org.fedoraproject.prod.koji.*":  {"archiver"},
	}
	equalSettings(t, c, &want)
	if got := c.Source(`endpoints."bodhi.app01"`); filepath.Dir(got) != sys {
		t.Errorf(`Source(endpoints."bodhi.app01") = %q, want a file in %s`, got, sys)
	}
	if got := c.Source(`endpoints."koji.hub01"[0]`); filepath.Dir(got) != local {
		t.Errorf(`Source(endpoints."koji.hub01"[0]) = %q, want a file in %s`, got, local)
	}
}

func TestEndpointsDefaultKeptWhenUnset(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `name = "relay_outbound"`})
	c := mustLoad(t, opts)
	if !reflect.DeepEqual(c.Endpoints, ListMap{"relay_outbound": {DefaultRelayOutbound}}) {
		t.Errorf("endpoints = %v, want the default", c.Endpoints)
	}
}

func TestValueForms(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
ack_timeout = 3          # an integer is accepted for seconds
max_message_age = 0.5
ack_require_recipients = true
mode = "development"
sink = "log"
[endpoints]
bare = "tcp://h:1"
list = ["tcp://h:2", "ipc:///run/ackmsg/x.sock"]
empty = []
`})
	c := mustLoad(t, opts)
	if c.AckTimeout != 3 || c.MaxMessageAge != 0.5 {
		t.Errorf("ack_timeout, max_message_age = %v, %v; want 3, 0.5", c.AckTimeout, c.MaxMessageAge)
	}
	if !c.AckRequireRecipients || c.Mode != ModeDevelopment || c.Sink != SinkLog || !c.Development() {
		t.Errorf("ack_require_recipients, mode, sink = %v, %q, %q; want true, development, log", c.AckRequireRecipients, c.Mode, c.Sink)
	}
	if d := DefaultConfig(); d.AckRequireRecipients || d.Mode != ModeProduction || d.Sink != SinkZMQ || d.Development() {
		t.Errorf("defaults: ack_require_recipients, mode, sink = %v, %q, %q", d.AckRequireRecipients, d.Mode, d.Sink)
	}
	want := ListMap{"bare": {"tcp://h:1"}, "list": {"tcp://h:2", "ipc:///run/ackmsg/x.sock"}, "empty": {}}
	if !reflect.DeepEqual(c.Endpoints, want) {
		t.Errorf("endpoints = %#v, want %#v", c.Endpoints, want)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		want     []string // substrings of the error, besides the file path
		line     int      // expected FileError.Line, 0 to skip
		key      string   // expected FileError.Key, "" to skip
		sentinel error
	}{
		{
			name:     "unknown key",
			content:  "name = \"x\"\nfrobnicate = 1\n",
			want:     []string{"key frobnicate", "unknown key"},
			key:      "frobnicate",
			sentinel: ErrUnknownKey,
		},
		{
			name:     "typo suggests",
			content:  "topic_prefx = \"x\"\n",
			want:     []string{"key topic_prefx", "did you mean topic_prefix?"},
			sentinel: ErrUnknownKey,
		},
		{
			name:     "case matters",
			content:  "Name = 1\n", // a type error would hide the real problem
			want:     []string{"key Name", "case-sensitive", "did you mean name?"},
			sentinel: ErrUnknownKey,
		},
		{
			name:     "unknown table",
			content:  "[frob]\na = 1\nb = 2\n",
			want:     []string{"key frob", "unknown key"},
			sentinel: ErrUnknownKey,
		},
		{
			name:     "unsupported fedmsg key",
			content:  "srv_endpoints = [\"fedoraproject.org\"]\n",
			want:     []string{"key srv_endpoints", "not supported", "SRV"},
			sentinel: ErrUnsupported,
		},
		{
			name:    "syntax error has the line",
			content: "name = \"x\"\n\nenvironment = prod\n",
			want:    []string{":3: "},
			line:    3,
		},
		{
			name:    "duplicate key has the line",
			content: "name = \"x\"\nname = \"y\"\n",
			want:    []string{":2: "},
			line:    2,
		},
		{
			name:    "wrong type has line and key",
			content: "name = \"x\"\nhigh_water_mark = \"lots\"\n",
			want:    []string{":2: key high_water_mark: ", "incompatible types"},
			line:    2,
			key:     "high_water_mark",
		},
		{
			name:    "endpoint of the wrong type",
			content: "[endpoints]\n\"a.b\" = [\"tcp://h:1\", 3]\n",
			want:    []string{"key endpoints", `"a.b"[1]: want a string, got an integer`},
			key:     "endpoints",
		},
		{
			name:    "endpoints not a table",
			content: "endpoints = \"tcp://h:1\"\n",
			want:    []string{":1: key endpoints: want a table, got a string"},
			line:    1,
		},
		{
			name:    "certname of the wrong type",
			content: "[certnames]\nshell.h = 1\n",
			want:    []string{"key certnames", `"shell.h": want a string, got an integer`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"10-ok.toml": "high_water_mark = 1", "20-bad.toml": tc.content})
			file := filepath.Join(sys, "20-bad.toml")
			c, err := Load(opts)
			wantErr(t, err, append([]string{"config: " + file}, tc.want...)...)
			if c != nil {
				t.Error("got a Config with a file error")
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != file {
				t.Fatalf("error is not a *FileError for %s: %#v", file, err)
			}
			if tc.line != 0 && fe.Line != tc.line {
				t.Errorf("Line = %d, want %d", fe.Line, tc.line)
			}
			if tc.key != "" && fe.Key != tc.key {
				t.Errorf("Key = %q, want %q", fe.Key, tc.key)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tc.sentinel)
			}
		})
	}
}

func TestSyntaxErrorKeepsTomlError(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": "a = [\n"})
	_, err := Load(opts)
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(toml.ParseError) failed on %v", err)
	}
}

func TestFileErrorsAggregate(t *testing.T) {
	opts, sys, local := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": "bogus = 1\nalso_bogus = 2\n", "20.toml": "x = [\n"})
	writeFiles(t, local, map[string]string{"10.toml": "zmq_lingr = 1\n"})
	_, err := Load(opts)
	wantErr(t, err, "config: 4 problems:",
		filepath.Join(sys, "10.toml")+": key bogus",
		filepath.Join(sys, "10.toml")+": key also_bogus",
		filepath.Join(sys, "20.toml")+":",
		filepath.Join(local, "10.toml")+": key zmq_lingr: unknown key (did you mean zmq_linger?)")
}

func TestIgnoredKeys(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
post_init_sleep = 0.5
zmq_enabled = true
ca_cert_cache_expiry = 0
stomp_uri = "x"
"fedmsg.consumers.relay.enabled" = true
moksha.blocking_mode = true
[logging]
version = 1
`})
	c := mustLoad(t, opts)
	file := filepath.Join(sys, "10.toml")
	want := []string{
		file + ": post_init_sleep",
		file + ": zmq_enabled",
		file + ": ca_cert_cache_expiry",
		file + ": stomp_uri",
		file + `: "fedmsg.consumers.relay.enabled"`,
		file + ": moksha",
		file + ": logging",
	}
	if !slices.Equal(c.Ignored, want) {
		t.Errorf("Ignored =\n%q\nwant\n%q", c.Ignored, want)
	}
}

func TestUnreadableDirectoryEntry(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, filepath.Join(sys, "sub.toml"), nil) // a directory named *.toml is skipped
	writeFiles(t, sys, map[string]string{"10.toml": "high_water_mark = 3"})
	if c := mustLoad(t, opts); c.HighWaterMark != 3 {
		t.Errorf("high_water_mark = %d, want 3", c.HighWaterMark)
	}
}

func TestSearchDirIsAFile(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, filepath.Dir(sys), map[string]string{filepath.Base(sys): "x"})
	_, err := Load(opts)
	wantErr(t, err, sys, "not a directory")
}

func TestLoadReturnsConfigWithValidationError(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": "high_water_mark = -1\n"})
	c, err := Load(opts)
	wantErr(t, err, "config: high_water_mark: invalid value: -1 is below 0", "(set in "+filepath.Join(sys, "10.toml")+")")
	if c == nil || c.HighWaterMark != -1 {
		t.Errorf("Load did not return the config along with the validation error: %v", c)
	}
}

func TestFedmsgConfigNamed(t *testing.T) {
	opts, _, _ := testOptions(t)
	fedmsgD := writeFiles(t, filepath.Join(t.TempDir(), "fedmsg.d"), map[string]string{
		"base.py":  "config = dict(environment='dev')\n",
		"relay.py": "config = dict(relay_inbound='tcp://127.0.0.1:2003')\n",
		"README":   "not python",
	})
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"directory", fedmsgD, []string{fedmsgD, "no *.toml files in this directory (named by $ACKMSG_CONFIG), but 2 *.py files",
			`"ackmsg-config import ` + fedmsgD + ` --out DIR/fedmsg.toml"`}},
		{"file", filepath.Join(fedmsgD, "base.py"), []string{filepath.Join(fedmsgD, "base.py") + ": a fedmsg configuration (Python), not TOML (named by $ACKMSG_CONFIG)",
			`"ackmsg-config import ` + filepath.Join(fedmsgD, "base.py") + ` --out FILE.toml"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Getenv = env(map[string]string{EnvConfig: tc.path})
			c, err := Load(o)
			wantErr(t, err, tc.want...)
			if c != nil || !errors.Is(err, ErrFedmsgConfig) {
				t.Errorf("got config %v, errors.Is(ErrFedmsgConfig) %v", c, errors.Is(err, ErrFedmsgConfig))
			}
		})
	}
	t.Run("a quoted path", func(t *testing.T) {
		odd := writeFiles(t, filepath.Join(t.TempDir(), "it's here"), map[string]string{"a.py": "config = {}\n"})
		o := opts
		o.File = odd
		_, err := Load(o)
		wantErr(t, err, `ackmsg-config import '`+strings.ReplaceAll(odd, "'", `'\''`)+`' --out`)
	})
	t.Run("a directory without *.py keeps the plain error", func(t *testing.T) {
		o := opts
		o.File = t.TempDir()
		_, err := Load(o)
		wantErr(t, err, "no *.toml files in this directory (named by --config)")
		if errors.Is(err, ErrFedmsgConfig) {
			t.Error("errors.Is(ErrFedmsgConfig) on an empty directory")
		}
	})
}

func TestClassifyKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want KeyClass
		why  string
	}{
		{"endpoints", KeyKnown, ""},
		{"hub", KeyKnown, ""},
		{"post_init_sleep", KeyIgnored, "proves"},
		{"fedmsg.consumers.gateway.port", KeyIgnored, "fedmsg-gateway"},
		{"moksha.blocking_mode", KeyIgnored, "moksha"},
		{"stomp_uri", KeyIgnored, "STOMP"},
		{"replay_endpoints", KeyKnown, ""},
		{"srv_endpoints", KeyUnsupported, "SRV"},
		{"datanommer.enabled", KeyUnknown, ""},
		{"Endpoints", KeyUnknown, ""},
	} {
		class, why := ClassifyKey(tc.key)
		if class != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
			t.Errorf("ClassifyKey(%q) = %v, %q; want %v and a reason containing %q", tc.key, class, why, tc.want, tc.why)
		}
	}
	// Every ignored key has a reason, so converters never report a key without one.
	for k, why := range ignoredKeys {
		if why == "" {
			t.Errorf("ignored key %q has no reason", k)
		}
	}
}

// fedmsg's CA/CRL cache keys, unused by fedmsg itself, configure ackmsg's downloads.
func TestTrustURLKeys(t *testing.T) {
	opts, sys, _ := testOptions(t)
	writeFiles(t, sys, map[string]string{"10.toml": `
ca_cert_location = "https://fedoraproject.org/fedmsg/ca.crt"
crl_location = "https://fedoraproject.org/fedmsg/crl.pem"
ca_cert_cache = "/var/run/fedmsg/ca.crt"
crl_cache = "/var/run/fedmsg/crl.pem"
crl_cache_expiry = 600
`})
	c := mustLoad(t, opts)
	if c.CACertLocation != "https://fedoraproject.org/fedmsg/ca.crt" || c.CRLLocation != "https://fedoraproject.org/fedmsg/crl.pem" ||
		c.CACertCache != "/var/run/fedmsg/ca.crt" || c.CRLCache != "/var/run/fedmsg/crl.pem" || c.CRLCacheExpiry != 600 {
		t.Fatalf("loaded %q %q %q %q %v", c.CACertLocation, c.CRLLocation, c.CACertCache, c.CRLCache, c.CRLCacheExpiry)
	}
	if len(c.Ignored) != 0 {
		t.Fatalf("Ignored = %q, want none", c.Ignored)
	}
	if d := DefaultConfig().CRLCacheExpiry; d != 3600 {
		t.Fatalf("default crl_cache_expiry %v, want fedmsg's 3600", d)
	}
}
