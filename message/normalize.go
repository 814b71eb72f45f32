package message

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"reflect"
	"strconv"
)

// Normalize converts a Go value into the value model (see the package documentation) and returns
// it. A value already in the model is returned as it is, not copied, so it must not be changed
// afterwards; otherwise a new value is built and v is left untouched.
//
// Conversions:
//   - Go integers of every size, *big.Int: Int. float32: the float64 of the same value.
//   - Strings: bytes that are neither UTF-8 nor WTF-8 surrogates become U+FFFD, as the encoder
//     writes them. An Int with leading zeros or "-0" is respelled canonically.
//   - json.Number: an Int when it has no '.', 'e' or 'E', else a float64, as Unmarshal decides.
//     json.RawMessage: parsed by Unmarshal.
//   - Slices and arrays: []any ([]byte becomes a base64 string, as encoding/json writes it); maps
//     with string keys: map[string]any. Nil slices and maps become empty ones; nil pointers and
//     interfaces become nil (JSON null).
//   - Structs, and any type with a MarshalJSON or MarshalText method: encoding/json.Marshal, then
//     Unmarshal. Struct tags therefore apply, and encoding/json's own rules too: it writes the
//     float64 100.0 as 100, which then reads back as the Int 100, so a float field keeps its
//     floatness only when it is not integral. Use float-free fields, or maps, when that matters.
//
// Channels, functions, complex numbers, maps with non-string keys and nesting deeper than
// MaxDepth (a cyclic value, say) fail with an error wrapping ErrEncode.
func Normalize(v any) (any, error) {
	out, _, err := normalize(v, 0)
	return out, err
}

// normalize returns v's model form, and whether it differs from v (so containers are copied only
// when something inside them had to change).
func normalize(v any, depth int) (any, bool, error) {
	switch x := v.(type) {
	case nil, bool, float64:
		return v, false, nil
	case string:
		if validWTF8(x) {
			return v, false, nil
		}
		return repairWTF8(x), true, nil
	case Int:
		s, err := x.canonical()
		if err != nil {
			return nil, false, err
		}
		if s == string(x) {
			return v, false, nil
		}
		return Int(s), true, nil
	case map[string]any:
		out, changed, err := normalizeMap(x, depth)
		if !changed || err != nil {
			return v, false, err
		}
		return out, true, nil
	case []any:
		out, changed, err := normalizeSlice(x, depth)
		if !changed || err != nil {
			return v, false, err
		}
		return out, true, nil
	}
	if n, ok := normalizeNumber(v); ok {
		return n, true, nil
	}
	return normalizeGo(v, depth)
}

// normalizeNumber converts Go's other integer types and float32; ok is false for any other type.
func normalizeNumber(v any) (n any, ok bool) {
	switch x := v.(type) {
	case int:
		return IntOf(int64(x)), true
	case int8:
		return IntOf(int64(x)), true
	case int16:
		return IntOf(int64(x)), true
	case int32:
		return IntOf(int64(x)), true
	case int64:
		return IntOf(x), true
	case uint:
		return Int(strconv.FormatUint(uint64(x), 10)), true
	case uint8:
		return Int(strconv.FormatUint(uint64(x), 10)), true
	case uint16:
		return Int(strconv.FormatUint(uint64(x), 10)), true
	case uint32:
		return Int(strconv.FormatUint(uint64(x), 10)), true
	case uint64:
		return Int(strconv.FormatUint(x, 10)), true
	case float32:
		return float64(x), true
	}
	return nil, false
}

// normalizeGo converts the other Go types the model takes: string slices and maps, JSON numbers
// and raw JSON, big integers, and by reflection structs, other maps, slices and pointers.
func normalizeGo(v any, depth int) (any, bool, error) {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = repairWTF8(s)
		}
		return out, true, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		var bad []string
		for k, s := range x {
			if validWTF8(k) {
				out[k] = repairWTF8(s)
			} else {
				bad = append(bad, k)
			}
		}
		for _, k := range bad {
			if err := putRepaired(out, k, repairWTF8(x[k])); err != nil {
				return nil, false, err
			}
		}
		return out, true, nil
	case json.Number:
		n, err := numberOf(string(x))
		return n, true, err
	case json.RawMessage:
		n, err := Unmarshal(x)
		if err != nil {
			return nil, false, encodeErrorf("json.RawMessage: %w", err)
		}
		return n, true, nil
	case *big.Int:
		if x == nil {
			return nil, true, nil
		}
		return IntOfBig(x), true, nil
	}
	out, err := normalizeReflect(reflect.ValueOf(v), depth)
	return out, true, err
}

