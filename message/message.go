package message

import (
	"bytes"
	"math"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Envelope field names (spec/wire.md §2).
const (
	FieldTopic         = "topic"
	FieldMsg           = "msg"
	FieldTimestamp     = "timestamp"
	FieldMsgID         = "msg_id"
	FieldI             = "i"
	FieldUsername      = "username"
	FieldCrypto        = "crypto"
	FieldSignature     = "signature"
	FieldCertificate   = "certificate"
	FieldGilmsgVersion = "gilmsg_version"
	// FieldAckRecipients lists, in an acked message, the certificate CNs that must ACK it
	// (spec/wire.md §5, an ackmsg extension): an acking consumer it does not name does not ACK.
	FieldAckRecipients = "ack_recipients"
)

// FullTopic builds the full topic as fedmsg does (reference spec §1.3): an empty topic becomes
// "unspecified"; t is modname + "." + topic (just topic when modname is empty, where Python would
// guess a module name from its call stack); and unless t already starts with prefix, compared as
// plain text, not dot by dot, the result is prefix + "." + environment + "." + t.
func FullTopic(prefix, environment, modname, topic string) string {
	if topic == "" {
		topic = "unspecified"
	}
	// Each result is built by one concatenation: one allocation.
	if modname == "" {
		if strings.HasPrefix(topic, prefix) {
			return topic
		}
		return prefix + "." + environment + "." + topic
	}
	if joinedHasPrefix(modname, topic, prefix) {
		return modname + "." + topic
	}
	return prefix + "." + environment + "." + modname + "." + topic
}

// joinedHasPrefix reports whether modname + "." + topic starts with prefix, without building it.
func joinedHasPrefix(modname, topic, prefix string) bool {
	if len(prefix) <= len(modname) {
		return modname[:len(prefix)] == prefix
	}
	rest := prefix[len(modname):]
	return prefix[:len(modname)] == modname && rest[0] == '.' && strings.HasPrefix(topic, rest[1:])
}

// NewMsgID returns a fresh msg_id: the year of now in local time, '-', and a random UUID (version
// 4, lowercase), as fedmsg makes them.
func NewMsgID(now time.Time) string {
	var buf [48]byte
	return string(appendMsgID(buf[:0], now))
}

// appendMsgID appends a fresh msg_id (see NewMsgID) to dst. The UUID comes from
// github.com/google/uuid (crypto/rand underneath, or uuid's random pool when the program enabled
// it with uuid.EnableRandPool); its text is written here, straight into dst, to save the
// allocation of UUID.String.
func appendMsgID(dst []byte, now time.Time) []byte {
	// NewRandom fails only when crypto/rand does, which since Go 1.24 crashes the program
	// instead; Must keeps that: no msg_id is ever made of anything but fresh randomness.
	u := uuid.Must(uuid.NewRandom())
	dst = strconv.AppendInt(dst, int64(now.Local().Year()), 10)
	dst = append(dst, '-')
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return dst
}

// currentUsername is computed once per process: the user of a process does not change, and the
// lookup reads /etc/passwd.
var currentUsername = sync.OnceValue(func() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	for _, env := range []string{"USER", "LOGNAME"} {
		if name := os.Getenv(env); name != "" {
			return name
		}
	}
	return "unknown"
})

// Username returns the OS user name of this process (for the envelope's username field): the
// current user's login name, else $USER, else $LOGNAME, else "unknown".
func Username() string { return currentUsername() }

// usernameField is Username() as the username field's value: almost every envelope a process
// builds carries it, and converting it to an interface value each time cost an allocation.
var usernameField = sync.OnceValue(func() any { return repairWTF8(Username()) })

// Message is one envelope. Its fields are kept in the value model, in one map, which is the only
// record of the message: accessors read it, Marshal and SignedBytes encode it. A Message is safe for
// concurrent reads; changing it needs the caller's own locking.
type Message struct {
	fields map[string]any
	// lazy, for a Message from DecodeLazy, holds the frame its fields are decoded from on first
	// use, and what was read of it on receipt.
	lazy *lazyFields
}

