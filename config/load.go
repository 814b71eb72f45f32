package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Default search locations and environment variables (see the package documentation).
const (
	DefaultSystemDir = "/etc/ackmsg.d"
	DefaultLocalDir  = "./ackmsg.d"

	// EnvConfig names a file or directory that replaces the default search, unless --config is
	// given.
	EnvConfig = "ACKMSG_CONFIG"
	// EnvName overrides name.
	EnvName = "ACKMSG_NAME"
	// EnvCertname overrides certname.
	EnvCertname = "ACKMSG_CERTNAME"
	// EnvLogLevel overrides log_level.
	EnvLogLevel = "ACKMSG_LOG_LEVEL"
)

// LoadOptions says where [Load] looks. The zero value means the defaults.
type LoadOptions struct {
	// File is a file, or a directory of *.toml files, that replaces the default search (the
	// --config flag). Empty means $ACKMSG_CONFIG, and when that is empty too, the default search.
	File string
	// Getenv reads the environment. Default os.Getenv.
	Getenv func(string) string
	// SystemDir is searched first. Default "/etc/ackmsg.d".
	SystemDir string
	// LocalDir is searched second. Default "./ackmsg.d".
	LocalDir string

	// fileFlag is the flag that set File, for messages ("--config" or "--config-filename").
	fileFlag string
}

// Load builds a Config from the defaults, the files chosen by opts and the environment, in that
// order (see the package documentation), then validates it.
//
// When a file cannot be read or decoded, or holds unknown keys, Load returns a nil Config and an
// error naming every such file and key. When the files load but [Config.Validate] fails, Load
// returns the Config together with the validation error, so that --print-config can still show
// it; any non-nil error must otherwise be treated as fatal.
func Load(opts LoadOptions) (*Config, error) {
	c, err := load(opts)
	if err != nil {
		return nil, err
	}
	return c, c.Validate()
}

func load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	files, err := opts.files(getenv)
	if err != nil {
		return nil, err
	}
	c := DefaultConfig()
	var errs errorList
	for _, f := range files {
		errs.add(c.mergeFile(f))
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if v := getenv(EnvName); v != "" {
		c.Name = v
		c.setOrigin("name", "$"+EnvName)
	}
	if v := getenv(EnvCertname); v != "" {
		c.Certname = v
		c.setOrigin("certname", "$"+EnvCertname)
	}
	if v := getenv(EnvLogLevel); v != "" {
		c.LogLevel = v
		c.setOrigin("log_level", "$"+EnvLogLevel)
	}
	return &c, nil
}

// files lists the configuration files to read, in merge order.
func (o LoadOptions) files(getenv func(string) string) ([]string, error) {
	explicit, by := o.File, orDefault(o.fileFlag, "--config")
	if explicit == "" {
		explicit, by = getenv(EnvConfig), "$"+EnvConfig
	}
	if explicit != "" {
		fi, err := os.Stat(explicit)
		if err != nil {
			return nil, &FileError{File: explicit, Err: fmt.Errorf("named by %s: %w", by, pathErr(err))}
		}
		if !fi.IsDir() {
			if strings.HasSuffix(explicit, ".py") {
				return nil, &FileError{File: explicit, Err: fmt.Errorf("%w (named by %s); convert it once with "+
					"\"ackmsg-config import %s --out FILE.toml\" and name FILE.toml instead", ErrFedmsgConfig, by, shellQuote(explicit))}
			}
			return []string{explicit}, nil
		}
		files, err := listTOML(explicit)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			if py := countPython(explicit); py > 0 {
				return nil, &FileError{File: explicit, Err: fmt.Errorf("%w: no *.toml files in this directory (named by %s), "+
					"but %d *.py files; convert them once with \"ackmsg-config import %s --out DIR/fedmsg.toml\" "+
					"and name DIR instead", ErrFedmsgConfig, by, py, shellQuote(explicit))}
			}
			return nil, &FileError{File: explicit, Err: fmt.Errorf("%w: no *.toml files in this directory (named by %s)", ErrMissing, by)}
		}
		return files, nil
	}
	var files []string
	for _, dir := range []string{orDefault(o.SystemDir, DefaultSystemDir), orDefault(o.LocalDir, DefaultLocalDir)} {
		fi, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, &FileError{File: dir, Err: pathErr(err)}
		}
		if !fi.IsDir() {
			return nil, &FileError{File: dir, Err: errors.New("not a directory")}
		}
		l, err := listTOML(dir)
		if err != nil {
			return nil, err
		}
		files = append(files, l...)
	}
	return files, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// listTOML returns dir's *.toml files sorted by name, skipping names that start with ".".
