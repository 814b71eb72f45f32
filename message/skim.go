package message

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// head is what skim reads of an envelope without decoding it: the fields a receiver needs before
// it hands the message on (the topic to compare with frame 1, the msg_id, the timestamp for
// max_message_age).
type head struct {
	topic, msgID string
	timestamp    int64
}

// skimEnvelope checks data as Decode does, without building the value model, and reads its head.
// ok is false when data is not an envelope Decode would accept, and also whenever skim is not
// sure: the caller then decodes data fully, which decides. So skim may refuse what Decode accepts,
// but must never accept what Decode refuses (FuzzDecodeLazy holds it to that).
func skimEnvelope(data []byte) (h head, ok bool) {
	if !utf8.Valid(data) {
		return head{}, false
	}
	// The scan only reads data, during this call, and keeps nothing of it: no copy is needed.
	d := decoder{s: unsafe.String(unsafe.SliceData(data), len(data))}
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '{' {
		return head{}, false // (a byte-order mark is not '{')
	}
	h, ok = d.skimObject()
	if !ok {
		return head{}, false
	}
	d.skipSpace()
	return h, d.pos == len(d.s)
}

// skimObject reads the top-level object at d.pos: its members are checked, and topic, msg_id and
// timestamp (the last of repeated keys, as in Python) are read, copied out of d.s.
func (d *decoder) skimObject() (head, bool) {
	var h head
	var hasTopic, hasID bool
	d.depth = 1
	d.pos++ // {
	d.skipSpace()
	for d.pos < len(d.s) && d.s[d.pos] == '"' {
		k, err := d.string()
		if err != nil || !d.colon() {
			return head{}, false
		}
		switch k {
		case FieldTopic:
			h.topic, hasTopic = d.skimString()
		case FieldMsgID:
			h.msgID, hasID = d.skimString()
		case FieldTimestamp:
			h.timestamp = d.skimInt64()
		default:
			if !d.skip() {
				return head{}, false
			}
		}
		if d.pos < 0 {
			return head{}, false // a value skimString or skimInt64 refused
		}
		d.skipSpace()
		if d.pos < len(d.s) && d.s[d.pos] == '}' {
			d.pos++
			// Strings without escapes are substrings of d.s, which is data: copy them, in one
			// allocation.
			both := h.topic + h.msgID
			h.topic, h.msgID = both[:len(h.topic)], both[len(h.topic):]
			return h, hasTopic && hasID
		}
		if d.pos >= len(d.s) || d.s[d.pos] != ',' {
			return head{}, false
		}
		d.pos++
		d.skipSpace()
	}
	return head{}, false // an empty object has no topic; anything else is not an object member
}

// skimString reads a string value (true) or steps over a value of another kind (false); on a
// malformed value it sets d.pos to -1.
func (d *decoder) skimString() (string, bool) {
	if d.pos < len(d.s) && d.s[d.pos] == '"' {
		s, err := d.string()
		if err != nil {
			d.pos = -1
		}
		return s, err == nil
	}
	if !d.skip() {
		d.pos = -1
	}
	return "", false
}

// skimInt64 reads a value as Timestamp reads the field; on a malformed value it sets d.pos to -1.
func (d *decoder) skimInt64() int64 {
	if d.pos < len(d.s) && (d.s[d.pos] == '-' || isDigit(d.s[d.pos])) {
		v, err := d.number()
		if err != nil {
			d.pos = -1
		}
		return int64Of(v)
	}
	if !d.skip() {
		d.pos = -1
	}
	return 0
}

// colon reads the ':' after an object's key, with the whitespace around it.
func (d *decoder) colon() bool {
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != ':' {
		return false
	}
	d.pos++
	d.skipSpace()
	return true
}

// skip checks the value at d.pos as value would parse it, and steps over it.
func (d *decoder) skip() bool {
	if d.pos >= len(d.s) {
		return false
	}
	switch c := d.s[d.pos]; c {
	case '"':
		return d.skipString()
	case '{':
		return d.skipContainer('}', true)
	case '[':
		return d.skipContainer(']', false)
	case 't':
		return d.skipWord("true")
	case 'f':
		return d.skipWord("false")
	case 'n':
		return d.skipWord("null")
	case 'N':
		return d.skipWord("NaN")
	case 'I':
		return d.skipWord("Infinity")
	default:
		if c != '-' && !isDigit(c) {
			return false
		}
		lit, isFloat, err := d.numberLiteral()
		if err != nil {
			return false
		}
		if isFloat && lit != "-Infinity" {
			_, err := strconv.ParseFloat(lit, 64)
			return err == nil || errors.Is(err, strconv.ErrRange)
		}
		return true
	}
}

func (d *decoder) skipWord(word string) bool {
	if !strings.HasPrefix(d.s[d.pos:], word) {
		return false
	}
	d.pos += len(word)
	return true
}

// skipContainer steps over the object (with keys) or array at d.pos, which ends with end.
func (d *decoder) skipContainer(end byte, keys bool) bool {
	if d.enter() != nil {
		return false
	}
	d.pos++
	d.skipSpace()
	if d.pos < len(d.s) && d.s[d.pos] == end {
		d.pos++
		d.depth--
		return true
	}
	for {
		if keys && (d.pos >= len(d.s) || d.s[d.pos] != '"' || !d.skipString() || !d.colon()) {
			return false
		}
		if !d.skip() {
			return false
		}
		d.skipSpace()
		if d.pos < len(d.s) && d.s[d.pos] == end {
			d.pos++
			d.depth--
			return true
		}
		if d.pos >= len(d.s) || d.s[d.pos] != ',' {
			return false
		}
		d.pos++
		d.skipSpace()
	}
}

// skipString steps over the string at d.pos by string's rules, without building its value.
func (d *decoder) skipString() bool {
	s := d.s
	i := d.pos + 1
	for {
		i += literalRun(s, i)
		if i >= len(s) || s[i] < 0x20 {
			return false
		}
		if s[i] == '"' {
			d.pos = i + 1
			return true
		}
		if i+1 >= len(s) {
			return false
		}
		switch s[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if _, ok := hex4(s, i+2); !ok {
				return false
			}
			i += 6
		default:
			return false
		}
	}
}
