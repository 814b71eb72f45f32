package message

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding errors are *DecodeError values that wrap ErrSyntax; envelope and
// encoding errors wrap ErrEnvelope and ErrEncode and say which field or type was at fault.
var (
	// ErrSyntax is wrapped by every *DecodeError: the bytes are not JSON that Python would accept.
	ErrSyntax = errors.New("message: invalid JSON")
	// ErrEnvelope means the JSON is valid but is not a fedmsg envelope (an object with string
	// "topic" and "msg_id" fields).
	ErrEnvelope = errors.New("message: not an envelope")
	// ErrEncode means a value has no canonical JSON form.
	ErrEncode = errors.New("message: cannot encode value")
	// ErrClosed is the root of every "closed" error in ackmsg: the ErrClosed of ack,
	// publisher, consumer, replay, outbox (and of the transport underneath) each wrap it, so
	// errors.Is(err, message.ErrClosed) tells a call on something closed whichever layer
	// answered. It lives here because every other package already imports message, and message
	// imports none of them. Its own text is only the word; each wrapper adds its prefix.
	ErrClosed = errors.New("closed")
)

// MaxDepth is the deepest nesting of arrays and objects that Unmarshal, the encoder and Normalize
// accept. Python's json module gives up a little below 1000 levels (its recursion limit), so every
// frame a Python peer can handle fits; the bound keeps hostile input and cyclic Go values from
// exhausting the stack.
const MaxDepth = 1000

// MaxIntDigits is the longest integer literal, in digits, that Unmarshal accepts and the encoder
// writes: Python 3.11's default int-string conversion limit, past which json.loads and json.dumps
// raise ValueError.
const MaxIntDigits = 4300

// DecodeError reports where and why Unmarshal rejected its input.
type DecodeError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Reason says what was wrong, in the words of Python's json module where it has some.
	Reason string
}

// Error returns the reason and the offset.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d", ErrSyntax, e.Reason, e.Offset)
}

// Unwrap returns ErrSyntax, so that errors.Is(err, ErrSyntax) holds for every decoding error.
func (e *DecodeError) Unwrap() error { return ErrSyntax }

func encodeErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrEncode}, args...)...)
}

// errTooDeep is the encoding error for values nested past MaxDepth, which a cycle also reaches.
func errTooDeep() error {
	return encodeErrorf("nesting deeper than %d levels (or a cyclic value)", MaxDepth)
}

func envelopeErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrEnvelope}, args...)...)
}
