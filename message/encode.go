package message

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Canonical returns fedmsg's canonical JSON for v (spec/wire.md §3).
//
// v may hold the value model (nil, bool, Int, float64, string, []any, map[string]any) and, for
// convenience, Go integers of every size (written as integers), float32 (written as the float64
// of the same value), []string and map[string]string. A nil []any or map is written as an empty
// array or object. Anything else fails with an error wrapping ErrEncode; Normalize converts
// other Go values first.
func Canonical(v any) ([]byte, error) {
	sp := getScratch()
	defer putScratch(sp)
	out, err := AppendCanonical(*sp, v)
	*sp = out
	if err != nil {
		return nil, err
	}
	return bytes.Clone(out), nil
}

// AppendCanonical appends the canonical JSON for v to dst, as Canonical does. On error it returns
// dst unchanged (with its original length) and the error.
func AppendCanonical(dst []byte, v any) ([]byte, error) {
	e := encoder{buf: dst}
	if err := e.value(v); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// encoder holds the output and one stack of object members shared by every nesting level, so an
// encoding allocates for members only while that stack grows. Objects of up to smallObject
// members (an envelope, most bodies) sort theirs in an array on the goroutine's stack instead.
type encoder struct {
	buf     []byte
	members []member
	depth   int
}

func (e *encoder) value(v any) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		if x {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case string:
		e.buf, _ = appendString(e.buf, x)
	case Int:
		return e.int(x)
	case float64:
		e.buf = appendFloat(e.buf, x)
	case map[string]any:
		return e.object(x, false, nil)
	case []any:
		if err := e.enter(); err != nil {
			return err
		}
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(el); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
		e.depth--
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int8:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int16:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case uint:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint8:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint16:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint32:
		e.buf = strconv.AppendUint(e.buf, uint64(x), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, x, 10)
	case float32:
		e.buf = appendFloat(e.buf, float64(x))
	case []string:
		e.buf = append(e.buf, '[')
		for i, s := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf, _ = appendString(e.buf, s)
		}
		e.buf = append(e.buf, ']')
	case map[string]string:
		return e.stringMap(x)
	default:
		return encodeErrorf("unsupported type %T (use Normalize)", v)
	}
	return nil
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > MaxDepth {
		return errTooDeep()
	}
	return nil
}

func (e *encoder) int(i Int) error {
	s, err := i.canonical()
	if err != nil {
		return err
	}
	e.buf = append(e.buf, s...)
	return nil
}