func listTOML(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, &FileError{File: dir, Err: pathErr(err)}
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".toml") || e.IsDir() {
			continue
		}
		files = append(files, filepath.Join(dir, n))
	}
	return files, nil
}

// countPython counts the *.py files of dir, as fedmsg reads them from a fedmsg.d directory.
func countPython(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".py") && !e.IsDir() {
			n++
		}
	}
	return n
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@%+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pathErr drops the path from an *fs.PathError: FileError already names the file.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// field describes one toml-tagged field of Config.
type field struct {
	key   string
	index int
}

// fields lists Config's keys in declaration order; knownKeys indexes them.
var fields, knownKeys = func() ([]field, map[string]int) {
	t := reflect.TypeFor[Config]()
	var l []field
	m := make(map[string]int)
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		l = append(l, field{tag, i})
		m[tag] = i
	}
	return l, m
}()

// ignoredKeys are fedmsg keys accepted without effect, with the reason; a key whose first dotted
// part is in ignoredTables, or that starts with "stomp_", is ignored too.
var (
	ignoredKeys = map[string]string{
		"post_init_sleep":         "ackmsg proves that subscribers are connected instead of sleeping",
		"timeout":                 "unused by fedmsg itself; ackmsg bounds waits with ack_timeout and per-call deadlines",
		"zmq_enabled":             "ackmsg always uses ZeroMQ",
		"zmq_strict":              "a moksha subscription option; ackmsg matches topics with its own patterns (hub consumers' topics)",
		"topic_prefix_re":         "derived from topic_prefix by fedmsg; ackmsg needs no regular expression",
		"mute":                    "ackmsg has no muted publisher: a program that should not publish does not start one",
		"ca_cert_cache_expiry":    "ackmsg fetches a ca_cert_location URL at start (and on reload) and keeps the cached copy when it cannot",
		"logging":                 "Python logging configuration; ackmsg commands log to stderr at log_level (--log-level)",
		"print_config":            "a command-line switch; use --print-config",
		"config_filename":         "a command-line switch; use --config (or --config-filename)",
		"publish_endpoint":        "a publisher binds the first free address of endpoints[name]",
		"datagrepper_url":         "ackmsg-hub does not fetch a backlog from datagrepper (acked publishes are retransmitted instead)",
		"skip_last_message":       "ackmsg-hub does not fetch a backlog from datagrepper (acked publishes are retransmitted instead)",
		"status_directory":        "ackmsg-hub does not fetch a backlog from datagrepper (acked publishes are retransmitted instead)",
		"irc":                     "ackmsg has no IRC bot (fedmsg-irc)",
		"irc_color_lookup":        "ackmsg has no IRC bot (fedmsg-irc)",
		"irc_default_color":       "ackmsg has no IRC bot (fedmsg-irc)",
		"irc_method":              "ackmsg has no IRC bot (fedmsg-irc)",
		"collectd_interval":       "ackmsg-hub serves Prometheus /metrics instead of feeding collectd",
		"explicit_hub_consumers":  "moksha hub option; ackmsg-hub runs the [[hub.consumers]] that are enabled",
		"zmq_subscribe_endpoints": "moksha hub option; subscribers connect to every endpoints address",
		"zmq_subscribe_method":    "moksha hub option; subscribers connect to every endpoints address",
		"zmq_publish_endpoints":   "moksha hub option; a publisher binds from endpoints[name]",
	}
	ignoredTables = map[string]string{
		"moksha": "a moksha hub setting; ackmsg-hub is configured in [hub]",
		"fedmsg": "a setting of fedmsg's own hub consumers (fedmsg-gateway, fedmsg-relay, fedmsg-irc); ackmsg-relay needs only relay_inbound and endpoints.relay_outbound, ackmsg-gateway is configured in [gateway] (ackmsg-config import carries fedmsg-gateway's port and high_water_mark there), and ackmsg has no IRC bot",
	}
	stompReason = "STOMP is not used: ackmsg always uses ZeroMQ"

	unsupportedKeys = map[string]string{
		"srv_endpoints":   "DNS SRV endpoint discovery is not implemented; list the addresses under endpoints",
		"gpg_home":        "the gpg crypto backend is not implemented; use x509",
		"gpg_keys":        "the gpg crypto backend is not implemented; use x509",
		"gpg_signing_key": "the gpg crypto backend is not implemented; use x509",
	}
)

