package message

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Unmarshal parses JSON exactly as Python 3.11's json.loads(data.decode("utf-8")) does, into the
// value model: nil, bool, Int, float64, string (UTF-8, with lone surrogates as WTF-8), []any and
// map[string]any. Every rejection is a *DecodeError wrapping ErrSyntax (see the package
// documentation for what is rejected).
//
// The returned strings share one copy of data, so data may be reused once Unmarshal returns.
func Unmarshal(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, &DecodeError{Offset: firstInvalidUTF8(data), Reason: "invalid UTF-8"}
	}
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		return nil, &DecodeError{Offset: 0, Reason: "unexpected UTF-8 BOM"}
	}
	d := decoder{s: string(data)}
	d.skipSpace()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.s) {
		return nil, d.errorf(d.pos, "extra data")
	}
	return v, nil
}

// decoder is a recursive-descent parser over one string copy of the input: strings without
// escapes and integer literals are substrings of it, so they cost no allocation of their own.
type decoder struct {
	s     string
	pos   int
	depth int
	// Scratch space shared by every nesting level: the elements and members of containers too
	// big for their stack arrays wait here until the container is complete and its exact size
	// known.
	elems   []any
	members []member
}

type member struct {
	key   string
	value any
}

func (d *decoder) errorf(off int, reason string) error {
	return &DecodeError{Offset: off, Reason: reason}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value parses the value at d.pos; whitespace before it has been skipped.
func (d *decoder) value() (any, error) {
	if d.pos >= len(d.s) {
		return nil, d.errorf(d.pos, "expecting value")
	}
	switch c := d.s[d.pos]; c {
	case '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		return s, nil
	case '{':
		return d.object()
	case '[':
		return d.array()
	case 't':
		return d.literal("true", true)
	case 'f':
		return d.literal("false", false)
	case 'n':
		return d.literal("null", nil)
	case 'N':
		return d.literal("NaN", math.NaN())
	case 'I':
		return d.literal("Infinity", math.Inf(1))
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
		return nil, d.errorf(d.pos, "expecting value")
	}
}

func (d *decoder) literal(word string, v any) (any, error) {
	if len(d.s)-d.pos < len(word) || d.s[d.pos:d.pos+len(word)] != word {
		return nil, d.errorf(d.pos, "expecting value")
	}
	d.pos += len(word)
	return v, nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return d.errorf(d.pos, "nesting deeper than "+strconv.Itoa(MaxDepth)+" levels")
	}
	return nil
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // {
	d.skipSpace()
	if d.pos < len(d.s) && d.s[d.pos] == '}' {
		d.pos++
		d.depth--
		return map[string]any{}, nil
	}
	// Members wait in an array on the stack; past smallObject of them, in the shared scratch.
	var small [smallObject]member
	members := small[:0]
	base, spilled := len(d.members), false
	for {
		if d.pos >= len(d.s) || d.s[d.pos] != '"' {
			return nil, d.errorf(d.pos, "expecting property name enclosed in double quotes")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.s) || d.s[d.pos] != ':' {
			return nil, d.errorf(d.pos, "expecting ':' delimiter")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		switch {
		case spilled:
			d.members = append(d.members, member{k, v})
		case len(members) == len(small):
			// Nested containers have popped what they pushed, so ours start at base.
			d.members = append(append(d.members, members...), member{k, v})
			spilled = true
		default:
			members = append(members, member{k, v})
		}
		d.skipSpace()
		if d.pos < len(d.s) && d.s[d.pos] == '}' {
			d.pos++
			break
		}
		if d.pos >= len(d.s) || d.s[d.pos] != ',' {
			return nil, d.errorf(d.pos, "expecting ',' delimiter")
		}
		d.pos++
		d.skipSpace()
	}
	if spilled {
		members = d.members[base:]
	}
	m := make(map[string]any, len(members))
	for _, kv := range members {
		m[kv.key] = kv.value // the last of repeated keys wins, as in Python
	}
	if spilled {
		clear(d.members[base:])
		d.members = d.members[:base]
	}
	d.depth--
	return m, nil
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // [
	d.skipSpace()
	if d.pos < len(d.s) && d.s[d.pos] == ']' {
		d.pos++
		d.depth--
		return []any{}, nil
	}
	// As for object members: an array on the stack, then the shared scratch.
	var small [smallArray]any
	elems := small[:0]
	base, spilled := len(d.elems), false
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		switch {
		case spilled:
			d.elems = append(d.elems, v)
		case len(elems) == len(small):
			d.elems = append(append(d.elems, elems...), v)
			spilled = true
		default:
			elems = append(elems, v)
		}
		d.skipSpace()
		if d.pos < len(d.s) && d.s[d.pos] == ']' {
			d.pos++
			break
		}
		if d.pos >= len(d.s) || d.s[d.pos] != ',' {
			return nil, d.errorf(d.pos, "expecting ',' delimiter")
		}
		d.pos++
		d.skipSpace()
	}
	if spilled {
		elems = d.elems[base:]
	}
	a := make([]any, len(elems))
	copy(a, elems)
	if spilled {
		clear(d.elems[base:])
		d.elems = d.elems[:base]
	}
	d.depth--
	return a, nil
}