// object writes m with its keys in code-point order. With signed set, the fields that SignedBytes
// leaves out are skipped here, so no copy of the envelope is made.
func (e *encoder) object(m map[string]any, signed bool, omit []string) error {
	if err := e.enter(); err != nil {
		return err
	}
	// The members are sorted with their values, so that no key is looked up again.
	base := len(e.members)
	var small [smallObject]member
	members := small[:0]
	if len(m) <= len(small) {
		for k, v := range m {
			if !signed || !signedOut(k, omit) {
				members = append(members, member{k, v})
			}
		}
	} else {
		if e.members == nil {
			e.members = make([]member, 0, len(m)+smallObject)
		}
		for k, v := range m {
			if !signed || !signedOut(k, omit) {
				e.members = append(e.members, member{k, v})
			}
		}
		// Later nested objects push above base, and a reallocation leaves this slice intact.
		members = e.members[base:]
	}
	// Byte order of UTF-8 and WTF-8 is code-point order, which is Python's str order.
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	start := len(e.buf)
	e.buf = append(e.buf, '{')
	for i, kv := range members {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		var bad bool
		if e.buf, bad = appendString(e.buf, kv.key); bad {
			e.buf = e.buf[:start]
			e.popMembers(base)
			e.depth--
			return e.objectRepaired(m, signed, omit)
		}
		e.buf = append(e.buf, ':')
		if err := e.value(kv.value); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	e.popMembers(base)
	e.depth--
	return nil
}

// popMembers drops the shared stack's members from base up, letting go of their values.
func (e *encoder) popMembers(base int) {
	if len(e.members) > base {
		clear(e.members[base:])
		e.members = e.members[:base]
	}
}

// objectRepaired writes an object some of whose keys hold bytes that are neither UTF-8 nor WTF-8
// (only Go callers can make those). Such keys are written with U+FFFD in place of each bad byte,
// so they must be sorted by that repaired form; two keys that repair to the same text cannot be
// told apart in the output, which is an error.
func (e *encoder) objectRepaired(m map[string]any, signed bool, omit []string) error {
	if err := e.enter(); err != nil {
		return err
	}
	type entry struct{ repaired, key string }
	entries := make([]entry, 0, len(m))
	for k := range m {
		if !signed || !signedOut(k, omit) {
			entries = append(entries, entry{repairWTF8(k), k})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.repaired, b.repaired) })
	e.buf = append(e.buf, '{')
	for i, en := range entries {
		if i > 0 {
			if entries[i-1].repaired == en.repaired {
				return encodeErrorf("keys %q and %q are the same once invalid UTF-8 is replaced",
					truncate(entries[i-1].key), truncate(en.key))
			}
			e.buf = append(e.buf, ',')
		}
		e.buf, _ = appendString(e.buf, en.repaired)
		e.buf = append(e.buf, ':')
		if err := e.value(m[en.key]); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	e.depth--
	return nil
}

func (e *encoder) stringMap(m map[string]string) error {
	// Rare enough on the hot path to go through the general object code.
	obj := make(map[string]any, len(m))
	for k, v := range m {
		obj[k] = v
	}
	return e.object(obj, false, nil)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as Python's ensure_ascii encoder does. It reports whether s held bytes
// that are neither UTF-8 nor a WTF-8 surrogate; each such byte is written as \ufffd.
func appendString(dst []byte, s string) ([]byte, bool) {
	bad := false
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i += plainRun(s, i)
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = appendU(dst, rune(b))
			}
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if c, ok := surrogateAt(s, i); ok {
				r, size = c, 3
			} else {
				bad = true
			}
		}
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU(dst, 0xd800+r>>10)
			dst = appendU(dst, 0xdc00+r&0x3ff)
		} else {
			dst = appendU(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), bad
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// surrogateAt decodes the WTF-8 form of a surrogate code point (ED A0..BF 80..BF) at s[i:].
func surrogateAt(s string, i int) (rune, bool) {
	if i+2 < len(s) && s[i] == 0xed && s[i+1]&0xe0 == 0xa0 && s[i+2]&0xc0 == 0x80 {
		return 0xd000 | rune(s[i+1]&0x3f)<<6 | rune(s[i+2]&0x3f), true
	}
	return 0, false
}

// appendSurrogate appends the WTF-8 form of the surrogate c.
func appendSurrogate(dst []byte, c rune) []byte {
	return append(dst, 0xed, byte(0x80|c>>6&0x3f), byte(0x80|c&0x3f))
}

// repairWTF8 returns s with each byte that is neither UTF-8 nor part of a WTF-8 surrogate
// replaced by U+FFFD, matching what appendString writes.
func repairWTF8(s string) string {
	if validWTF8(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if _, ok := surrogateAt(s, i); ok {
				size = 3
			} else {
				out = utf8.AppendRune(out, utf8.RuneError)
				i++
				continue
			}
		}
		out = append(out, s[i:i+size]...)
		i += size
	}
	return string(out)
}

// validWTF8 reports whether s is UTF-8 in which surrogate code points may also appear.
func validWTF8(s string) bool {
	if utf8.ValidString(s) {
		return true
	}
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			if _, ok := surrogateAt(s, i); !ok {
				return false
			}
			size = 3
		}
		i += size
	}
	return true
}

// scratch holds output buffers between encodings. Each encoding writes into a buffer that is
// already large enough (and in cache), then copies the result into an allocation of its exact
// size, which the runtime need not zero first; guessing the size beforehand instead cost a walk
// of the value, a zeroed and usually oversized buffer, or a reallocation.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxScratch is the largest buffer kept for reuse: a rare huge message does not stay pinned.
const maxScratch = 64 << 10

// getScratch returns an empty buffer from scratch; putScratch gives it back, with whatever
// capacity it grew to. Nothing that escapes the encoding may point into it.
func getScratch() *[]byte {
	sp := scratch.Get().(*[]byte)
	*sp = (*sp)[:0]
	return sp
}

func putScratch(sp *[]byte) {
	if cap(*sp) <= maxScratch {
		scratch.Put(sp)
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
