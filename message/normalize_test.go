package message

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

type level string

type point struct {
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Label string  `json:"label,omitempty"`
	N     Int     `json:"n"`
}

type upper string

func (u upper) MarshalText() ([]byte, error) { return []byte(strings.ToUpper(string(u))), nil }

func TestNormalize(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	var nilMap map[string]int
	var nilPtr *point
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"int", 5, Int("5")},
		{"int64 min", int64(math.MinInt64), Int("-9223372036854775808")},
		{"uint64 max", uint64(math.MaxUint64), Int("18446744073709551615")},
		{"uint8", uint8(200), Int("200")},
		{"float32", float32(1.5), 1.5},
		{"float64 integral stays float", 100.0, 100.0},
		{"Int respelled", Int("-0"), Int("0")},
		{"big.Int", new(big.Int).Lsh(big.NewInt(1), 64), Int("18446744073709551616")},
		{"nil big.Int", (*big.Int)(nil), nil},
		{"invalid UTF-8 string", "a\xffb", "a\ufffdb"},
		{"WTF-8 surrogate kept", "\xed\xa0\x80", "\xed\xa0\x80"},
		{"[]string", []string{"a", "\xff"}, []any{"a", "\ufffd"}},
		{"map[string]string", map[string]string{"k": "v"}, map[string]any{"k": "v"}},
		{"json.Number int", json.Number("-0"), Int("0")},
		{"json.Number big", json.Number("123456789012345678901234567890"), Int("123456789012345678901234567890")},
		{"json.Number float", json.Number("1E2"), 100.0},
		{"json.RawMessage", json.RawMessage(`{"a":[1,2.0]}`), map[string]any{"a": []any{Int("1"), 2.0}}},
		{"nested Go values", map[string]any{"a": []any{1, uint16(2), float32(3)}, "b": "x"},
			map[string]any{"a": []any{Int("1"), Int("2"), 3.0}, "b": "x"}},
		{"nil []any", []any(nil), []any{}},
		{"nil map[string]any", map[string]any(nil), map[string]any{}},
		{"[]float64 keeps floats", []float64{1, 2.5}, []any{1.0, 2.5}},
		{"map[string]float64 keeps floats", map[string]float64{"load": 1}, map[string]any{"load": 1.0}},
		{"map[string]int", map[string]int{"a": 1}, map[string]any{"a": Int("1")}},
		{"nil map of ints", nilMap, map[string]any{}},
		{"array", [2]bool{true, false}, []any{true, false}},
		{"named string", level("warn"), "warn"},
		{"[]byte as base64", []byte("hi"), "aGk="},
		{"pointer to int", func() *int { n := 3; return &n }(), Int("3")},
		{"nil pointer", nilPtr, nil},
		{"struct via encoding/json", point{X: 1.5, Y: 2, N: "7"}, map[string]any{"x": 1.5, "y": Int("2"), "n": Int("7")}},
		{"pointer to struct", &point{X: 0.25, N: "-1"}, map[string]any{"x": 0.25, "y": Int("0"), "n": Int("-1")}},
		{"time.Time", when, "2024-01-02T03:04:05Z"},
		{"TextMarshaler", upper("abc"), "ABC"},
		{"map of structs", map[string]point{"p": {X: 3, N: "0"}}, map[string]any{"p": map[string]any{"x": Int("3"), "y": Int("0"), "n": Int("0")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
			if _, err := Canonical(got); err != nil {
				t.Errorf("Canonical of the result: %v", err)
			}
		})
	}
}

func TestNormalizeModelNotCopied(t *testing.T) {
	in := map[string]any{"a": []any{Int("1"), "x", map[string]any{"b": 1.5}}}
	out, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(out).UnsafePointer() != reflect.ValueOf(in).UnsafePointer() {
		t.Error("a value already in the model was copied")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize(in) }); n != 0 {
		t.Errorf("Normalize of a model value allocates %v times", n)
	}
}

func TestNormalizeDoesNotMutate(t *testing.T) {
	inner := []any{1, "a"}
	in := map[string]any{"keep": "x", "conv": inner, "bad\xff": true}
	out, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if inner[0] != 1 || in["bad\xff"] != true || len(in) != 3 {
		t.Errorf("input changed: %#v", in)
	}
	want := map[string]any{"keep": "x", "conv": []any{Int("1"), "a"}, "bad\ufffd": true}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got %#v, want %#v", out, want)
	}
}

