package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// writeTOML renders a conversion as an ackmsg configuration file: a header naming the fedmsg
// files, the carried keys with the file each came from, and the keys not carried as comments.
func writeTOML(cv *conversion, sources []string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# ackmsg configuration converted by \"ackmsg-config import %s\".\n", strings.Join(sources, " "))
	b.WriteString("# fedmsg files read, in merge order:\n")
	for _, f := range cv.files {
		fmt.Fprintf(&b, "#   %s\n", f)
	}
	b.WriteString("# Each key says which file set it. Keys these files leave unset take ackmsg's defaults\n")
	b.WriteString("# (ackmsg-config check shows them).\n\n")

	// TOML wants every plain key before the first table.
	var tables []carried
	for _, c := range cv.carried {
		switch c.kind {
		case kindListMap, kindStringMap, kindTable:
			tables = append(tables, c)
			continue
		}
		fmt.Fprintf(&b, "%s = %s  # %s\n", tomlKey(c.key), inline(reflect.ValueOf(c.value)), fromFiles(c.files))
	}
	for _, c := range tables {
		if c.kind == kindTable {
			fmt.Fprintf(&b, "\n# %s\n", fromFiles(c.files))
			if err := toml.NewEncoder(&b).Encode(map[string]any{c.key: c.value}); err != nil {
				return nil, fmt.Errorf("writing %s: %w", c.key, err)
			}
			continue
		}
		fmt.Fprintf(&b, "\n[%s]\n", tomlKey(c.key))
		v := reflect.ValueOf(c.value)
		keys := v.MapKeys()
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		for _, n := range sortedStrings(names) {
			from := c.entryFiles[n]
			if from == "" {
				from = last(c.files)
			}
			fmt.Fprintf(&b, "%s = %s  # %s\n", tomlKey(n), inline(v.MapIndex(reflect.ValueOf(n))), from)
		}
	}
	if len(cv.dropped) > 0 {
		b.WriteString("\n# Not carried over (also printed on standard error by the import):\n")
		for _, d := range cv.dropped {
			fmt.Fprintf(&b, "#   %s\n", oneLine(d.String()))
		}
	}
	return b.Bytes(), nil
}

// fromFiles names the file that set a key, and the earlier ones it overrode.
func fromFiles(files []string) string {
	switch len(files) {
	case 0:
		return "?"
	case 1:
		return files[0]
	}
	return fmt.Sprintf("%s (over %s)", files[len(files)-1], strings.Join(files[:len(files)-1], ", "))
}

func oneLine(s string) string { return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s) }

func sortedStrings(l []string) []string {
	m := make(map[string]struct{}, len(l))
	for _, s := range l {
		m[s] = struct{}{}
	}
	return sortedKeys(m)
}

// tomlKey writes a key bare when TOML allows it, quoted otherwise ("bodhi.app01" stays one key).
func tomlKey(k string) string {
	if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return k
	}
	return tomlString(k)
}

// displayKey is tomlKey for messages.
func displayKey(k string) string { return tomlKey(k) }

// tomlString writes a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// inline writes a value as a TOML inline value: strings, booleans, numbers, arrays, and maps and
// structs (by their toml tags, omitting empty omitempty fields) as inline tables.
func inline(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return `""`
		}
		return inline(v.Elem())
	case reflect.String:
		return tomlString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if strings.ContainsAny(s, "e") && !strings.Contains(s, ".") && f == float64(int64(f)) {
			s = strconv.FormatInt(int64(f), 10)
		}
		return s
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = inline(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		if v.Len() == 0 {
			return "{}"
		}
		names := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			names = append(names, k.String())
		}
		parts := make([]string, 0, len(names))
		for _, n := range sortedStrings(names) {
			parts = append(parts, tomlKey(n)+" = "+inline(v.MapIndex(reflect.ValueOf(n).Convert(v.Type().Key()))))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case reflect.Struct:
		var parts []string
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if !f.IsExported() || tag == "-" {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if strings.Contains(opts, "omitempty") && v.Field(i).IsZero() {
				continue
			}
			parts = append(parts, tomlKey(tag)+" = "+inline(v.Field(i)))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return fmt.Sprintf("%v", v.Interface())
}