// KeyClass says what the loader does with a top-level key of a file; see [ClassifyKey].
type KeyClass int

// The classes of top-level keys.
const (
	// KeyUnknown: neither ackmsg nor fedmsg defines the key; loading fails.
	KeyUnknown KeyClass = iota
	// KeyKnown: an ackmsg setting (a toml key of [Config]).
	KeyKnown
	// KeyIgnored: a fedmsg key accepted without effect and listed in [Config.Ignored].
	KeyIgnored
	// KeyUnsupported: a fedmsg feature ackmsg does not implement; loading fails, saying so.
	KeyUnsupported
)

// ClassifyKey says what the loader does with the top-level key (as written in a file, "a.b" for a
// quoted dotted key) and, for ignored and unsupported keys, why. Converters such as ackmsg-config
// import use it to decide which fedmsg keys they can carry.
func ClassifyKey(key string) (KeyClass, string) {
	if _, ok := knownKeys[key]; ok {
		return KeyKnown, ""
	}
	if why, ok := ignoredKeys[key]; ok {
		return KeyIgnored, why
	}
	first, _, _ := strings.Cut(key, ".")
	if why, ok := ignoredTables[first]; ok {
		return KeyIgnored, why
	}
	if strings.HasPrefix(key, "stomp_") {
		return KeyIgnored, stompReason
	}
	if why, ok := unsupportedKeys[key]; ok {
		return KeyUnsupported, why
	}
	return KeyUnknown, ""
}

// mergeFile decodes one file and merges it over c: tables key by key, everything else replaced.
func (c *Config) mergeFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &FileError{File: path, Err: pathErr(err)}
	}
	text := string(data)

	// Decode twice: into a generic map first, to report syntax errors (which have no meaningful
	// key) and unknown keys (before the struct decoder matches them case-insensitively), then
	// into a Config.
	var raw map[string]any
	rawMD, err := toml.Decode(text, &raw)
	if err != nil {
		return decodeErr(path, err, false)
	}
	if err := c.checkFileKeys(path, raw, rawMD); err != nil {
		return err
	}
	var layer Config
	md, err := toml.Decode(text, &layer)
	if err != nil {
		return decodeErr(path, err, true)
	}

	c.mergeLayer(path, raw, md, &layer)
	c.Sources = append(c.Sources, path)
	return nil
}

// checkFileKeys reports a file's unknown and unsupported keys (at the top and in the tables),
// and notes the ignored ones.
func (c *Config) checkFileKeys(path string, raw map[string]any, rawMD toml.MetaData) error {
	var errs errorList
	seen := make(map[string]bool)
	for _, k := range rawMD.Keys() {
		top := k[0]
		if seen[top] {
			continue
		}
		seen[top] = true
		if _, ok := knownKeys[top]; ok {
			switch top {
			case "hub":
				errs.add(checkHubKeys(path, raw["hub"]))
			case "outbox":
				errs.add(checkOutboxKeys(path, raw["outbox"]))
			case "bridge":
				errs.add(checkBridgeKeys(path, raw["bridge"]))
			case "relay":
				errs.add(checkRelayKeys(path, raw["relay"]))
			case "archive":
				errs.add(checkArchiveKeys(path, raw["archive"]))
			case "gateway":
				errs.add(checkGatewayKeys(path, raw["gateway"]))
			}
			continue
		}
		switch class, why := ClassifyKey(top); class {
		case KeyIgnored:
			c.Ignored = append(c.Ignored, path+": "+quoteKey(top))
			continue
		case KeyUnsupported:
			errs.add(&FileError{File: path, Key: quoteKey(top), Err: fmt.Errorf("%w: %s", ErrUnsupported, why)})
			continue
		}
		errs.add(&FileError{File: path, Key: quoteKey(top), Err: unknownKey(top)})
	}
	return errs.err()
}

