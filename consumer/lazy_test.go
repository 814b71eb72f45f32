package consumer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// Without a verifier the envelope is decoded only when a field is read (message.DecodeLazy), yet
// every frame is still checked whole on receipt: bad JSON anywhere in it, a missing field, a
// topic that is not frame 1's and a message past max_message_age are dropped and counted as
// with a verifier; every good message arrives, once, with the right fields, and deliveries held
// while many more arrive keep them.
func TestUnverifiedDeliveriesCheckedAndKept(t *testing.T) {
	raw, sub, _ := rawPeer(t, func(c *config.Config) { c.ValidateSignatures = false; c.MaxMessageAge = 3600 })
	ctx := testbus.Within(t, 20*time.Second)
	const topic = "org.example.test.a.b"
	frame := func(i int, at time.Time) (*message.Message, []byte) {
		m, err := message.Build(topic, map[string]any{"n": i, "pad": strings.Repeat("p", i%300)}, int64(i), "u", at)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return m, b
	}
	_, good := frame(0, time.Now())
	deep := `{"topic":"` + topic + `","msg_id":"x","msg":{"a":[1,{"b":[tru ]}]}}`
	garbage := []struct {
		reason string
		frames [][]byte
	}{
		{consumer.DropEnvelope, [][]byte{[]byte(topic), []byte("{not json")}},
		{consumer.DropEnvelope, [][]byte{[]byte(topic), []byte(deep)}},
		{consumer.DropEnvelope, [][]byte{[]byte(topic), append(good[:len(good):len(good)], ',')}},
		{consumer.DropEnvelope, [][]byte{[]byte(topic), []byte(`{"topic":"` + topic + `","msg":{}}`)}},
		{consumer.DropEnvelope, [][]byte{[]byte(topic), []byte(`{"topic":"` + topic + `","msg_id":7}`)}},
		{consumer.DropEnvelope, [][]byte{[]byte(topic), []byte(`{"topic":"` + topic + `","msg_id":"x","s":"` + "\xff" + `"}`)}},
		{consumer.DropMismatch, [][]byte{[]byte("org.example.test.spoofed"), good}},
		{consumer.DropTooOld, [][]byte{[]byte(topic), func() []byte { _, b := frame(1, time.Now().Add(-2*time.Hour)); return b }()}},
	}
	want := map[string]uint64{}
	const n = 2000
	var sent []*message.Message
	for i := range n {
		if g := garbage[(i/50)%len(garbage)]; i%50 == 0 {
			if err := raw.Send(g.frames...); err != nil {
				t.Fatal(err)
			}
			want[g.reason]++
		}
		m, b := frame(i, time.Now())
		sent = append(sent, m)
		if err := raw.Send([]byte(topic), b); err != nil {
			t.Fatal(err)
		}
	}
	var got []consumer.Delivery
	for range n {
		d, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d: %v (stats %+v)", len(got), err, sub.Stats())
		}
		got = append(got, d)
	}
	for i, d := range got { // read only now: every frame received later was written elsewhere
		m := sent[i]
		wire, _ := m.Marshal()
		body, _ := d.Message.Body().(map[string]any)
		if string(d.Raw) != string(wire) || d.Topic != topic || d.Message.MsgID() != m.MsgID() ||
			d.Message.I() != int64(i) || fmt.Sprint(body["n"]) != fmt.Sprint(i) || d.Signer != nil {
			t.Fatalf("delivery %d: topic %q msg_id %q i %d body %v, sent %s", i, d.Topic, d.Message.MsgID(), d.Message.I(), body, wire)
		}
	}
	st := sub.Stats()
	for reason, c := range want {
		if st.Dropped[reason] != c {
			t.Errorf("dropped[%s] = %d, want %d (all: %v)", reason, st.Dropped[reason], c, st.Dropped)
		}
	}
	if st.Delivered != n {
		t.Errorf("stats %+v", st)
	}
}
