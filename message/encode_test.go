package message

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestCanonicalReferenceTable is every row of the reference spec §2.5: the bytes fedmsg's encoder
// produced for each Python value.
func TestCanonicalReferenceTable(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"ascii", "hello", `"hello"`},
		{"latin1", "café", `"caf\u00e9"`},
		{"cjk", "中", `"\u4e2d"`},
		{"astral", "😀", `"\ud83d\ude00"`},
		{"lone surrogate", "\xed\xa0\x80", `"\ud800"`},
		{"U+2028", "\u2028", `"\u2028"`},
		{"BOM", "\ufeff", `"\ufeff"`},
		{"quote backslash", `a"b\c`, `"a\"b\\c"`},
		{"slash", "a/b", `"a/b"`},
		{"html", "<a&b>", `"<a&b>"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"C0 controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"DEL", "\x7f", `"\u007f"`},
		{"U+0080", "\u0080", `"\u0080"`},
		{"int 5", Int("5"), `5`},
		{"int -5", Int("-5"), `-5`},
		{"int 2**64", Int("18446744073709551616"), `18446744073709551616`},
		{"100.0", 100.0, `100.0`},
		{"1.0", 1.0, `1.0`},
		{"0.1", 0.1, `0.1`},
		{"-0.0", math.Copysign(0, -1), `-0.0`},
		{"1e15", 1e15, `1000000000000000.0`},
		{"1e16", 1e16, `1e+16`},
		{"1.5e16", 1.5e16, `1.5e+16`},
		{"123456789012345678.0", 123456789012345678.0, `1.2345678901234568e+17`},
		{"1e22", 1e22, `1e+22`},
		{"1e-4", 1e-4, `0.0001`},
		{"1e-5", 1e-5, `1e-05`},
		{"1.234e-7", 1.234e-7, `1.234e-07`},
		{"5e-324", 5e-324, `5e-324`},
		{"max double", math.MaxFloat64, `1.7976931348623157e+308`},
		{"1/3", 1.0 / 3, `0.3333333333333333`},
		{"2**53", float64(1 << 53), `9007199254740992.0`},
		{"NaN", math.NaN(), `NaN`},
		{"+inf", math.Inf(1), `Infinity`},
		{"-inf", math.Inf(-1), `-Infinity`},
		{"True", true, `true`},
		{"False", false, `false`},
		{"None", nil, `null`},
		{"empty dict", map[string]any{}, `{}`},
		{"empty list", []any{}, `[]`},
		{"nested sort", map[string]any{"b": Int("1"), "a": map[string]any{"d": []any{Int("1"), Int("2")}, "c": nil}},
			`{"a":{"c":null,"d":[1,2]},"b":1}`},
		{"key order", map[string]any{"B": Int("0"), "a": Int("0"), "_": Int("0"), "Z": Int("0"), "aa": Int("0"),
			"é": Int("0"), "😀": Int("0"), "\uffff": Int("0")},
			`{"B":0,"Z":0,"_":0,"a":0,"aa":0,"\u00e9":0,"\uffff":0,"\ud83d\ude00":0}`},
		{"tuple", []any{Int("1"), Int("2")}, `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.v)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestCanonicalGoDifferences covers the rows of reference §2.7 where Go's encoding/json writes