// Build returns a new unsigned envelope with the fields topic, msg, timestamp (now in Unix
// seconds), msg_id (from NewMsgID), i and username, as fedmsg's publish builds it.
//
// body is converted by Normalize, and a body Python finds false (nil, false, 0, 0.0, "", an empty
// list or map) becomes an empty map, as fedmsg does. An empty username means Username(), and a zero
// now means time.Now(). fullTopic must be non-empty UTF-8 (it is also frame 1); see FullTopic.
func Build(fullTopic string, body any, i int64, username string, now time.Time) (*Message, error) {
	if fullTopic == "" {
		return nil, envelopeErrorf("empty topic")
	}
	if !utf8.ValidString(fullTopic) {
		return nil, envelopeErrorf("topic %q is not UTF-8", truncate(fullTopic))
	}
	b, err := Normalize(body)
	if err != nil {
		return nil, err
	}
	if IsFalsy(b) {
		b = map[string]any{}
	}
	var user any
	if username == "" || username == Username() {
		user = usernameField()
	} else {
		user = repairWTF8(username)
	}
	if now.IsZero() {
		now = time.Now()
	}
	// msg_id, timestamp and i share one allocation: they are written into one string, and each
	// field is a piece of it.
	var buf [96]byte
	t := appendMsgID(buf[:0], now)
	idEnd := len(t)
	t = strconv.AppendInt(t, now.Unix(), 10)
	tsEnd := len(t)
	t = strconv.AppendInt(t, i, 10)
	text := string(t)
	return &Message{fields: map[string]any{
		FieldTopic:     fullTopic,
		FieldMsg:       b,
		FieldTimestamp: Int(text[idEnd:tsEnd]),
		FieldMsgID:     text[:idEnd],
		FieldI:         Int(text[tsEnd:]),
		FieldUsername:  user,
	}}, nil
}

// Decode parses one envelope frame (frame 2 on the wire). It fails with a *DecodeError (wrapping
// ErrSyntax) when data is not JSON Python accepts, and with an error wrapping ErrEnvelope when the
// JSON is not an object with string topic and msg_id fields. Every field is kept, known or not,
// since a signature covers them all.
func Decode(data []byte) (*Message, error) {
	v, err := Unmarshal(data)
	if err != nil {
		return nil, err
	}
	fields, ok := v.(map[string]any)
	if !ok {
		return nil, envelopeErrorf("the JSON value is %s, not an object", kindOf(v))
	}
	return FromFields(fields)
}

// FromFields wraps fields, which must already be in the value model (Normalize), as a Message. The
// map is not copied. It checks what Decode checks: string topic and msg_id fields.
func FromFields(fields map[string]any) (*Message, error) {
	for _, name := range [...]string{FieldTopic, FieldMsgID} {
		v, ok := fields[name]
		if err := checkString(name, v, ok); err != nil {
			return nil, err
		}
	}
	return &Message{fields: fields}, nil
}

