package message

import (
	"sync"
	"sync/atomic"
)

// DecodeLazy checks data as Decode does and fails as Decode fails, but decodes the fields only
// when the Message is first asked for one: Topic, MsgID and Timestamp are read at once, and
// cost no decoding. It is for a receiver that hands on many messages whose fields are seldom
// all read (a subscriber that does not verify signatures): the check walks the JSON without
// building the value model, several times faster than Decode.
//
// The Message keeps data, and decodes it later: data must not be modified afterwards. (Should
// it be, the Message keeps the topic and msg_id it was read with and loses its other fields.)
// Once decoded, the Message shares nothing with data.
func DecodeLazy(data []byte) (*Message, error) {
	if h, ok := skimEnvelope(data); ok {
		both := &struct { // one allocation for the two
			m Message
			l lazyFields
		}{l: lazyFields{data: data, head: h}}
		both.m.lazy = &both.l
		return &both.m, nil
	}
	return Decode(data) // the error, or an envelope skimEnvelope was not sure of
}

// lazyFields is the frame of a Message from DecodeLazy until its fields are decoded.
type lazyFields struct {
	once sync.Once
	done atomic.Bool // set once fields holds the decoded map: head no longer answers
	data []byte
	head head
}

// all returns the field map, decoding it first for a Message from DecodeLazy. Concurrent readers
// wait for one decoding.
func (m *Message) all() map[string]any {
	if l := m.lazy; l != nil && !l.done.Load() {
		l.once.Do(func() {
			m.fields = l.decode()
			l.data = nil
			l.done.Store(true)
		})
	}
	return m.fields
}

// decode decodes the frame that skimEnvelope accepted, which Decode accepts too unless the frame
// was modified since.
func (l *lazyFields) decode() map[string]any {
	if v, err := Unmarshal(l.data); err == nil {
		if fields, ok := v.(map[string]any); ok {
			return fields
		}
	}
	return map[string]any{FieldTopic: l.head.topic, FieldMsgID: l.head.msgID}
}