func normalizeMap(m map[string]any, depth int) (map[string]any, bool, error) {
	if depth >= MaxDepth {
		return nil, false, errTooDeep()
	}
	if m == nil {
		return map[string]any{}, true, nil
	}
	var out map[string]any
	for k, el := range m {
		n, changed, err := normalize(el, depth+1)
		if err != nil {
			return nil, false, err
		}
		keyOK := validWTF8(k)
		if out == nil && (changed || !keyOK) {
			// First change: copy the map (the runtime copies its table as it is, without
			// inserting entry by entry), then continue into the copy, replacing what changes.
			out = maps.Clone(m)
		}
		switch {
		case out == nil:
		case !keyOK:
			// No valid key equals an invalid one: the copy's other invalid keys, removed when
			// they are visited, cannot clash with this key's repaired form.
			delete(out, k)
			if err := putRepaired(out, k, n); err != nil {
				return nil, false, err
			}
		case changed:
			out[k] = n
		}
	}
	if out == nil {
		return m, false, nil
	}
	return out, true, nil
}

// putRepaired stores v under k with its invalid bytes replaced, refusing to merge two keys into
// one. out must already hold every key that needs no repair, so that a clash is always seen.
func putRepaired(out map[string]any, k string, v any) error {
	r := repairWTF8(k)
	if r != k {
		if _, dup := out[r]; dup {
			return encodeErrorf("key %q is the same as another once invalid UTF-8 is replaced", truncate(k))
		}
	}
	out[r] = v
	return nil
}

func normalizeSlice(a []any, depth int) ([]any, bool, error) {
	if depth >= MaxDepth {
		return nil, false, errTooDeep()
	}
	if a == nil {
		return []any{}, true, nil
	}
	var out []any
	for i, el := range a {
		n, changed, err := normalize(el, depth+1)
		if err != nil {
			return nil, false, err
		}
		if changed && out == nil {
			out = make([]any, len(a))
			copy(out, a[:i])
		}
		if out != nil {
			out[i] = n
		}
	}
	if out == nil {
		return a, false, nil
	}
	return out, true, nil
}

// numberOf classifies a number literal as Unmarshal does.
func numberOf(s string) (any, error) {
	v, err := Unmarshal([]byte(s))
	if err != nil {
		return nil, encodeErrorf("json.Number %q: %w", truncate(s), err)
	}
	switch v.(type) {
	case Int, float64:
		return v, nil
	}
	return nil, encodeErrorf("json.Number %q is not a number", truncate(s))
}

func normalizeReflect(rv reflect.Value, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, errTooDeep()
	}
	if !rv.IsValid() {
		return nil, nil
	}
	t := rv.Type()
	if marshalsItself(t) {
		if rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, nil
		}
		return viaJSON(rv.Interface())
	}
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return IntOf(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Int(strconv.FormatUint(rv.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return repairWTF8(rv.String()), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
		return normalizeElem(rv.Elem(), depth)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !marshalsItself(t.Elem()) {
			return base64.StdEncoding.EncodeToString(rv.Bytes()), nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			el, err := normalizeElem(rv.Index(i), depth)
			if err != nil {
				return nil, err
			}
			out[i] = el
		}
		return out, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, encodeErrorf("unsupported type %s: map keys must be strings", t)
		}
		out := make(map[string]any, rv.Len())
		var bad []reflect.Value
		for it := rv.MapRange(); it.Next(); {
			if !validWTF8(it.Key().String()) {
				bad = append(bad, it.Key())
				continue
			}
			el, err := normalizeElem(it.Value(), depth)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = el
		}
		for _, k := range bad {
			el, err := normalizeElem(rv.MapIndex(k), depth)
			if err != nil {
				return nil, err
			}
			if err := putRepaired(out, k.String(), el); err != nil {
				return nil, err
			}
		}
		return out, nil
	case reflect.Struct:
		return viaJSON(rv.Interface())
	}
	return nil, encodeErrorf("unsupported type %s", t)
}

// marshalsItself reports whether encoding/json lets t choose its own JSON form.
func marshalsItself(t reflect.Type) bool {
	return t.Implements(reflect.TypeFor[json.Marshaler]()) || t.Implements(reflect.TypeFor[encoding.TextMarshaler]())
}

// normalizeElem normalizes an element reached through reflection, one level deeper.
func normalizeElem(rv reflect.Value, depth int) (any, error) {
	if rv.CanInterface() {
		out, _, err := normalize(rv.Interface(), depth+1)
		return out, err
	}
	return normalizeReflect(rv, depth+1)
}

// viaJSON gives v the meaning encoding/json gives it.
func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, encodeErrorf("%T: %w", v, err)
	}
	out, err := Unmarshal(b)
	if err != nil {
		return nil, encodeErrorf("%T: encoding/json output: %w", v, err)
	}
	return out, nil
}

// IsFalsy reports whether Python would find the model value v false: None, False, 0, 0.0, -0.0,
// "", and empty lists and dicts. fedmsg replaces a falsy body with {}.
func IsFalsy(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case Int:
		s, ok := canonicalInt(string(x))
		return ok && s == "0"
	case float64:
		return x == 0
	case float32:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case map[string]string:
		return len(x) == 0
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return reflect.ValueOf(x).IsZero()
	}
	return false
}

func reflectTypeName(v any) string { return reflect.TypeOf(v).String() }