func checkString(name string, v any, present bool) error {
	if !present {
		return envelopeErrorf("field %q is missing", name)
	}
	if _, ok := v.(string); !ok {
		return envelopeErrorf("field %q is %s, not a string", name, kindOf(v))
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case Int:
		return "an integer"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a Go " + reflectTypeName(v)
}

// Topic returns the topic field.
func (m *Message) Topic() string {
	if l := m.lazy; l != nil && !l.done.Load() {
		return l.head.topic
	}
	s, _ := m.String(FieldTopic)
	return s
}

// MsgID returns the msg_id field.
func (m *Message) MsgID() string {
	if l := m.lazy; l != nil && !l.done.Load() {
		return l.head.msgID
	}
	s, _ := m.String(FieldMsgID)
	return s
}

// Body returns the msg field (the user's payload), or nil when there is none.
func (m *Message) Body() any { return m.all()[FieldMsg] }

// Timestamp returns the timestamp field in Unix seconds. A float timestamp (datagrepper writes
// them) is truncated; a missing, non-numeric or out-of-range one gives 0.
func (m *Message) Timestamp() int64 {
	if l := m.lazy; l != nil && !l.done.Load() {
		return l.head.timestamp
	}
	return m.int64Field(FieldTimestamp)
}

// I returns the i field (the publisher's counter), read as Timestamp reads its field.
func (m *Message) I() int64 { return m.int64Field(FieldI) }

func (m *Message) int64Field(key string) int64 { return int64Of(m.all()[key]) }

// int64Of reads a numeric field as Timestamp does.
func int64Of(v any) int64 {
	switch x := v.(type) {
	case Int:
		n, _ := x.Int64()
		return n
	case float64:
		if x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x)
		}
	}
	return 0
}

// Username returns the username field, or "" when it is missing or not a string.
func (m *Message) Username() string { s, _ := m.String(FieldUsername); return s }

// Get returns the field key, and whether it is present.
func (m *Message) Get(key string) (any, bool) {
	v, ok := m.all()[key]
	return v, ok
}

// String returns the field key when it is present and a string.
func (m *Message) String(key string) (string, bool) {
	s, ok := m.all()[key].(string)
	return s, ok
}

// Has reports whether the field key is present.
func (m *Message) Has(key string) bool {
	_, ok := m.all()[key]
	return ok
}

// Set stores v, converted by Normalize, as the field key. topic and msg_id must stay strings.
func (m *Message) Set(key string, v any) error {
	n, err := Normalize(v)
	if err != nil {
		return err
	}
	if key == FieldTopic || key == FieldMsgID {
		if err := checkString(key, n, true); err != nil {
			return err
		}
	}
	if m.all() == nil {
		m.fields = make(map[string]any)
	}
	m.fields[key] = n
	return nil
}

// Delete removes the field key. Removing topic or msg_id leaves a Message that Decode would refuse.
func (m *Message) Delete(key string) { delete(m.all(), key) }

// Fields returns a copy of the field map. The values are shared, and must not be changed.
func (m *Message) Fields() map[string]any {
	fields := m.all()
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// Clone returns a Message with its own copy of the field map, whose fields can be set and deleted
// without touching m. Values are shared: they are treated as immutable.
func (m *Message) Clone() *Message { return &Message{fields: m.Fields()} }

// Marshal returns the canonical JSON of every field: frame 2 exactly as fedmsg would send it.
func (m *Message) Marshal() ([]byte, error) {
	return m.encode(false, nil)
}

// AppendMarshal appends what Marshal returns to dst and returns the extended buffer, so that a
// caller that is done with the bytes once they are sent can reuse one buffer. On an error it
// returns dst as it was given.
func (m *Message) AppendMarshal(dst []byte) ([]byte, error) {
	e := encoder{buf: dst}
	if err := e.object(m.all(), false, nil); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// SignedBytes returns the canonical JSON of every field except signature, certificate and the
// keys in omit: the bytes an x509 signature covers (spec/wire.md §4). omit serves gilmsg's
// late marker: its messages verify only without gilmsg_version.
func (m *Message) SignedBytes(omit ...string) ([]byte, error) {
	return m.encode(true, omit)
}

func (m *Message) encode(signed bool, omit []string) ([]byte, error) {
	sp := getScratch()
	defer putScratch(sp)
	e := encoder{buf: *sp}
	err := e.object(m.all(), signed, omit)
	*sp = e.buf
	if err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf), nil
}

// signedOut reports whether SignedBytes leaves the field key out.
func signedOut(key string, omit []string) bool {
	return key == FieldSignature || key == FieldCertificate || slices.Contains(omit, key)
}
