package certs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// lineLen is M2Crypto's base64 line length, which fedmsg kept for compatibility.
const lineLen = 76

// wrap76 encodes b as standard padded base64 cut into 76-character lines joined by "\n", plus one
// final "\n" (reference §3.2). A length that is an exact multiple of 76 gets no empty last line.
func wrap76(b []byte) string {
	enc := base64.StdEncoding.EncodeToString(b)
	var sb strings.Builder
	sb.Grow(len(enc) + len(enc)/lineLen + 1)
	for len(enc) > lineLen {
		sb.WriteString(enc[:lineLen])
		sb.WriteByte('\n')
		enc = enc[lineLen:]
	}
	sb.WriteString(enc)
	sb.WriteByte('\n')
	return sb.String()
}

var errPadding = errors.New("incorrect padding")

// decodeLenient decodes base64 exactly as Python's base64.b64decode(s) (validate=False) does, which
// is what fedmsg applies to the signature and certificate fields: non-ASCII input is an error,
// every character outside the alphabet is skipped, a "=" that completes a quad ends the input
// (anything after it is ignored), a stray "=" elsewhere is skipped, and a last quad that is
// incomplete is an error ("Incorrect padding"). This mirrors CPython 3.11 binascii.a2b_base64.
func decodeLenient(s string) ([]byte, error) {
	// Fast path for the usual layout (alphabet, CR/LF line breaks, final padding): whenever Go's
	// decoder accepts a string, Python decodes it to the same bytes. FuzzDecodeLenient checks it.
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return decodePython(s)
}

// decodePython is the byte-by-byte port of binascii.a2b_base64 (strict_mode=False).
func decodePython(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4+3)
	var (
		quad     int // position in the current quad, 0..3
		pads     int
		leftchar byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return nil, fmt.Errorf("non-ASCII byte 0x%02x at offset %d", c, i)
		}
		if c == '=' {
			pads++
			if quad >= 2 && quad+pads >= 4 {
				return out, nil
			}
			continue
		}
		v, ok := b64val(c)
		if !ok {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			leftchar = v
			quad = 1
		case 1:
			out = append(out, leftchar<<2|v>>4)
			leftchar = v & 0x0f
			quad = 2
		case 2:
			out = append(out, leftchar<<4|v>>2)
			leftchar = v & 0x03
			quad = 3
		case 3:
			out = append(out, leftchar<<6|v)
			leftchar = 0
			quad = 0
		}
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		return nil, fmt.Errorf("number of data characters cannot be 1 more than a multiple of 4")
	default:
		return nil, errPadding
	}
}

func b64val(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}