// something else.
func TestCanonicalGoDifferences(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"non-ASCII is escaped", "é😀", `"\u00e9\ud83d\ude00"`},
		{"no HTML escaping", "<>&", `"<>&"`},
		{"DEL escaped", "\x7f", `"\u007f"`},
		{"lone surrogates kept", "\xed\xb0\x80\xed\xa0\x80", `"\udc00\ud800"`},
		{"invalid UTF-8 replaced per byte", "a\xffb\xe2\x82", `"a\ufffdb\ufffd\ufffd"`},
		{"short \\b \\f", "\b\f", `"\b\f"`},
		{"float 100.0", 100.0, `100.0`},
		{"float 1e16", 1e16, `1e+16`},
		{"float 1e-5", 1e-5, `1e-05`},
		{"float 1.234e-7", 1.234e-7, `1.234e-07`},
		{"float -0.0", math.Copysign(0, -1), `-0.0`},
		{"NaN is written", []any{math.NaN(), math.Inf(1), math.Inf(-1)}, `[NaN,Infinity,-Infinity]`},
		{"U+FFFF sorts before U+1F600", map[string]any{"😀": "", "\uffff": ""}, `{"\uffff":"","\ud83d\ude00":""}`},
		{"big ints exact", Int("-123456789012345678901234567890"), `-123456789012345678901234567890`},
		{"Int -0 is 0", Int("-0"), `0`},
		{"Int leading zeros dropped", Int("-007"), `-7`},
		{"Int zeros", Int("000"), `0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.v)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCanonicalGoTypes(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{int(-1), `-1`},
		{int8(-128), `-128`},
		{int16(300), `300`},
		{int32(-70000), `-70000`},
		{int64(math.MinInt64), `-9223372036854775808`},
		{uint(7), `7`},
		{uint8(255), `255`},
		{uint16(65535), `65535`},
		{uint32(1 << 31), `2147483648`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{float32(0.1), `0.10000000149011612`},
		{float32(2), `2.0`},
		{[]string{"b", "a"}, `["b","a"]`},
		{[]string(nil), `[]`},
		{map[string]string{"b": "1", "a": "é"}, `{"a":"\u00e9","b":"1"}`},
		{map[string]any(nil), `{}`},
		{[]any(nil), `[]`},
		{map[string]any{"x": []any{map[string]any{"z": Int("1"), "y": int64(2)}}}, `{"x":[{"y":2,"z":1}]}`},
	}
	for _, tt := range tests {
		got, err := Canonical(tt.v)
		if err != nil {
			t.Errorf("Canonical(%T %v): %v", tt.v, tt.v, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Canonical(%T %v) = %s, want %s", tt.v, tt.v, got, tt.want)
		}
	}
}

func TestCanonicalErrors(t *testing.T) {
	deep := any(Int("1"))
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"struct", struct{ A int }{1}, "unsupported type struct { A int }"},
		{"channel", make(chan int), "unsupported type chan int"},
		{"nested func", map[string]any{"f": func() {}}, "unsupported type func()"},
		{"pointer", new(int), "unsupported type *int"},
		{"bad Int", Int("1.5"), `Int "1.5" is not a decimal integer`},
		{"empty Int", Int(""), "not a decimal integer"},
		{"Int over 4300 digits", Int(strings.Repeat("9", 4301)), "4301 digits exceeds"},
		{"too deep", deep, "nesting deeper than 1000"},
		{"cyclic", cyclic, "cyclic"},
		{"keys that repair to the same", map[string]any{"a\xff": 1, "a\xfe": 2}, "the same once invalid UTF-8 is replaced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			got, err := AppendCanonical(dst, tt.v)
			if !errors.Is(err, ErrEncode) {
				t.Fatalf("err = %v, want one wrapping ErrEncode", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
			if string(got) != "prefix" {
				t.Errorf("AppendCanonical returned %q on error, want dst unchanged", got)
			}
		})
	}
	if _, err := Canonical(Int(strings.Repeat("9", 4300))); err != nil {
		t.Errorf("4300 digits must encode: %v", err)
	}
	if _, err := Canonical(Int("-" + strings.Repeat("9", 4300))); err != nil {
		t.Errorf("-4300 digits must encode: %v", err)
	}
}

func TestCanonicalRepairedKeys(t *testing.T) {
	// Bad bytes in keys become U+FFFD, and the keys sort by that repaired form.
	got, err := Canonical(map[string]any{"\xffz": Int("1"), "\uffff": Int("2"), "a": map[string]any{"b\x80": nil}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":{"b\ufffd":null},"\ufffdz":1,"\uffff":2}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAppendCanonicalAppends(t *testing.T) {
	got, err := AppendCanonical([]byte("x="), map[string]any{"a": "b"})
	if err != nil || string(got) != `x={"a":"b"}` {
		t.Errorf("got %q, %v", got, err)
	}
}

// AppendMarshal appends exactly what Marshal returns, and leaves dst as given on an error.
func TestAppendMarshal(t *testing.T) {
	m := &Message{fields: map[string]any{"topic": "org.a", "msg": map[string]any{"k": "v"}, "i": Int("3")}}
	want, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.AppendMarshal([]byte("prefix"))
	if err != nil || string(got) != "prefix"+string(want) {
		t.Errorf("AppendMarshal = %q, %v; want prefix%s", got, err, want)
	}
	dst := make([]byte, 3, 64)
	copy(dst, "abc")
	bad := &Message{fields: map[string]any{"a": strings.Repeat("x", 100), "b": func() {}}}
	out, err := bad.AppendMarshal(dst)
	if err == nil || string(out) != "abc" {
		t.Errorf("AppendMarshal of a func = %q, %v; want abc and an error", out, err)
	}
}

// The encoders write into reused scratch buffers: what they return must be the caller's own, never
// changed by a later encoding, also when encodings run at the same time and fail halfway.
func TestEncodingsReturnTheirOwnBytes(t *testing.T) {
	encode := func(n int) (string, []byte) {
		big := strings.Repeat("x", n*97%5000)
		v := map[string]any{"n": Int(strconv.Itoa(n)), "big": big}
		want := `{"big":"` + big + `","n":` + strconv.Itoa(n) + `}`
		var got []byte
		var err error
		switch n % 3 {
		case 0:
			got, err = Canonical(v)
		case 1:
			got, err = (&Message{fields: v}).Marshal()
		default:
			got, err = (&Message{fields: v}).SignedBytes()
		}
		if err != nil {
			t.Error(err)
		}
		// A failing encoding in between leaves a half-written buffer behind.
		if _, err := Canonical(map[string]any{"a": big, "b": func() {}}); err == nil {
			t.Error("encoding a func did not fail")
		}
		return want, got
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var kept [][]byte
			var wants []string
			for n := g; n < 400; n += 4 {
				want, got := encode(n)
				kept, wants = append(kept, got), append(wants, want)
			}
			for i := range kept {
				if string(kept[i]) != wants[i] {
					t.Errorf("output changed after later encodings: %.60q, want %.60q", kept[i], wants[i])
				}
			}
		})
	}
	wg.Wait()
}

// TestCanonicalEveryBMPCodePoint checks the escape of every code point below U+10000 against an
// independent rule, and a sample above.
func TestCanonicalEveryCodePoint(t *testing.T) {
	for r := rune(0); r <= 0x10ffff; r++ {
		if r > 0xffff && r%97 != 0 && r != 0x10ffff && r != 0x10000 {
			continue
		}
		var s string
		if r >= 0xd800 && r < 0xe000 {
			s = string(appendSurrogate(nil, r))
		} else {
			s = string(r)
		}
		got, err := Canonical(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		switch {
		case r == '"' || r == '\\':
			want = `"\` + string(r) + `"`
		case r == '\b':
			want = `"\b"`
		case r == '\f':
			want = `"\f"`
		case r == '\n':
			want = `"\n"`
		case r == '\r':
			want = `"\r"`
		case r == '\t':
			want = `"\t"`
		case r >= 0x20 && r < 0x7f:
			want = `"` + string(r) + `"`
		case r > 0xffff:
			hi, lo := 0xd800+(r-0x10000)>>10, 0xdc00+(r-0x10000)&0x3ff
			want = `"` + u4(hi) + u4(lo) + `"`
		default:
			want = `"` + u4(r) + `"`
		}
		if string(got) != want {
			t.Fatalf("U+%04X: got %s, want %s", r, got, want)
		}
		back, err := Unmarshal(got)
		if err != nil || back != s {
			t.Fatalf("U+%04X: Unmarshal(%s) = %q, %v; want %q", r, got, back, err, s)
		}
	}
}

func u4(r rune) string {
	const hex = "0123456789abcdef"
	return `\u` + string([]byte{hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15]})
}
