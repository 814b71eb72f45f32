package message

import (
	"errors"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFullTopic(t *testing.T) {
	tests := []struct{ prefix, env, mod, topic, want string }{
		{"org.fedoraproject", "dev", "logger", "log", "org.fedoraproject.dev.logger.log"},
		{"org.fedoraproject", "dev", "gilmsg", "ack", "org.fedoraproject.dev.gilmsg.ack"},
		{"org.fedoraproject", "dev", "announce", "announcement", "org.fedoraproject.dev.announce.announcement"},
		{"org.fedoraproject", "prod", "logger", "", "org.fedoraproject.prod.logger.unspecified"},
		// Already prefixed: used as given, no environment added.
		{"org.fedoraproject", "dev", "org.fedoraproject.prod.bodhi", "update", "org.fedoraproject.prod.bodhi.update"},
		// Plain character comparison, not dot-aware.
		{"org.fedora", "dev", "org.fedoraproject", "x", "org.fedoraproject.x"},
		{"org.fedoraproject", "dev", "org", "x", "org.fedoraproject.dev.org.x"},
		// No modname: the topic alone.
		{"org.fedoraproject", "dev", "", "x", "org.fedoraproject.dev.x"},
		{"org.fedoraproject", "dev", "", "org.fedoraproject.stg.y", "org.fedoraproject.stg.y"},
		{"", "dev", "m", "t", "m.t"},
	}
	for _, tt := range tests {
		if got := FullTopic(tt.prefix, tt.env, tt.mod, tt.topic); got != tt.want {
			t.Errorf("FullTopic(%q, %q, %q, %q) = %q, want %q", tt.prefix, tt.env, tt.mod, tt.topic, got, tt.want)
		}
	}
	// Every combination of short parts, against the rule as fedmsg states it.
	parts := []string{"", "a", "a.", "a.b", "a.bc", "ab", "b", ".", "a.b.c"}
	for _, prefix := range parts {
		for _, mod := range parts {
			for _, topic := range parts {
				tp := topic
				if tp == "" {
					tp = "unspecified"
				}
				joined := tp
				if mod != "" {
					joined = mod + "." + tp
				}
				want := joined
				if !strings.HasPrefix(joined, prefix) {
					want = prefix + ".e." + joined
				}
				if got := FullTopic(prefix, "e", mod, topic); got != want {
					t.Errorf("FullTopic(%q, \"e\", %q, %q) = %q, want %q", prefix, mod, topic, got, want)
				}
			}
		}
	}
}

var msgIDPattern = regexp.MustCompile(`^[0-9]{4}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewMsgID(t *testing.T) {
	// Minutes into new year's day in UTC: the local year may still be the old one.
	instant := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	id := NewMsgID(instant)
	if !msgIDPattern.MatchString(id) {
		t.Errorf("NewMsgID = %q", id)
	}
	if want := instant.Local().Format("2006") + "-"; !strings.HasPrefix(id, want) {
		t.Errorf("NewMsgID = %q, want the local year %q", id, want)
	}
	if NewMsgID(instant) == id {
		t.Error("two msg_ids are equal")
	}
	seen := map[string]bool{}
	for range 10000 {
		id := NewMsgID(instant)
		if !msgIDPattern.MatchString(id) || seen[id] {
			t.Fatalf("NewMsgID = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

// Build writes msg_id, timestamp and i into one string; each field must still be exactly its own
// value.
func TestBuildNumbers(t *testing.T) {
	for _, tt := range []struct {
		i   int64
		now time.Time
	}{
		{1, time.Unix(1700000000, 0)},
		{-7, time.Unix(-86400*365, 0)},
		{math.MaxInt64, time.Unix(0, 1)},
		{math.MinInt64, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
	} {
		m, err := Build("a.b", nil, tt.i, "u", tt.now)
		if err != nil {
			t.Fatal(err)
		}
		ts, _ := m.Get(FieldTimestamp)
		i, _ := m.Get(FieldI)
		if ts != IntOf(tt.now.Unix()) || i != IntOf(tt.i) || !msgIDPattern.MatchString(m.MsgID()) ||
			!strings.HasPrefix(m.MsgID(), strconv.Itoa(tt.now.Local().Year())+"-") {
			t.Errorf("Build(i=%d, now=%v): timestamp %#v, i %#v, msg_id %q", tt.i, tt.now, ts, i, m.MsgID())
		}
	}
}

func TestUsername(t *testing.T) {
	if u := Username(); u == "" || u != Username() {
		t.Errorf("Username() = %q", u)
	}
}

func TestBuild(t *testing.T) {
	now := time.Unix(1700000000, 999_000_000)
	m, err := Build("org.fedoraproject.dev.logger.log", map[string]any{"log": "hi é", "n": 3, "f": 1.0}, 7, "alice", now)
	if err != nil {
		t.Fatal(err)
	}
	if m.Topic() != "org.fedoraproject.dev.logger.log" || m.I() != 7 || m.Timestamp() != 1700000000 || m.Username() != "alice" {
		t.Errorf("fields: %#v", m.Fields())
	}
	if !msgIDPattern.MatchString(m.MsgID()) {
		t.Errorf("msg_id %q", m.MsgID())
	}
	if ts, _ := m.Get(FieldTimestamp); ts != Int("1700000000") {
		t.Errorf("timestamp is %#v, want the Int 1700000000", ts)
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"i":7,"msg":{"f":1.0,"log":"hi \u00e9","n":3},"msg_id":"` + m.MsgID() +
		`","timestamp":1700000000,"topic":"org.fedoraproject.dev.logger.log","username":"alice"}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	signed, err := m.SignedBytes()
	if err != nil || string(signed) != want {
		t.Errorf("unsigned: SignedBytes = %s, %v; want Marshal's bytes", signed, err)
	}
	back, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Fields(), m.Fields()) {
		t.Errorf("Decode(Marshal()) = %#v, want %#v", back.Fields(), m.Fields())
	}
}

func TestBuildFalsyBody(t *testing.T) {
	for _, body := range []any{nil, false, "", 0, 0.0, Int("0"), []any{}, map[string]any{}, []string{}, map[string]string{}, uint8(0)} {
		m, err := Build("t", body, 1, "u", time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := m.Body().(map[string]any); !ok || len(b) != 0 {
			t.Errorf("body %#v became %#v, want {}", body, m.Body())
		}
	}
	for _, body := range []any{"x", 1, true, []any{nil}, 0.5} {
		m, _ := Build("t", body, 1, "u", time.Unix(1, 0))
		if IsFalsy(m.Body()) {
			t.Errorf("body %#v became %#v", body, m.Body())
		}
	}
}

func TestBuildDefaultsAndErrors(t *testing.T) {
	m, err := Build("t", nil, 1, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Username() != Username() || m.Timestamp() < 1_700_000_000 {
		t.Errorf("defaults not applied: %#v", m.Fields())
	}
	for _, tt := range []struct{ in, want string }{
		{Username(), Username()},
		{"bob", "bob"},
		{"b\xffb", "b\ufffdb"},
	} {
		m, err := Build("t", nil, 1, tt.in, time.Unix(1, 0))
		if err != nil || m.Username() != tt.want {
			t.Errorf("Build(username %q): username %q, %v; want %q", tt.in, m.Username(), err, tt.want)
		}
	}
	for _, topic := range []string{"", "a\xffb", "\xed\xa0\x80"} {
		if _, err := Build(topic, nil, 1, "u", time.Unix(1, 0)); !errors.Is(err, ErrEnvelope) {
			t.Errorf("Build(topic %q): err = %v, want ErrEnvelope", topic, err)
		}
	}
	if _, err := Build("t", make(chan int), 1, "u", time.Unix(1, 0)); !errors.Is(err, ErrEncode) {
		t.Errorf("unencodable body: err = %v", err)
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`[1]`, "the JSON value is an array, not an object"},
		{`"s"`, "a string, not an object"},
		{`{"msg_id":"x"}`, `field "topic" is missing`},
		{`{"topic":1,"msg_id":"x"}`, `field "topic" is an integer, not a string`},
		{`{"topic":"t"}`, `field "msg_id" is missing`},
		{`{"topic":"t","msg_id":null}`, `field "msg_id" is null, not a string`},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		if !errors.Is(err, ErrEnvelope) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%s): err = %v, want ErrEnvelope saying %q", tt.in, err, tt.want)
		}
	}
	if _, err := Decode([]byte(`{"topic":`)); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad JSON: err = %v, want ErrSyntax", err)
	}
	if _, err := FromFields(nil); !errors.Is(err, ErrEnvelope) {
		t.Errorf("FromFields(nil): %v", err)
	}
}

func TestMessageAccessors(t *testing.T) {
	m, err := Decode([]byte(`{"topic":"t","msg_id":"2024-x","timestamp":1700000000.9,"i":99999999999999999999,` +
		`"msg":[1],"username":5,"extra":{"k":"v"},"signature":"S","certificate":"C","gilmsg_version":"0.1.2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Timestamp() != 1700000000 {
		t.Errorf("float timestamp truncates: %d", m.Timestamp())
	}
	if m.I() != 0 {
		t.Errorf("out-of-range i gives 0: %d", m.I())
	}
	if m.Username() != "" {
		t.Errorf("non-string username: %q", m.Username())
	}
	if !reflect.DeepEqual(m.Body(), []any{Int("1")}) {
		t.Errorf("Body = %#v", m.Body())
	}
	if v, ok := m.Get("extra"); !ok || !reflect.DeepEqual(v, map[string]any{"k": "v"}) {
		t.Errorf("unknown field not kept: %#v", v)
	}
	if _, ok := m.String("extra"); ok {
		t.Error("String on an object field")
	}
	if s, ok := m.String(FieldSignature); !ok || s != "S" {
		t.Errorf("String(signature) = %q, %v", s, ok)
	}
	if m.Has("nope") || !m.Has(FieldGilmsgVersion) {
		t.Error("Has")
	}

	signed, _ := m.SignedBytes()
	want := `{"extra":{"k":"v"},"gilmsg_version":"0.1.2","i":99999999999999999999,"msg":[1],"msg_id":"2024-x","timestamp":1700000000.9,"topic":"t","username":5}`
	if string(signed) != want {
		t.Errorf("SignedBytes =\n%s\nwant\n%s", signed, want)
	}
	late, _ := m.SignedBytes(FieldGilmsgVersion)
	if want := strings.Replace(want, `"gilmsg_version":"0.1.2",`, "", 1); string(late) != want {
		t.Errorf("SignedBytes(gilmsg_version) =\n%s\nwant\n%s", late, want)
	}
	if !m.Has(FieldGilmsgVersion) {
		t.Error("SignedBytes(omit) changed the message")
	}

	c := m.Clone()
	if err := c.Set("extra", []int{1}); err != nil {
		t.Fatal(err)
	}
	c.Delete(FieldSignature)
	if v, _ := m.Get("extra"); !reflect.DeepEqual(v, map[string]any{"k": "v"}) || !m.Has(FieldSignature) {
		t.Error("changing a clone changed the original")
	}
	if v, _ := c.Get("extra"); !reflect.DeepEqual(v, []any{Int("1")}) {
		t.Errorf("Set did not normalize: %#v", v)
	}
	f := m.Fields()
	delete(f, FieldTopic)
	if m.Topic() != "t" {
		t.Error("Fields is not a copy")
	}
	if err := c.Set(FieldTopic, 5); !errors.Is(err, ErrEnvelope) {
		t.Errorf("Set(topic, 5): %v", err)
	}
	if err := c.Set(FieldCrypto, "x509"); err != nil || c.Topic() != "t" {
		t.Errorf("Set(crypto): %v", err)
	}
	if err := c.Set("bad", make(chan int)); !errors.Is(err, ErrEncode) {
		t.Errorf("Set(chan): %v", err)
	}
	var zero Message
	if err := zero.Set("a", 1); err != nil || !zero.Has("a") {
		t.Errorf("Set on a zero Message: %v", err)
	}
	if b, err := (&Message{}).Marshal(); err != nil || string(b) != "{}" {
		t.Errorf("empty Marshal = %s, %v", b, err)
	}
}
