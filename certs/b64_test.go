package certs

import (
	"bytes"
	"strings"
	"testing"
)

// Results of Python 3.11's base64.b64decode on the same inputs (what fedmsg applies).
func TestDecodeLenientMatchesPython(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "ERR" for an exception
	}{
		{"QQ==", "A"},
		{"QQ==QQ==", "A"},
		{"QQ", "ERR"},
		{"QUJD", "ABC"},
		{"QUJDRA", "ERR"},
		{"QUJDRA=", "ERR"},
		{"QUJDRA==x", "ABCD"},
		{"Q===", "ERR"},
		{"QQ=\n=", "A"},
		{"=QQ==", "A"},
		{"QUJD=QUJD", "ABCABC"},
		{"QQ===", "A"},
		{"Q U\tJ\nD*", "ABC"},
		{"QUJD\u00e9", "ERR"}, // non-ASCII: ValueError in Python
		{"", ""},
	} {
		got, err := decodeLenient(tc.in)
		if tc.want == "ERR" {
			if err == nil {
				t.Errorf("%q: got %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestWrap76(t *testing.T) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 128, 256, 513} {
		data := bytes.Repeat([]byte{0xa5}, n)
		s := wrap76(data)
		if !strings.HasSuffix(s, "\n") || strings.Contains(s, "\n\n") {
			t.Errorf("%d bytes: bad layout %q", n, s)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		for i, l := range lines[:len(lines)-1] {
			if len(l) != 76 {
				t.Errorf("%d bytes: line %d has %d characters", n, i, len(l))
			}
		}
		back, err := decodeLenient(s)
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("%d bytes: round trip %x, %v", n, back, err)
		}
	}
	// fedmsg layouts: RSA-2048 signature (256 bytes) = 344 characters = 4 x 76 + 40.
	if lines := strings.Split(wrap76(make([]byte, 256)), "\n"); len(lines) != 6 || len(lines[4]) != 40 {
		t.Errorf("2048-bit layout: %d lines", len(lines))
	}
	// 4096-bit (512 bytes) = 684 characters = 9 x 76 exactly: no short line, one final newline.
	if s := wrap76(make([]byte, 512)); strings.Count(s, "\n") != 9 {
		t.Errorf("4096-bit layout: %d newlines", strings.Count(s, "\n"))
	}
}