// mergeLayer merges the keys a file defines (decoded into layer) over c: the tables key by key,
// maps entry by entry (but the endpoints default, replaced), everything else replaced.
func (c *Config) mergeLayer(path string, raw map[string]any, md toml.MetaData, layer *Config) {
	src := reflect.ValueOf(layer).Elem()
	dst := reflect.ValueOf(c).Elem()
	for _, f := range fields {
		if !md.IsDefined(f.key) {
			continue
		}
		if f.key == "hub" {
			c.mergeHub(path, raw["hub"], layer.Hub)
			continue
		}
		if f.key == "outbox" {
			c.mergeOutbox(path, raw["outbox"], layer.Outbox)
			continue
		}
		if f.key == "bridge" {
			c.mergeBridge(path, raw["bridge"], layer.Bridge)
			continue
		}
		if f.key == "archive" {
			c.mergeArchive(path, raw["archive"], layer.Archive)
			continue
		}
		if f.key == "relay" {
			c.mergeRelay(path, raw["relay"], layer.Relay)
			continue
		}
		if f.key == "gateway" {
			c.mergeGateway(path, raw["gateway"], layer.Gateway)
			continue
		}
		sv, dv := src.Field(f.index), dst.Field(f.index)
		if sv.Kind() == reflect.Map {
			if dv.IsNil() || c.Source(f.key) == "" && f.key == "endpoints" {
				// The endpoints default is replaced, not merged into.
				dv.Set(reflect.MakeMap(dv.Type()))
			}
			it := sv.MapRange()
			for it.Next() {
				dv.SetMapIndex(it.Key(), it.Value())
				c.setOrigin(subKey(f.key, it.Key().String()), path)
			}
		} else {
			dv.Set(sv)
		}
		c.setOrigin(f.key, path)
	}
}

// unknownKey explains an unknown key, suggesting the known key it most likely misspells.
func unknownKey(k string) error {
	best, bestD := "", 3
	for _, f := range fields {
		if strings.EqualFold(f.key, k) {
			return fmt.Errorf("%w (keys are case-sensitive: did you mean %s?)", ErrUnknownKey, f.key)
		}
		if d := editDistance(k, f.key); d < bestD {
			best, bestD = f.key, d
		}
	}
	if best != "" {
		return fmt.Errorf("%w (did you mean %s?)", ErrUnknownKey, best)
	}
	return ErrUnknownKey
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tomlErrRe matches the type errors BurntSushi/toml reports as plain errors.
var tomlErrRe = regexp.MustCompile(`(?s)^toml: line (\d+) \(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// decodeErr turns a toml error into a FileError with the line and, for type errors, the key.
func decodeErr(path string, err error, withKey bool) error {
	fe := &FileError{File: path, Err: &tomlError{msg: err.Error(), err: err}}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		fe.Line = pe.Position.Line
		fe.Err = &tomlError{msg: pe.Message, err: err}
		if withKey {
			fe.Key = pe.LastKey
		}
		return fe
	}
	if m := tomlErrRe.FindStringSubmatch(err.Error()); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		if k, uerr := strconv.Unquote(m[2]); uerr == nil && withKey {
			fe.Key = k
		}
		fe.Err = &tomlError{msg: m[3], err: err}
	}
	return fe
}

// tomlError shortens a toml error's text (the FileError around it already gives the position)
// while keeping the original for errors.As.
type tomlError struct {
	msg string
	err error
}

func (e *tomlError) Error() string { return e.msg }
func (e *tomlError) Unwrap() error { return e.err }
