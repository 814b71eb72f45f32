package config

import (
	"fmt"
	"math"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// HubConfig is the [hub] table: how ackmsg-hub runs its consumers. Each comment gives the
// default that [DefaultConfig] sets.
//
// The table merges key by key like the top level. Its consumers ([[hub.consumers]]) merge by
// name: a later file's consumer replaces an earlier one of the same name as a whole, and new
// names are appended, so each consumer can live in its own drop-in file.
type HubConfig struct {
	// HTTPAddress is the host:port of the HTTP endpoint serving /live, /ready and /metrics
	// (Prometheus); ":9110" listens on every interface, port 0 on a free port. Empty disables
	// it. Default "".
	HTTPAddress string `toml:"http_address"`
	// ShutdownTimeout is how long, in seconds, the hub lets in-flight and queued work finish
	// after SIGTERM or SIGINT before it cancels it (an exec command is then killed). Unfinished
	// work is never ACKed. Default 10.
	ShutdownTimeout Seconds `toml:"shutdown_timeout"`
	// MaxAttempts bounds how often one msg_id is processed and fails (each retransmission of a
	// failed message is an attempt) before the hub logs it as poison and stops processing it.
	// Default 5.
	MaxAttempts int `toml:"max_attempts"`
	// Consumers are the consumers the hub runs. Default none.
	Consumers []HubConsumer `toml:"consumers"`
}

// HubConsumer is one [[hub.consumers]] table. Keys missing from a file take the default in their
// comment, filled in when the file is read.
type HubConsumer struct {
	// Name identifies the consumer in logs and metrics, and for kind "go" names the Go consumer
	// compiled into the hub. Letters, digits, ".", "_" and "-". Required.
	Name string `toml:"name"`
	// Kind is "exec" (run Command per message), "file" (append to Path) or "go" (a consumer
	// compiled into the hub binary). Required.
	Kind string `toml:"kind"`
	// Enabled runs the consumer; false keeps its table but does not run it (fedmsg's
	// config_key). Default true.
	Enabled bool `toml:"enabled"`
	// Topics are topic patterns (see [TopicMatches]): "org.example.prod.#",
	// "org.example.prod.bodhi.*". Required for exec and file; for go, empty means the topics
	// the Go consumer declares.
	Topics []string `toml:"topics"`
	// Workers is how many messages the consumer processes at once. Default 1.
	Workers int `toml:"workers"`
	// Inbox is how many messages may wait for a worker. Default 100.
	Inbox int `toml:"inbox"`
	// Overflow says what happens when the inbox is full: "block" stops reading the bus until
	// there is room (back-pressure: libzmq's high-water mark then applies and acked messages
	// are retransmitted), "drop" skips this consumer for the message, counts it and does not
	// ACK it. Default "block".
	Overflow string `toml:"overflow"`
	// Ack says what an ACK from the hub means for this consumer's messages: "processed" waits
	// until the consumer succeeded, "receipt" does not wait for this consumer (gilmsg's
	// behaviour). Default "processed".
	Ack string `toml:"ack"`
	// Timeout bounds the processing of one message, in seconds; an exec command still running
	// then is killed with its process group. 0 means no limit. Default 60.
	Timeout Seconds `toml:"timeout"`

	// Command is the program and its arguments (an argv list, never a shell string) run for
	// each message, with the envelope as one line of JSON on standard input. Exit status 0
	// means processed. Kind exec only.
	Command []string `toml:"command,omitempty"`
	// Env adds variables to the command's environment (which is the hub's, plus ACKMSG_TOPIC,
	// ACKMSG_MSG_ID, ACKMSG_SIGNER, ACKMSG_CONSUMER and ACKMSG_ATTEMPT). Kind exec only.
	// Default {}.
	Env StringMap `toml:"env,omitempty"`
	// Dir is the command's working directory; empty means the hub's. Kind exec only.
	// Default "".
	Dir string `toml:"dir,omitempty"`

	// Path is the file each message is appended to as one line of JSON. Kind file only.
	Path string `toml:"path,omitempty"`
	// Fsync is "always" (a message is ACKed only once it is on disk; concurrent writes share
	// one fsync) or "never" (ACKed once written to the operating system, which survives a
	// crash of the hub but not of the machine). Kind file only. Default "always".
	Fsync string `toml:"fsync,omitempty"`
}

// Values of the hub consumer keys.
const (
	HubKindExec = "exec"
	HubKindFile = "file"
	HubKindGo   = "go"

	HubAckProcessed = "processed"
	HubAckReceipt   = "receipt"

	HubOverflowBlock = "block"
	HubOverflowDrop  = "drop"

	HubFsyncAlways = "always"
	HubFsyncNever  = "never"

	DefaultHubShutdownTimeout = Seconds(10)
	DefaultHubMaxAttempts     = 5
	DefaultHubWorkers         = 1
	DefaultHubInbox           = 100
	DefaultHubTimeout         = Seconds(60)
)

func defaultHubConfig() HubConfig {
	return HubConfig{ShutdownTimeout: DefaultHubShutdownTimeout, MaxAttempts: DefaultHubMaxAttempts}
}

// DefaultHubConsumer returns a consumer table with every default set, as a file that gives only
// name and kind yields.
func DefaultHubConsumer(name, kind string) HubConsumer {
	c := HubConsumer{Name: name, Kind: kind}
	fillHubConsumer(&c, nil)
	return c
}

// fillHubConsumer sets the defaults of the keys absent from raw (the table as decoded).
func fillHubConsumer(c *HubConsumer, raw map[string]any) {
	absent := func(k string) bool { _, ok := raw[k]; return !ok }
	if absent("enabled") {
		c.Enabled = true
	}
	if absent("workers") {
		c.Workers = DefaultHubWorkers
	}
	if absent("inbox") {
		c.Inbox = DefaultHubInbox
	}
	if absent("overflow") {
		c.Overflow = HubOverflowBlock
	}
	if absent("ack") {
		c.Ack = HubAckProcessed
	}
	if absent("timeout") {
		c.Timeout = DefaultHubTimeout
	}
	if c.Kind == HubKindFile && absent("fsync") {
		c.Fsync = HubFsyncAlways
	}
}

// Enabled returns the enabled consumers, in configuration order.
func (h *HubConfig) Enabled() []HubConsumer {
	var out []HubConsumer
	for _, c := range h.Consumers {
		if c.Enabled {
			out = append(out, c)
		}
	}
	return out
}

// hubKeys and hubConsumerKeys are the keys a [hub] and a [[hub.consumers]] table may hold.
var (
	hubKeys         = tomlKeys(reflect.TypeFor[HubConfig]())
	hubConsumerKeys = tomlKeys(reflect.TypeFor[HubConsumer]())
)

func tomlKeys(t reflect.Type) map[string]bool {
	m := make(map[string]bool)
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag != "" && tag != "-" {
			m[tag] = true
		}
	}
	return m
}

