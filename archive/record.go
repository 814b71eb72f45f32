package archive

import (
	"errors"
	"math"
	"strings"
	"time"

	"github.com/ackmsg/ackmsg/internal/meta"
	"github.com/ackmsg/ackmsg/message"
)

// Record is one archived message: the signed envelope as received and the columns the queries
// use, taken from it.
type Record struct {
	// ID is the row's number, in the order rows were stored (0 before they are).
	ID int64
	// MsgID is the envelope's msg_id, unique in the archive.
	MsgID string
	// Topic is the full topic.
	Topic string
	// Category is datanommer's: the topic's fourth word (the third for a "VirtualTopic"),
	// "Unclassified" when it has none.
	Category string
	// Agent is the envelope's username (datanommer's agent_name; datagrepper's agent filter).
	Agent string
	// Signer is the CN of the certificate whose signature was verified ("" when none was).
	Signer string
	// I is the envelope's i.
	I int64
	// Time is the envelope's timestamp (the time of archiving when it has none).
	Time time.Time
	// Users and Packages are what package meta finds (sorted, no repeats).
	Users, Packages []string
	// Envelope is frame 2 exactly as received: the full signed envelope.
	Envelope []byte
	// AckOf is, for an ACK (a message on a topic ending in .gilmsg.ack whose body has a
	// string ack_msg_id), the msg_id it acknowledges; "" for any other message. Insert
	// records who ACKed what in AcksTable.
	AckOf string
}

// ErrNoMsgID is the error of NewRecord for an envelope without a msg_id.
var ErrNoMsgID = errors.New("archive: message without msg_id")

// NewRecord makes the Record of m, received as raw (frame 2) and signed by signer (the
// verified certificate's CN, "" when none), at now.
func NewRecord(m *message.Message, raw []byte, signer string, now time.Time) (Record, error) {
	id := m.MsgID()
	if id == "" {
		return Record{}, ErrNoMsgID
	}
	return Record{MsgID: id, Topic: m.Topic(), Category: Category(m.Topic()), Agent: m.Username(), Signer: signer,
		I: m.I(), Time: envelopeTime(m, now), Users: meta.Users(m, signer), Packages: meta.Packages(m),
		Envelope: raw, AckOf: ackOf(m)}, nil
}

// ackOf is the msg_id m acknowledges when m is an ACK.
func ackOf(m *message.Message) string {
	if !strings.HasSuffix(m.Topic(), ".gilmsg.ack") {
		return ""
	}
	body, _ := m.Body().(map[string]any)
	id, _ := body["ack_msg_id"].(string)
	return id
}

// Category is datanommer's category of topic: its fourth dot-separated word, or the third when
// the topic contains "VirtualTopic"; "Unclassified" when there is no such word.
func Category(topic string) string {
	index := 3
	if strings.Contains(topic, "VirtualTopic") {
		index = 2
	}
	words := strings.Split(topic, ".")
	if index < len(words) {
		return words[index]
	}
	return "Unclassified"
}

// envelopeTime reads the timestamp field (seconds, integer or float) to the microsecond.
func envelopeTime(m *message.Message, now time.Time) time.Time {
	v, _ := m.Get(message.FieldTimestamp)
	switch x := v.(type) {
	case message.Int:
		if n, ok := x.Int64(); ok && n > 0 && n < 1<<40 {
			return time.Unix(n, 0).UTC()
		}
	case float64:
		if x > 0 && x < 1<<40 {
			sec, frac := math.Modf(x)
			return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC()
		}
	}
	return now.UTC().Truncate(time.Microsecond)
}
