package main

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ackmsg/ackmsg/config"
)

// valueKind is how a Config field is written in TOML.
type valueKind int

const (
	kindString valueKind = iota
	kindBool
	kindInt
	kindSeconds
	kindStrings   // a list of strings
	kindListMap   // endpoints, routing_policy, recipients
	kindStringMap // certnames
	kindTable     // hub, outbox: carried as they are, checked by loading
)

// configKinds maps each top-level key of config.Config to its kind, in declaration order.
var configKeys, configKinds = func() ([]string, map[string]valueKind) {
	var keys []string
	kinds := make(map[string]valueKind)
	t := reflect.TypeFor[config.Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		var k valueKind
		switch ft := f.Type; {
		case ft == reflect.TypeFor[config.Seconds]():
			k = kindSeconds
		case ft.Kind() == reflect.String:
			k = kindString
		case ft.Kind() == reflect.Bool:
			k = kindBool
		case ft.Kind() == reflect.Int:
			k = kindInt
		case ft == reflect.TypeFor[config.ListMap]():
			k = kindListMap
		case ft == reflect.TypeFor[config.StringMap]():
			k = kindStringMap
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			k = kindStrings
		case ft.Kind() == reflect.Struct:
			k = kindTable
		default:
			panic("ackmsg-config: no conversion for config key " + tag + " of type " + ft.String())
		}
		keys = append(keys, tag)
		kinds[tag] = k
	}
	return keys, kinds
}()

// carried is one key written to the TOML output.
type carried struct {
	key   string
	kind  valueKind
	value any // string, bool, int64, float64, []string, map[string][]string, map[string]string, map[string]any
	// files are the files that set the key, the effective one last.
	files []string
	// entryFiles gives the file of each entry of a table.
	entryFiles map[string]string
	// fedmsgKeys are the fedmsg keys the value was converted from, when they are not key itself
	// (fedmsg-gateway's keys, carried as [gateway]).
	fedmsgKeys []string
}

// dropped is one fedmsg key that is not carried, with the reason.
type dropped struct {
	key    string
	files  []string
	reason string
}

func (d dropped) String() string {
	return fmt.Sprintf("%s (%s): %s", displayKey(d.key), strings.Join(d.files, ", "), d.reason)
}

// conversion is the result of converting a merged fedmsg configuration.
type conversion struct {
	files   []string
	carried []carried
	dropped []dropped
	// problems are values of ackmsg keys that cannot be converted faithfully; any one fails the
	// import.
	problems []string
}

// convert maps the merged fedmsg configuration onto ackmsg keys. Keys ackmsg has are carried,
// with their values checked and, where the meaning differs, translated or dropped with a reason;
// every other key is dropped with a reason.
func convert(ev *evaluated) *conversion {
	cv := &conversion{files: ev.Files}
	keys := make([]string, 0, len(ev.Config))
	for k := range ev.Config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	byKey := make(map[string]carried)
	var gw gatewayKeys
	for _, k := range keys {
		v, files := ev.Config[k], ev.Origins[k]
		drop := func(format string, args ...any) {
			cv.dropped = append(cv.dropped, dropped{key: k, files: files, reason: fmt.Sprintf(format, args...)})
		}
		if gw.take(k, v, files, drop) {
			continue
		}
		class, why := config.ClassifyKey(k)
		switch class {
		case config.KeyIgnored:
			drop("no effect in ackmsg: %s", why)
			continue
		case config.KeyUnsupported:
			drop("not supported by ackmsg: %s", why)
			continue
		case config.KeyUnknown:
			drop("%s", unknownReason(k))
			continue
		}
		if v == nil {
			drop("None (unset in fedmsg): nothing to carry, ackmsg's default applies")
			continue
		}
		if what, ok := findUnrepresentable(v); ok {
			drop("holds %s, which TOML cannot represent: nothing carried, ackmsg's default applies", what)
			continue
		}
		c := carried{key: k, kind: configKinds[k], files: files, entryFiles: ev.EntryOrigins[k]}
		val, err := convertValue(c.kind, v)
		if err != nil {
			cv.problems = append(cv.problems, fmt.Sprintf("%s: %s: %v", last(files), displayKey(k), err))
			continue
		}
		c.value = val
		if why := translate(k, val, ev.Config); why != "" {
			drop("%s", why)
			continue
		}
		byKey[k] = c
	}
	if c, ok := gw.carried(); ok {
		byKey["gateway"] = c
	}
	for _, k := range configKeys {
		if c, ok := byKey[k]; ok {
			cv.carried = append(cv.carried, c)
		}
	}
	return cv
}

// translate says why a converted value of an ackmsg key must not be carried as it is, because the
// key means something else in ackmsg; "" means carry it.
func translate(key string, v any, all map[string]any) string {
	switch key {
	case "high_water_mark":
		if v.(int64) == 0 {
			return "0 made fedmsg leave libzmq's default of 1000 messages, but means unlimited in ackmsg: " +
				"ackmsg's default, 10000, applies (write high_water_mark = 1000 to keep fedmsg's behaviour)"
		}
	}
	return ""
}

// unknownReason explains a key that neither ackmsg nor the fedmsg keys it knows define.
func unknownReason(key string) string {
	if app, _, ok := strings.Cut(key, "."); ok && app != "" {
		return fmt.Sprintf("not an ackmsg setting: a setting of %s (a fedmsg-hub consumer, or another program "+
			"reading fedmsg's configuration); ackmsg-hub consumers are [[hub.consumers]] tables", app)
	}
	return "not an ackmsg setting, nor a fedmsg setting ackmsg knows of"
}