// The most members and elements a container may have for the decoder to hold them (and for the
// encoder to sort an object's keys) in an array on the goroutine's stack.
const (
	smallObject = 16
	smallArray  = 16
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number follows Python's grammar -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?, where a fraction or an
// exponent that is not followed by digits is left unread (and then fails as unexpected data).
func (d *decoder) number() (any, error) {
	start := d.pos
	lit, isFloat, err := d.numberLiteral()
	if err != nil {
		return nil, err
	}
	if lit == "-Infinity" {
		return math.Inf(-1), nil
	}
	if isFloat {
		f, err := strconv.ParseFloat(lit, 64)
		// Overflow gives ±Inf with ErrRange, which Python accepts as inf; underflow gives ±0.
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, d.errorf(start, "invalid number")
		}
		return f, nil
	}
	if lit == "-0" {
		return Int("0"), nil
	}
	return Int(lit), nil
}

// numberLiteral reads the number at d.pos by number's grammar and returns its text, or "-Infinity"
// (a float). An integer literal longer than MaxIntDigits is an error.
func (d *decoder) numberLiteral() (lit string, isFloat bool, err error) {
	s := d.s
	start := d.pos
	i := start
	if s[i] == '-' {
		i++
		if i < len(s) && s[i] == 'I' {
			d.pos = i
			if _, err := d.literal("Infinity", nil); err != nil {
				return "", false, d.errorf(start, "expecting value")
			}
			return s[start:d.pos], true, nil
		}
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return "", false, d.errorf(start, "expecting value")
	}
	if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		isFloat = true
		i += 2
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i+1 < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if s[j] == '+' || s[j] == '-' {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			isFloat = true
			i = j
		}
	}
	d.pos = i
	lit = s[start:i]
	if !isFloat {
		if n := digitCount(lit); n > MaxIntDigits {
			return "", false, d.errorf(start, "integer literal of "+strconv.Itoa(n)+" digits exceeds the limit of "+strconv.Itoa(MaxIntDigits))
		}
	}
	return lit, isFloat, nil
}

// string parses the string at d.pos (its opening quote) with Python's strict rules: no raw
// control characters, only the escapes \" \\ \/ \b \f \n \r \t \uXXXX.
func (d *decoder) string() (string, error) {
	s := d.s
	start := d.pos + 1
	i := start + literalRun(s, start)
	if i >= len(s) {
		return "", d.errorf(start-1, "unterminated string")
	}
	switch c := s[i]; {
	case c == '"':
		d.pos = i + 1
		return s[start:i], nil
	case c < 0x20:
		return "", d.errorf(i, "invalid control character")
	}
	// Escapes only shorten the text, so the span up to the closing quote bounds the result, and
	// one allocation of that size holds it.
	var b strings.Builder
	b.Grow(closingQuote(s, start, i) - start)
	b.WriteString(s[start:i])
	for {
		run := i
		i += literalRun(s, i)
		b.WriteString(s[run:i])
		if i >= len(s) {
			return "", d.errorf(start-1, "unterminated string")
		}
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return b.String(), nil
		case c < 0x20:
			return "", d.errorf(i, "invalid control character")
		}
		if i+1 >= len(s) {
			return "", d.errorf(start-1, "unterminated string")
		}
		switch esc := s[i+1]; esc {
		case '"', '\\', '/':
			b.WriteByte(esc)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", d.errorf(i, "invalid \\uXXXX escape")
			}
			i += 6
			if r >= 0xd800 && r < 0xdc00 && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if r2, ok := hex4(s, i+2); ok && r2 >= 0xdc00 && r2 < 0xe000 {
					b.WriteRune(0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00))
					i += 6
					continue
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				// A lone surrogate: WTF-8, which WriteRune would replace by U+FFFD.
				b.Write(appendSurrogate(make([]byte, 0, 3), r))
			} else {
				b.WriteRune(r)
			}
			continue
		default:
			return "", d.errorf(i, "invalid \\escape")
		}
		i += 2
	}
}

// closingQuote returns the index of the quote that ends the string whose text starts at start,
// or len(s) when there is none; s[start:i] holds no backslash. A quote ends the string unless an
// odd number of backslashes precede it.
func closingQuote(s string, start, i int) int {
	for {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			return len(s)
		}
		i += j
		k := i
		for k > start && s[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i
		}
		i++
	}
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}
