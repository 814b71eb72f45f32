// Package message is the fedmsg envelope and the canonical JSON that fedmsg signs.
//
// # What it guarantees
//
// Canonical and AppendCanonical produce, byte for byte, what fedmsg's encoder produces: Python's
// json.dumps(v, sort_keys=True, separators=(',', ':')) with ensure_ascii and allow_nan left on
// (spec/wire.md §3). Keys are sorted by code point at every level; every code point from U+007F up
// is written as a lowercase \uXXXX escape (a surrogate pair above U+FFFF); integers are exact
// decimals of any size; floats use Python's repr ("100.0", "1e+16", "1e-05", "-0.0", "NaN",
// "Infinity"). The output is always pure ASCII.
//
// Unmarshal reads JSON exactly as Python 3.11's json.loads(data.decode("utf-8")) does, into a small
// value model that keeps everything canonical JSON can tell apart:
//
//	nil, bool, string  JSON null, true/false, strings
//	Int                an integer literal (no '.', 'e' or 'E'), kept exactly as decimal text
//	float64            any other number literal, and NaN, Infinity, -Infinity
//	[]any              arrays
//	map[string]any     objects (for a repeated key the last value wins)
//
// Strings are UTF-8. A \uXXXX escape naming a lone surrogate (which a Python str can hold) is kept
// as WTF-8, the 3-byte generalized UTF-8 form of the surrogate, so it encodes back to the same escape
// and sorts by code point like every other character; an escaped surrogate pair becomes the real
// code point above U+FFFF.
//
// Decoding then encoding is stable: for every input Unmarshal accepts, Canonical succeeds, and
// Unmarshal of that output gives a value that encodes to the same bytes again. This is what lets a
// receiver re-canonicalize a frame and check fedmsg's signature over it (Message.SignedBytes),
// however the frame was spelled on the wire.
//
// Normalize turns ordinary Go values (numbers of every size, structs, slices, maps with string keys,
// json.Number, json.RawMessage) into the model, and Build, Decode and the Message accessors handle the
// envelope fields of spec/wire.md §2.
//
// # What is rejected, and how it fails
//
// Unmarshal rejects what Python rejects: invalid UTF-8, a leading byte-order mark, whitespace other
// than space, tab, CR and LF, raw control characters inside strings, bad escapes, numbers outside
// Python's grammar (leading zeros, "1.", ".5", "+1"), integer literals longer than 4300 digits
// (Python 3.11's int-string limit), trailing data, and nesting deeper than MaxDepth. Each error is a
// *DecodeError giving the byte offset and the reason; it wraps ErrSyntax. Unmarshal never panics,
// whatever the input.
//
// Decode and FromFields also require a JSON object with string "topic" and "msg_id" fields; when
// that check fails the error wraps ErrEnvelope and names the field.
//
// The encoder and Normalize fail with errors wrapping ErrEncode, naming the type or value, for
// what has no JSON form (channels, functions, maps with non-string keys, malformed Int text),
// integers over 4300 digits (which Python will not print either), and nesting deeper than
// MaxDepth (which also stops cyclic values).
//
// A Go string holding bytes that are neither UTF-8 nor WTF-8 surrogates cannot come from the wire;
// the encoder writes each such byte as \ufffd (as encoding/json does), and Normalize makes the same
// replacement in the value it returns.
//
// Values are not copied or locked: a Message is safe for concurrent reads, and mutating it (or a
// value reachable from it) needs the caller's own synchronization.
//
// ErrClosed is the one root of the module's "closed" errors: each package's own ErrClosed
// (ack, publisher, consumer, replay, outbox) wraps it, keeping its text ("ack: closed").
package message
