package message

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzUnmarshal checks that Unmarshal never panics, fails only with a *DecodeError pointing into
// the input, and that whatever it accepts encodes, and re-decodes to a value that encodes to the
// same bytes (the property a signature check relies on). Seeds: testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x"]}`, `NaN`, `-0`, `"\ud800\udc00\udc00"`, `1e400`, `[{"":{}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %T %v is not a *DecodeError wrapping ErrSyntax", err, err)
			}
			if de.Offset < 0 || de.Offset > len(data) {
				t.Fatalf("offset %d outside the %d-byte input", de.Offset, len(data))
			}
			return
		}
		b1, err := Canonical(v)
		if err != nil {
			t.Fatalf("accepted %q but Canonical fails: %v", data, err)
		}
		for _, c := range b1 {
			if c >= utf8.RuneSelf {
				t.Fatalf("canonical output is not ASCII: %q", b1)
			}
		}
		v2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("canonical output %q does not parse: %v", b1, err)
		}
		b2, err := Canonical(v2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("not a fixed point:\n in: %q\n b1: %q\n b2: %q (%v)", data, b1, b2, err)
		}
		if m, err := Decode(data); err == nil {
			if _, err := m.SignedBytes(); err != nil {
				t.Fatalf("SignedBytes: %v", err)
			}
		}
	})
}

// FuzzCanonicalString checks that any Go string, used as a value and as a key, encodes to ASCII and
// decodes back to the same text: the same bytes for UTF-8 and WTF-8, with U+FFFD for each byte
// that is neither, and an adjacent WTF-8 high and low surrogate read back as the one code point
// they escape to (Python does the same). Seeds: testdata/fuzz/FuzzCanonicalString.
func FuzzCanonicalString(f *testing.F) {
	for _, s := range []string{"", "a\"\\/\b\f\n\r\t\x00\x1f\x7f", "é😀\uffff", "\xed\xa0\x80", "\xed\xa0\xbd\xed\xb8\x80", "\xff\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := expectedRoundTrip(s)
		for _, v := range []any{s, map[string]any{s: Int("1")}} {
			b, err := Canonical(v)
			if err != nil {
				t.Fatalf("Canonical(%q): %v", s, err)
			}
			for _, c := range b {
				if c >= utf8.RuneSelf {
					t.Fatalf("output is not ASCII: %q", b)
				}
			}
			back, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", b, err)
			}
			got, ok := back.(string)
			if m, isMap := back.(map[string]any); isMap {
				for k := range m {
					got, ok = k, len(m) == 1
				}
			}
			if !ok || got != want {
				t.Fatalf("%q encoded as %s reads back as %q, want %q", s, b, got, want)
			}
		}
		// Normalize repairs the string as the encoder would write it: same bytes out.
		n, err := Normalize(s)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", s, err)
		}
		nb, _ := Canonical(n)
		sb, _ := Canonical(s)
		if !bytes.Equal(nb, sb) || !validWTF8(n.(string)) {
			t.Fatalf("Normalize(%q) = %q, which encodes as %s, not %s", s, n, nb, sb)
		}
	})
}

// expectedRoundTrip is what a string reads back as after encoding, worked out code point by code
// point, independently of the encoder.
func expectedRoundTrip(s string) string {
	var cps []rune
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if i+2 < len(s) && s[i] == 0xed && s[i+1] >= 0xa0 && s[i+1] <= 0xbf && s[i+2] >= 0x80 && s[i+2] <= 0xbf {
				r, size = rune(s[i]&0x0f)<<12|rune(s[i+1]&0x3f)<<6|rune(s[i+2]&0x3f), 3
			} else {
				r = utf8.RuneError
			}
		}
		cps = append(cps, r)
		i += size
	}
	var out []byte
	for i := 0; i < len(cps); i++ {
		r := cps[i]
		switch {
		case r >= 0xd800 && r < 0xdc00 && i+1 < len(cps) && cps[i+1] >= 0xdc00 && cps[i+1] < 0xe000:
			out = utf8.AppendRune(out, 0x10000+(r-0xd800)<<10+(cps[i+1]-0xdc00))
			i++
		case r >= 0xd800 && r < 0xe000:
			out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6&0x3f), 0x80|byte(r&0x3f))
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}