func TestNormalizeErrors(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["c"] = cyclic
	type selfRef struct{ Next any }
	loop := &selfRef{}
	loop.Next = loop
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"channel", make(chan int), "unsupported type chan int"},
		{"func in map", map[string]any{"f": func() {}}, "unsupported type func()"},
		{"complex", complex(1, 2), "unsupported type complex128"},
		{"int keys", map[int]string{1: "a"}, "map keys must be strings"},
		{"NaN in struct", struct{ F float64 }{math.NaN()}, "unsupported value: NaN"},
		{"bad json.Number", json.Number("1x"), `json.Number "1x"`},
		{"json.Number not a number", json.Number(`"s"`), "not a number"},
		{"bad RawMessage", json.RawMessage(`{`), "json.RawMessage"},
		{"bad Int", Int("x"), "not a decimal integer"},
		{"Int over the limit", Int(strings.Repeat("1", 4301)), "exceeds Python's limit"},
		{"cyclic map", cyclic, "cyclic"},
		{"cyclic struct", loop, "cycle"},
		{"colliding repaired keys", map[string]any{"a\xff": 1, "a\ufffd": 2}, "same as another"},
		{"colliding repaired keys, map[string]string", map[string]string{"a\xff": "", "a\ufffd": ""}, "same as another"},
		{"colliding repaired keys, map[string]int", map[string]int{"a\xff": 1, "a\ufffd": 2}, "same as another"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(tt.in)
			if !errors.Is(err, ErrEncode) {
				t.Fatalf("err = %v, want one wrapping ErrEncode", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestIsFalsy(t *testing.T) {
	falsy := []any{nil, false, Int("0"), Int("-0"), 0.0, math.Copysign(0, -1), "", []any{}, map[string]any{}, []string{}, 0, uint8(0), float32(0)}
	truthy := []any{true, Int("1"), math.NaN(), 0.5, " ", []any{nil}, map[string]any{"": nil}, 1, struct{}{}}
	for _, v := range falsy {
		if !IsFalsy(v) {
			t.Errorf("IsFalsy(%#v) = false", v)
		}
	}
	for _, v := range truthy {
		if IsFalsy(v) {
			t.Errorf("IsFalsy(%#v) = true", v)
		}
	}
}

func TestIntMethods(t *testing.T) {
	for _, tt := range []struct {
		i    Int
		n    int64
		fits bool
	}{
		{"0", 0, true}, {"-9223372036854775808", math.MinInt64, true}, {"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false}, {"+5", 0, false}, {"1.0", 0, false}, {"", 0, false},
	} {
		n, ok := tt.i.Int64()
		if n != tt.n || ok != tt.fits {
			t.Errorf("Int(%q).Int64() = %d, %v", tt.i, n, ok)
		}
	}
	if IntOf(-42) != "-42" || IntOfBig(nil) != "0" {
		t.Error("IntOf")
	}
	b, ok := Int("-18446744073709551616").Big()
	if !ok || b.String() != "-18446744073709551616" {
		t.Errorf("Big = %v, %v", b, ok)
	}
	var s struct{ N Int }
	if err := json.Unmarshal([]byte(`{"N":123456789012345678901234567890}`), &s); err != nil || s.N != "123456789012345678901234567890" {
		t.Errorf("UnmarshalJSON: %v %q", err, s.N)
	}
	if err := json.Unmarshal([]byte(`{"N":1.5}`), &s); err == nil {
		t.Error("UnmarshalJSON accepted a float")
	}
	out, err := json.Marshal(struct{ N Int }{"-0"})
	if err != nil || string(out) != `{"N":0}` {
		t.Errorf("MarshalJSON: %s %v", out, err)
	}
}

// Maps mixing valid and invalid keys with values that change and values that do not: whatever
// order the map is visited in, the copy holds every entry once, repaired and converted.
func TestNormalizeMapMixes(t *testing.T) {
	keys := []string{"a", "b", "c\xff", "d", "e\xfe", "f"}
	vals := []any{"x", 1, Int("2"), "bad\xff", []any{3}, true}
	for mask := range 1 << len(keys) {
		in, want := map[string]any{}, map[string]any{}
		for i, k := range keys {
			if mask&(1<<i) == 0 {
				continue
			}
			v := vals[(i+mask)%len(vals)]
			in[k] = v
			n, err := Normalize(v)
			if err != nil {
				t.Fatal(err)
			}
			want[repairWTF8(k)] = n
		}
		for range 20 { // map iteration order varies from run to run
			got, err := Normalize(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Normalize(%#v) = %#v, want %#v", in, got, want)
			}
		}
	}
}
