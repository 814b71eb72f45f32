package message

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestRoundTripReferenceTable is every row of the reference spec §2.6: what a validator computes
// from wire JSON by decoding and re-encoding it.
func TestRoundTripReferenceTable(t *testing.T) {
	big := "12345678901234567890123"
	tests := []struct{ wire, want string }{
		{`1`, `1`},
		{`-0`, `0`},
		{`0e0`, `0.0`},
		{`1.0`, `1.0`},
		{`1.50`, `1.5`},
		{`1e2`, `100.0`},
		{`1E2`, `100.0`},
		{`1E+2`, `100.0`},
		{`123e-2`, `1.23`},
		{`1e-7`, `1e-07`},
		{`2.5e-5`, `2.5e-05`},
		{`-0.0`, `-0.0`},
		{`1e400`, `Infinity`},
		{`-1e400`, `-Infinity`},
		{`1e-400`, `0.0`},
		{`-1e-400`, `-0.0`},
		{big, big},
		{`9007199254740993`, `9007199254740993`},
		{`9007199254740993.0`, `9007199254740992.0`},
		{`1.00000000000000000001`, `1.0`},
		{`100000000000000000000.0`, `1e+20`},
		{`123456789.123456789`, `123456789.12345679`},
		{`1e21`, `1e+21`},
		{`NaN`, `NaN`},
		{`Infinity`, `Infinity`},
		{`-Infinity`, `-Infinity`},
		{`"\u00E9"`, `"\u00e9"`},
		{`"\/"`, `"/"`},
		{`"é"`, `"\u00e9"`},
		{`"\ud83d\ude00"`, `"\ud83d\ude00"`},
		{`"\ud800"`, `"\ud800"`},
		{`"\udc00\ud800"`, `"\udc00\ud800"`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{ "b" : [ 1 , 2 ] , "a" : true }`, `{"a":true,"b":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.wire, func(t *testing.T) {
			v, err := Unmarshal([]byte(tt.wire))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got, err := Canonical(v)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	// The last row: an integer literal over 4300 digits cannot be parsed (Python 3.11+).
	for _, lit := range []string{strings.Repeat("1", 4301), "-" + strings.Repeat("1", 4301)} {
		if _, err := Unmarshal([]byte(lit)); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "4301 digits") {
			t.Errorf("%d-char integer: err = %v, want the 4300-digit limit", len(lit), err)
		}
	}
	for _, lit := range []string{strings.Repeat("1", 4300), "-" + strings.Repeat("1", 4300), strings.Repeat("1", 4301) + ".0"} {
		if _, err := Unmarshal([]byte(lit)); err != nil {
			t.Errorf("%d-char number: %v", len(lit), err)
		}
	}
}

func TestUnmarshalModel(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`false`, false},
		{`0`, Int("0")},
		{`-12`, Int("-12")},
		{`0.5`, 0.5},
		{`"a"`, "a"},
		{`[]`, []any{}},
		{`{}`, map[string]any{}},
		{" \t\r\n[1, \"x\" ,{\"k\":[null]}] \n", []any{Int("1"), "x", map[string]any{"k": []any{nil}}}},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u0000"`, "\x00"},
		{`"\ud800\u0041"`, "\xed\xa0\x80A"},
		{`"\ud800\ud800\udc00"`, "\xed\xa0\x80\U00010000"},
		{`"\ud83d"`, "\xed\xa0\xbd"},
		{`"\udfff"`, "\xed\xbf\xbf"},
		{`"\uDBFF\uDFFF"`, "\U0010ffff"},
		{"\"\x7f\u2028\"", "\x7f\u2028"},
	}
	for _, tt := range tests {
		got, err := Unmarshal([]byte(tt.in))
		if err != nil {
			t.Errorf("Unmarshal(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Unmarshal(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	got, err := Unmarshal([]byte(`[NaN,-Infinity,-0.0]`))
	if err != nil {
		t.Fatal(err)
	}
	a := got.([]any)
	if !math.IsNaN(a[0].(float64)) || !math.IsInf(a[1].(float64), -1) || !math.Signbit(a[2].(float64)) {
		t.Errorf("got %#v", a)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	deepObj := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	tests := []struct {
		name, in string
		offset   int
		reason   string
	}{
		{"empty", ``, 0, "expecting value"},
		{"only space", "  ", 2, "expecting value"},
		{"BOM", "\ufeff{}", 0, "BOM"},
		{"invalid UTF-8", "[\"a\xffb\"]", 3, "invalid UTF-8"},
		{"UTF-8 surrogate bytes", "\"\xed\xa0\x80\"", 1, "invalid UTF-8"},
		{"overlong", "\"\xc0\xaf\"", 1, "invalid UTF-8"},
		{"form feed space", "\f1", 0, "expecting value"},
		{"NBSP space", "\u00a01", 0, "expecting value"},
		{"raw newline in string", "\"a\nb\"", 2, "invalid control character"},
		{"raw NUL in string", "\"\x00\"", 1, "invalid control character"},
		{"raw tab after escape", "\"\\n\t\"", 3, "invalid control character"},
		{"bad escape", `"\x"`, 1, "invalid \\escape"},
		{"short \\u", `"\u12"`, 1, "invalid \\uXXXX escape"},
		{"bad hex", `"\u12g4"`, 1, "invalid \\uXXXX escape"},
		{"bad low surrogate hex", `"\ud800\uzzzz"`, 7, "invalid \\uXXXX escape"},
		{"unterminated", `"abc`, 0, "unterminated string"},
		{"unterminated escape", `"abc\`, 0, "unterminated string"},
		{"trailing garbage", `{} x`, 3, "extra data"},
		{"two values", `1 2`, 2, "extra data"},
		{"leading zero", `01`, 1, "extra data"},
		{"bare dot", `1.`, 1, "extra data"},
		{"leading dot", `.5`, 0, "expecting value"},
		{"plus", `+1`, 0, "expecting value"},
		{"dot exponent", `1.e5`, 1, "extra data"},
		{"dangling exponent", `1e`, 1, "extra data"},
		{"dangling exponent sign", `1e+`, 1, "extra data"},
		{"minus alone", `-`, 0, "expecting value"},
		{"-NaN", `-NaN`, 0, "expecting value"},
		{"nan lowercase", `nan`, 0, "expecting value"},
		{"-Inf truncated", `-Inf`, 0, "expecting value"},
		{"Arabic digit", "[1\u0661]", 2, "expecting ',' delimiter"},
		{"trailing comma array", `[1,]`, 3, "expecting value"},
		{"trailing comma object", `{"a":1,}`, 7, "expecting property name"},
		{"single quotes", `{'a':1}`, 1, "expecting property name"},
		{"missing colon", `{"a" 1}`, 5, "expecting ':' delimiter"},
		{"missing comma", `{"a":1 "b":2}`, 7, "expecting ',' delimiter"},
		{"unclosed array", `[1`, 2, "expecting ',' delimiter"},
		{"unclosed object", `{"a":1`, 6, "expecting ',' delimiter"},
		{"truncated true", `tru`, 0, "expecting value"},
		{"True", `True`, 0, "expecting value"},
		{"deep arrays", deep, MaxDepth, "nesting deeper than 1000"},
		{"deep objects", deepObj, 5 * MaxDepth, "nesting deeper than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Unmarshal([]byte(tt.in))
			if err == nil {
				t.Fatalf("accepted %q as %#v", tt.in, v)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("err %v does not wrap ErrSyntax", err)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if de.Offset != tt.offset || !strings.Contains(de.Reason, tt.reason) {
				t.Errorf("got offset %d reason %q, want offset %d reason containing %q", de.Offset, de.Reason, tt.offset, tt.reason)
			}
		})
	}
}

func TestUnmarshalDepthLimit(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	v, err := Unmarshal([]byte(ok))
	if err != nil {
		t.Fatalf("%d levels must parse: %v", MaxDepth, err)
	}
	if _, err := Canonical(v); err != nil {
		t.Errorf("what Unmarshal accepts must encode: %v", err)
	}
	// Far past the limit, and unbalanced: an error, not a stack overflow.
	if _, err := Unmarshal([]byte(strings.Repeat("[", 10_000_000))); !errors.Is(err, ErrSyntax) {
		t.Errorf("err = %v", err)
	}
}

func TestUnmarshalDoesNotKeepInput(t *testing.T) {
	in := []byte(`{"k":"value","n":123}`)
	v, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'x'
	}
	if want := map[string]any{"k": "value", "n": Int("123")}; !reflect.DeepEqual(v, want) {
		t.Errorf("result changed with the input buffer: %#v", v)
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := Unmarshal([]byte(`[1,]`))
	if got, want := err.Error(), "message: invalid JSON: expecting value at byte 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// Containers of every width around the decoder's stack arrays (smallObject, smallArray), nested
// inside one another at every position, with repeated keys on both sides of the spill: each
// decodes to the value it spells, the last of repeated keys winning.
func TestUnmarshalWideContainers(t *testing.T) {
	// build returns the JSON text of a container of n members or elements (member i is "k<i>"
	// with the value i, and a key repeated every 7 members, whose last value wins), with a
	// container of width inner at position at, and the value it must decode to.
	var build func(obj bool, n, at, inner, depth int) (string, any)
	build = func(obj bool, n, at, inner, depth int) (string, any) {
		var sb strings.Builder
		m, a := map[string]any{}, []any{}
		open, close := "[", "]"
		if obj {
			open, close = "{", "}"
		}
		sb.WriteString(open)
		for i := range n {
			if i > 0 {
				sb.WriteString(",")
			}
			var text string
			var v any = Int(strconv.Itoa(i))
			text = strconv.Itoa(i)
			if i == at && depth > 0 {
				text, v = build(!obj, inner, inner/2, n, depth-1)
			}
			if obj {
				k := "k" + strconv.Itoa(i)
				if i%7 == 6 {
					k = "dup"
				}
				sb.WriteString(`"` + k + `":`)
				m[k] = v
			} else {
				a = append(a, v)
			}
			sb.WriteString(text)
		}
		sb.WriteString(close)
		if obj {
			return sb.String(), m
		}
		return sb.String(), a
	}
	for _, obj := range []bool{true, false} {
		for n := 0; n <= 2*max(smallObject, smallArray)+3; n++ {
			for _, at := range []int{0, n / 2, n - 1, smallObject - 1, smallObject, smallArray} {
				for _, inner := range []int{1, smallObject, smallObject + 1, smallArray + 2} {
					text, want := build(obj, n, at, inner, 2)
					got, err := Unmarshal([]byte(text))
					if err != nil {
						t.Fatalf("Unmarshal(%s): %v", text, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("Unmarshal(%s) = %#v, want %#v", text, got, want)
					}
				}
			}
		}
	}
}