// findUnrepresentable reports the first value the script could not express in JSON.
func findUnrepresentable(v any) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		if what, ok := v[unrepresentable].(string); ok && len(v) == 1 {
			return what, true
		}
		for _, k := range sortedKeys(v) {
			if what, ok := findUnrepresentable(v[k]); ok {
				return what, true
			}
		}
	case []any:
		for _, e := range v {
			if what, ok := findUnrepresentable(e); ok {
				return what, true
			}
		}
	}
	return "", false
}

// convertValue checks a value of the merged fedmsg configuration against what the ackmsg key
// takes, accepting what fedmsg accepts for it.
func convertValue(kind valueKind, v any) (any, error) {
	switch kind {
	case kindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string, got %s", pyType(v))
	case kindBool:
		switch v := v.(type) {
		case bool:
			return v, nil
		case string:
			// fedmsg's _validate_bool accepts these strings.
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, fmt.Errorf("want True or False, got %s", pyType(v))
	case kindInt:
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
			if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f), nil
			}
		}
		return nil, fmt.Errorf("want an integer, got %s", pyType(v))
	case kindSeconds:
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("want a number of seconds, got %s", pyType(v))
	case kindStrings:
		l, err := stringList(v)
		if err != nil {
			return nil, err
		}
		return l, nil
	case kindListMap:
		return listMap(v)
	case kindStringMap:
		return stringMap(v)
	case kindTable:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a dict, got %s", pyType(v))
		}
		t, err := plainTOML(m)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("no conversion")
}

// listMap converts a dict of lists of strings (or of single strings) (kindListMap).
func listMap(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a dict, got %s", pyType(v))
	}
	out := make(map[string][]string, len(m))
	for _, k := range sortedKeys(m) {
		if s, ok := m[k].(string); ok { // fedmsg accepts one address for a list of one
			out[k] = []string{s}
			continue
		}
		l, err := stringList(m[k])
		if err != nil {
			return nil, fmt.Errorf("[%s]: want a string or a list of strings: %v", displayKey(k), err)
		}
		out[k] = l
	}
	return out, nil
}

// stringMap converts a dict of strings (kindStringMap).
func stringMap(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a dict, got %s", pyType(v))
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			return nil, fmt.Errorf("[%s]: want a string, got %s", displayKey(k), pyType(m[k]))
		}
		out[k] = s
	}
	return out, nil
}

func stringList(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of strings, got %s", pyType(v))
	}
	out := make([]string, 0, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("item %d: want a string, got %s", i, pyType(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// plainTOML turns decoded JSON into values the TOML encoder writes: numbers become int64 or
// float64; None, which TOML has no way to write, is an error.
func plainTOML(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, fmt.Errorf("holds None, which TOML cannot represent")
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		return v.Float64()
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			p, err := plainTOML(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = p
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range sortedKeys(v) {
			p, err := plainTOML(v[k])
			if err != nil {
				return nil, fmt.Errorf("[%s]: %w", displayKey(k), err)
			}
			out[k] = p
		}
		return out, nil
	}
	return v, nil
}

// pyType names a decoded value's type as a fedmsg user would write it.
func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return "the string " + strconv.Quote(head(v, 60))
	case json.Number:
		return "the number " + v.String()
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func last(l []string) string {
	if len(l) == 0 {
		return "?"
	}
	return l[len(l)-1]
}

// carriedKeys counts the fedmsg keys carried (fedmsg-gateway's two make one table).
func (cv *conversion) carriedKeys() int {
	n := 0
	for _, c := range cv.carried {
		n += max(1, len(c.fedmsgKeys))
	}
	return n
}

// fedmsg-gateway's keys, carried into the [gateway] table: the port it binds on every interface
// and the high-water mark of its PUB socket (0 is libzmq's unlimited in both).
const (
	fedmsgGatewayPort = "fedmsg.consumers.gateway.port"
	fedmsgGatewayHWM  = "fedmsg.consumers.gateway.high_water_mark"
)

// gatewayKeys collects fedmsg-gateway's keys for the [gateway] table.
type gatewayKeys struct {
	table map[string]any
	files []string
	keys  []string
}

// take converts k when it is one of fedmsg-gateway's keys, dropping it (with drop) when its value
// is not a port or a high-water mark, and reports whether it was one.
func (g *gatewayKeys) take(k string, v any, files []string, drop func(string, ...any)) bool {
	if k != fedmsgGatewayPort && k != fedmsgGatewayHWM {
		return false
	}
	iv, err := convertValue(kindInt, v)
	n, _ := iv.(int64)
	switch {
	case err != nil:
		drop("%v: nothing carried, ackmsg-gateway's default applies", err)
	case k == fedmsgGatewayPort && (n < 1 || n > 65535):
		drop("port %d out of range 1-65535: nothing carried, ackmsg-gateway's default (9940) applies", n)
	case k == fedmsgGatewayHWM && n < 0:
		drop("%d is negative: nothing carried, ackmsg-gateway's default (1000) applies", n)
	default:
		if g.table == nil {
			g.table = map[string]any{}
		}
		if k == fedmsgGatewayPort {
			g.table["bind"] = fmt.Sprintf("tcp://*:%d", n)
		} else {
			g.table["hwm"] = n
		}
		g.files = append(g.files, files...)
		g.keys = append(g.keys, k)
	}
	return true
}

// carried is the [gateway] table, if a key was taken.
func (g *gatewayKeys) carried() (carried, bool) {
	if g.table == nil {
		return carried{}, false
	}
	return carried{key: "gateway", kind: kindTable, value: g.table, files: slices.Compact(slices.Sorted(slices.Values(g.files))), fedmsgKeys: g.keys}, true
}
