package ack

import (
	"bytes"
	"slices"

	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
)

// marked returns the fields that make a message ask for ACKs, added before signing so the
// signature covers them: the gilmsg_version marker, and ack_recipients naming the CNs that must
// answer (sorted, as uniq returns them). Consumers that do not know ack_recipients (gilmsg) ACK
// every marked message, as before; ours ACK only when named, so the ACKs on the bus grow with
// the recipients of a message, not with the acking consumers listening.
func marked(recipients []string) []publisher.PublishOption {
	names := make([]any, len(recipients))
	for i, r := range recipients {
		names[i] = r
	}
	return []publisher.PublishOption{
		publisher.Field(message.FieldGilmsgVersion, Marker),
		publisher.Field(message.FieldAckRecipients, names),
	}
}

// asked reports whether the marked message d asks the consumer named name to ACK it. It says no
// only when the envelope's ack_recipients is a list of strings that does not name name and the
// signature, which covers every field but signature and certificate, was verified (d.Signer is
// set). A message without the field, with a field of another shape, or not verified is ACKed as
// gilmsg does: an ACK too many is ignored by its publisher, a missing one fails the publish.
func asked(d consumer.Delivery, name string) bool {
	if d.Signer == nil {
		return true
	}
	v, ok := d.Message.Get(message.FieldAckRecipients)
	if !ok {
		return true
	}
	list, ok := v.([]any)
	if !ok {
		return true
	}
	named := false
	for _, r := range list {
		s, ok := r.(string)
		if !ok {
			return true
		}
		named = named || s == name
	}
	return named
}

// ackSuffix ends every ACK topic: <topic_prefix>.<environment>.gilmsg.ack.
const ackSuffix = ".gilmsg.ack"

// isAckTopic reports whether frame 1 names an ACK topic (of any prefix or environment). A
// Subscriber drops those frames unread: ACKs are for the publishers that wait for them, and
// decoding and verifying every ACK on the bus in every consumer is work that grows with the
// square of the acking consumers.
func isAckTopic(topic []byte) bool { return bytes.HasSuffix(topic, []byte(ackSuffix)) }

// peekAckID finds the ack_msg_id string in an ACK's envelope JSON without decoding it, so the
// ACK listener can drop ACKs for messages it is not waiting for unread. ok is false when the
// key is not found in the plain form `"ack_msg_id" : "<id without escapes>"`; the caller then
// decodes the envelope. A wrong guess can only make the listener drop a frame (never count
// one): the id that counts is always the decoded, verified one. In JSON text a quote inside a
// string is escaped, so `"ack_msg_id"` followed by a colon is a key, never part of a value.
func peekAckID(frame []byte) (id string, ok bool) {
	const key = `"ack_msg_id"`
	i := bytes.Index(frame, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := bytes.TrimLeft(frame[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return "", false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	rest = rest[1:]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || slices.Contains(rest[:end], '\\') {
		return "", false
	}
	return string(rest[:end]), true
}