// checkHubKeys reports unknown keys in the [hub] table of a file (raw is its decoded value).
// Wrong types are left to the typed decoder, which names the line.
func checkHubKeys(path string, raw any) error {
	var errs errorList
	unknown := func(key string, known map[string]bool, k string) {
		errs.add(&FileError{File: path, Key: key, Err: unknownKeyIn(k, known)})
	}
	t, ok := raw.(map[string]any)
	if !ok {
		return nil
	}
	for _, k := range sortedKeys(t) {
		if !hubKeys[k] {
			unknown("hub."+quoteKey(k), hubKeys, k)
		}
	}
	list, ok := t["consumers"].([]map[string]any)
	if !ok {
		return errs.err()
	}
	for i, c := range list {
		for _, k := range sortedKeys(c) {
			if !hubConsumerKeys[k] {
				unknown(fmt.Sprintf("hub.consumers[%d].%s", i, quoteKey(k)), hubConsumerKeys, k)
			}
		}
	}
	return errs.err()
}

// unknownKeyIn is unknownKey for a sub-table's keys.
func unknownKeyIn(k string, known map[string]bool) error {
	best, bestD := "", 3
	for _, f := range sortedKeys(known) {
		if strings.EqualFold(f, k) {
			return fmt.Errorf("%w (keys are case-sensitive: did you mean %s?)", ErrUnknownKey, f)
		}
		if d := editDistance(k, f); d < bestD {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Errorf("%w (did you mean %s?)", ErrUnknownKey, best)
	}
	return ErrUnknownKey
}

// mergeHub merges a file's [hub] table (layer, decoded from raw) over c.Hub.
func (c *Config) mergeHub(path string, raw any, layer HubConfig) {
	t, _ := raw.(map[string]any)
	set := func(k string, apply func()) {
		if _, ok := t[k]; ok {
			apply()
			c.setOrigin("hub."+k, path)
		}
	}
	set("http_address", func() { c.Hub.HTTPAddress = layer.HTTPAddress })
	set("shutdown_timeout", func() { c.Hub.ShutdownTimeout = layer.ShutdownTimeout })
	set("max_attempts", func() { c.Hub.MaxAttempts = layer.MaxAttempts })
	rawList, _ := t["consumers"].([]map[string]any)
	for i, hc := range layer.Consumers {
		var rc map[string]any
		if i < len(rawList) {
			rc = rawList[i]
		}
		fillHubConsumer(&hc, rc)
		at := -1
		if hc.Name != "" {
			at = slices.IndexFunc(c.Hub.Consumers, func(o HubConsumer) bool { return o.Name == hc.Name })
		}
		if at < 0 {
			// A fresh slice: another copy of c may share the old one.
			c.Hub.Consumers = append(slices.Clip(c.Hub.Consumers), hc)
			at = len(c.Hub.Consumers) - 1
		} else {
			c.Hub.Consumers = slices.Clone(c.Hub.Consumers)
			c.Hub.Consumers[at] = hc
		}
		c.setOrigin(hubConsumerKey(at), path)
	}
	c.setOrigin("hub", path)
}

func hubConsumerKey(i int) string { return fmt.Sprintf("hub.consumers[%d]", i) }

var hubNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// validateHub adds the problems of c.Hub to errs.
func (c *Config) validateHub(errs *errorList) {
	bad := func(key, source string, format string, args ...any) {
		if source == "" {
			source = c.Source(key)
		}
		errs.add(&KeyError{Key: key, Source: source, Err: fmt.Errorf(format, args...)})
	}
	h := &c.Hub
	if h.HTTPAddress != "" {
		if err := checkListenAddress(h.HTTPAddress); err != nil {
			bad("hub.http_address", "", "%w", err)
		}
	}
	if t := float64(h.ShutdownTimeout); !(t > 0) || math.IsInf(t, 0) {
		bad("hub.shutdown_timeout", "", "%w: %v: want a positive number of seconds", ErrInvalid, t)
	}
	if h.MaxAttempts < 1 {
		bad("hub.max_attempts", "", "%w: %d is below 1 (failed attempts before a message is given up as poison)", ErrInvalid, h.MaxAttempts)
	}
	seen := make(map[string]int)
	for i, hc := range h.Consumers {
		src := c.Source(hubConsumerKey(i))
		who := strings.ReplaceAll(fmt.Sprintf("consumer %q: ", hc.Name), "%", "%%")
		badC := func(field, format string, args ...any) {
			bad(hubConsumerKey(i)+"."+field, src, who+format, args...)
		}
		switch {
		case hc.Name == "":
			who = ""
			badC("name", "%w: every consumer needs a name", ErrMissing)
		case !hubNameRe.MatchString(hc.Name):
			badC("name", "%w: want letters, digits, \".\", \"_\" and \"-\"", ErrInvalid)
		default:
			if j, dup := seen[hc.Name]; dup {
				badC("name", "%w: the name of hub.consumers[%d] too", ErrInvalid, j)
			}
			seen[hc.Name] = i
		}
		validateHubConsumer(&hc, badC)
	}
}

// validateHubConsumer checks one of hub.consumers beyond its name: its kind, topics, limits, and
// the fields of its kind; badC reports a problem with one of its fields.
func validateHubConsumer(hc *HubConsumer, badC func(field, format string, args ...any)) {
	switch hc.Kind {
	case HubKindExec, HubKindFile, HubKindGo:
	case "":
		badC("kind", "%w: want %q, %q or %q", ErrMissing, HubKindExec, HubKindFile, HubKindGo)
	default:
		badC("kind", "%w: %q: want %q, %q or %q", ErrInvalid, hc.Kind, HubKindExec, HubKindFile, HubKindGo)
	}
	if len(hc.Topics) == 0 && hc.Kind != HubKindGo {
		badC("topics", "%w: list the topic patterns to consume (\"#\" for everything)", ErrMissing)
	}
	for j, p := range hc.Topics {
		if err := CheckTopicPattern(p); err != nil {
			badC(fmt.Sprintf("topics[%d]", j), "%w", err)
		}
	}
	if hc.Workers < 1 {
		badC("workers", "%w: %d is below 1", ErrInvalid, hc.Workers)
	}
	if hc.Inbox < 1 {
		badC("inbox", "%w: %d is below 1 (the inbox is bounded)", ErrInvalid, hc.Inbox)
	}
	if hc.Overflow != HubOverflowBlock && hc.Overflow != HubOverflowDrop {
		badC("overflow", "%w: %q: want %q or %q", ErrInvalid, hc.Overflow, HubOverflowBlock, HubOverflowDrop)
	}
	if hc.Ack != HubAckProcessed && hc.Ack != HubAckReceipt {
		badC("ack", "%w: %q: want %q or %q", ErrInvalid, hc.Ack, HubAckProcessed, HubAckReceipt)
	}
	if t := float64(hc.Timeout); !(t >= 0) || math.IsInf(t, 0) {
		badC("timeout", "%w: %v: want a number of seconds, or 0 for no limit", ErrInvalid, t)
	}
	onlyFor := func(kind, field string, set bool) {
		if set && hc.Kind != kind && hc.Kind != "" {
			badC(field, "%w: only for kind %q, this consumer is %q", ErrInvalid, kind, hc.Kind)
		}
	}
	onlyFor(HubKindExec, "command", len(hc.Command) > 0)
	onlyFor(HubKindExec, "env", len(hc.Env) > 0)
	onlyFor(HubKindExec, "dir", hc.Dir != "")
	onlyFor(HubKindFile, "path", hc.Path != "")
	onlyFor(HubKindFile, "fsync", hc.Fsync != "")
	switch hc.Kind {
	case HubKindExec:
		if len(hc.Command) == 0 || hc.Command[0] == "" {
			badC("command", "%w: the program and its arguments, as a list: [\"sh\", \"-c\", \"cat >> out.jsonl\"]", ErrMissing)
		}
		for j, a := range hc.Command {
			if strings.ContainsRune(a, 0) {
				badC(fmt.Sprintf("command[%d]", j), "%w: contains a NUL byte", ErrInvalid)
			}
		}
		for _, k := range sortedKeys(hc.Env) {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(hc.Env[k], 0) {
				badC(subKey("env", k), "%w: want a variable name without \"=\" and values without NUL bytes", ErrInvalid)
			}
		}
	case HubKindFile:
		if hc.Path == "" {
			badC("path", "%w: the file to append messages to", ErrMissing)
		}
		if hc.Fsync != HubFsyncAlways && hc.Fsync != HubFsyncNever {
			badC("fsync", "%w: %q: want %q or %q", ErrInvalid, hc.Fsync, HubFsyncAlways, HubFsyncNever)
		}
	}
}

// checkListenAddress accepts host:port with a port from 0 to 65535 (0: a free port) and an
// optional host (empty: every interface).
func checkListenAddress(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: %q: want host:port, e.g. 127.0.0.1:9110 or :9110 (%v)", ErrInvalid, a, stripAddrErr(err))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: %q: port %q is not a number from 0 to 65535", ErrInvalid, a, port)
	}
	return nil
}
