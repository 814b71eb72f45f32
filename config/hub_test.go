package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

func TestHubDefaults(t *testing.T) {
	d := DefaultConfig()
	if d.Hub.HTTPAddress != "" || d.Hub.ShutdownTimeout != 10 || d.Hub.MaxAttempts != 5 || d.Hub.Consumers != nil {
		t.Fatalf("hub defaults %+v", d.Hub)
	}
	c := DefaultHubConsumer("a", HubKindFile)
	want := HubConsumer{Name: "a", Kind: HubKindFile, Enabled: true, Workers: 1, Inbox: 100, Overflow: "block",
		Ack: "processed", Timeout: 60, Fsync: "always"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("DefaultHubConsumer = %+v, want %+v", c, want)
	}
}

func TestHubLoad(t *testing.T) {
	opts, sys, local := testOptions(t)
	writeFiles(t, sys, map[string]string{
		"10-hub.toml": `
[hub]
http_address = "127.0.0.1:9110"
max_attempts = 3

[[hub.consumers]]
name = "archive"
kind = "exec"
topics = ["org.example.dev.#"]
command = ["sh", "-c", "cat >> out.jsonl"]
env = { LANG = "C.UTF-8" }

[[hub.consumers]]
name = "audit"
kind = "file"
topics = ["org.example.dev.audit.*"]
path = "/var/lib/ackmsg/audit.jsonl"
`,
	})
	writeFiles(t, local, map[string]string{
		"10-override.toml": `
[hub]
shutdown_timeout = 2.5

[[hub.consumers]]   # replaces the consumer of the same name, as a whole
name = "archive"
kind = "exec"
topics = ["org.example.dev.bodhi.#"]
command = ["/usr/local/bin/archive"]
workers = 4
ack = "receipt"
timeout = 0
enabled = false

[[hub.consumers]]   # a new one is appended
name = "orders"
kind = "go"
`,
	})
	c := mustLoad(t, opts)
	want := DefaultConfig().Hub
	want.HTTPAddress, want.MaxAttempts, want.ShutdownTimeout = "127.0.0.1:9110", 3, 2.5
	archive := DefaultHubConsumer("archive", HubKindExec)
	archive.Topics = []string{"org.example.dev.bodhi.#"}
	archive.Command = []string{"/usr/local/bin/archive"}
	archive.Workers, archive.Ack, archive.Timeout, archive.Enabled = 4, "receipt", 0, false
	audit := DefaultHubConsumer("audit", HubKindFile)
	audit.Topics = []string{"org.example.dev.audit.*"}
	audit.Path = "/var/lib/ackmsg/audit.jsonl"
	want.Consumers = []HubConsumer{archive, audit, DefaultHubConsumer("orders", HubKindGo)}
	if !reflect.DeepEqual(c.Hub, want) {
		t.Fatalf("hub\n got %+v\nwant %+v", c.Hub, want)
	}
	if got := c.Source("hub.consumers[0]"); filepath.Dir(got) != local {
		t.Errorf("Source(hub.consumers[0]) = %q, want the override file", got)
	}
	if got := c.Source("hub.max_attempts"); filepath.Dir(got) != sys {
		t.Errorf("Source(hub.max_attempts) = %q, want the first file", got)
	}
	if got := c.Hub.Enabled(); len(got) != 2 || got[0].Name != "audit" || got[1].Name != "orders" {
		t.Errorf("Enabled() = %+v", got)
	}
}

func TestHubFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"unknown hub key", "[hub]\nhttp_adress = \"x\"\n", []string{"key hub.http_adress", "did you mean http_address?"}},
		{"unknown consumer key", "[[hub.consumers]]\nname = \"a\"\ncmd = [\"x\"]\n", []string{"key hub.consumers[0].cmd", "unknown key"}},
		{"case matters", "[[hub.consumers]]\nName = \"a\"\n", []string{"key hub.consumers[0].Name", "case-sensitive"}},
		{"wrong type", "[[hub.consumers]]\nname = \"a\"\nworkers = \"many\"\n", []string{"workers", "incompatible types"}},
		{"env of the wrong type", "[[hub.consumers]]\nname = \"a\"\nenv = { A = 1 }\n", []string{"want a string, got an integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, sys, _ := testOptions(t)
			writeFiles(t, sys, map[string]string{"10.toml": tc.content})
			_, err := Load(opts)
			wantErr(t, err, tc.want...)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("not a *FileError: %#v", err)
			}
		})
	}
}

func TestHubValidate(t *testing.T) {
	exec := func(mod func(*HubConsumer)) func(*Config) {
		return func(c *Config) {
			hc := DefaultHubConsumer("x", HubKindExec)
			hc.Topics, hc.Command = []string{"a.#"}, []string{"true"}
			mod(&hc)
			c.Hub.Consumers = append(c.Hub.Consumers, hc)
		}
	}
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"valid exec", exec(func(*HubConsumer) {}), nil},
		{"valid file", func(c *Config) {
			hc := DefaultHubConsumer("f", HubKindFile)
			hc.Topics, hc.Path = []string{"#"}, "/tmp/x"
			c.Hub.Consumers = []HubConsumer{hc}
		}, nil},
		{"valid go without topics", func(c *Config) { c.Hub.Consumers = []HubConsumer{DefaultHubConsumer("g", HubKindGo)} }, nil},
		{"hub scalars", func(c *Config) { c.Hub.HTTPAddress, c.Hub.ShutdownTimeout, c.Hub.MaxAttempts = "nope", 0, 0 },
			[]string{"hub.http_address: invalid value", "hub.shutdown_timeout:", "hub.max_attempts:"}},
		{"port 0 and any host are fine", func(c *Config) { c.Hub.HTTPAddress = ":0" }, nil},
		{"port out of range", func(c *Config) { c.Hub.HTTPAddress = "127.0.0.1:70000" }, []string{"hub.http_address:", "0 to 65535"}},
		{"no name", exec(func(h *HubConsumer) { h.Name = "" }), []string{"hub.consumers[0].name: missing"}},
		{"bad name", exec(func(h *HubConsumer) { h.Name = "a b" }), []string{`hub.consumers[0].name: consumer "a b": invalid value`}},
		{"duplicate name", func(c *Config) {
			exec(func(*HubConsumer) {})(c)
			exec(func(*HubConsumer) {})(c)
		}, []string{`hub.consumers[1].name: consumer "x": invalid value: the name of hub.consumers[0] too`}},
		{"kind", exec(func(h *HubConsumer) { h.Kind = "python"; h.Command = nil }), []string{`hub.consumers[0].kind: consumer "x": invalid value: "python"`}},
		{"no topics", exec(func(h *HubConsumer) { h.Topics = nil }), []string{"hub.consumers[0].topics: consumer \"x\": missing"}},
		{"bad topic", exec(func(h *HubConsumer) { h.Topics = []string{"a", "a..b"} }), []string{"hub.consumers[0].topics[1]:", "topic pattern"}},
		{"ranges", exec(func(h *HubConsumer) { h.Workers, h.Inbox, h.Timeout = 0, 0, -1 }),
			[]string{"hub.consumers[0].workers:", "hub.consumers[0].inbox:", "hub.consumers[0].timeout:"}},
		{"enums", exec(func(h *HubConsumer) { h.Overflow, h.Ack = "spill", "later" }),
			[]string{`hub.consumers[0].overflow: consumer "x": invalid value: "spill"`, `hub.consumers[0].ack: consumer "x": invalid value: "later"`}},
		{"exec without command", exec(func(h *HubConsumer) { h.Command = []string{""} }), []string{"hub.consumers[0].command: consumer \"x\": missing"}},
		{"exec env", exec(func(h *HubConsumer) { h.Env = StringMap{"A=B": "1"} }), []string{`hub.consumers[0].env."A=B":`}},
		{"file keys on exec", exec(func(h *HubConsumer) { h.Path, h.Fsync = "/x", "never" }),
			[]string{`hub.consumers[0].path: consumer "x": invalid value: only for kind "file"`, "hub.consumers[0].fsync:"}},
		{"file without path", func(c *Config) {
			hc := DefaultHubConsumer("f", HubKindFile)
			hc.Topics, hc.Fsync, hc.Command = []string{"#"}, "sometimes", []string{"x"}
			c.Hub.Consumers = []HubConsumer{hc}
		}, []string{"hub.consumers[0].path: consumer \"f\": missing", "hub.consumers[0].fsync:", `hub.consumers[0].command: consumer "f": invalid value: only for kind "exec"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.modify(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			wantErr(t, err, tc.want...)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("no *KeyError in %#v", err)
			}
		})
	}
}
