package ack_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
)

// Every class of forged or malformed ACK, sent from the recipient's own endpoint while a message
// waits for that recipient: none may count, each is counted under its reason, and the publish
// times out.
func TestForgedAckClasses(t *testing.T) {
	w := newWorld(t, "sub01")
	p := w.publisher()
	ctx := testbus.Within(t, 30*time.Second)

	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zsock.NewPub(zctx, zsock.PubConfig{Bind: w.eps["sub01.host"]})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { raw.Close(); zctx.Term() }()
	if err := raw.WaitSubscribed(ctx, p.AckTopic()); err != nil {
		t.Fatal(err)
	}
	sub01, err := certs.LoadSigner(testbus.PKIDir()+"/sub01.crt", testbus.PKIDir()+"/sub01.key")
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.PublishAsync(ctx, "order", 1, ack.To("sub01"), ack.Within(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	id := f.Message().MsgID()
	ackTopic := p.AckTopic()
	build := func(topic string, body any, sign bool) []byte {
		m, err := message.Build(topic, body, 1, "sub01", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if sign {
			if err := sub01.Sign(m); err != nil {
				t.Fatal(err)
			}
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// A genuine sub01 ACK for another message, with its ack_msg_id rewritten to ours.
	genuine := string(build(ackTopic, map[string]any{"ack_msg_id": "2026-00000000-0000-4000-8000-000000000000"}, true))
	tampered := strings.Replace(genuine, "2026-00000000-0000-4000-8000-000000000000", id, 1)
	cases := []struct {
		reason string
		frames [][]byte
	}{
		{"unsigned", [][]byte{[]byte(ackTopic), build(ackTopic, map[string]any{"ack_msg_id": id}, false)}},
		{"tampered", [][]byte{[]byte(ackTopic), []byte(tampered)}},
		{"topic", [][]byte{[]byte(ackTopic + ".x"), build(ackTopic+".x", map[string]any{"ack_msg_id": id}, true)}},
		{"topic", [][]byte{[]byte(ackTopic), build("org.example.test.other.topic", map[string]any{"ack_msg_id": id}, true)}},
		{"body", [][]byte{[]byte(ackTopic), build(ackTopic, map[string]any{"msg_id": id}, true)}},
		{"envelope", [][]byte{[]byte(ackTopic), []byte(`{"ack_msg_id":"` + id + `"}`)}},
		{"frames", [][]byte{[]byte(ackTopic)}},
	}
	want := map[string]uint64{}
	for _, c := range cases {
		if err := raw.Send(c.frames...); err != nil {
			t.Fatal(err)
		}
		want[c.reason]++
	}
	<-f.Finished()
	if !errors.Is(f.Err(), ack.ErrTimeout) {
		t.Fatalf("err = %v, want a timeout: a forged ACK counted", f.Err())
	}
	st := p.Stats()
	for reason, n := range want {
		if st.AcksRejected[reason] < n {
			t.Errorf("rejected[%s] = %d, want %d (all: %v)", reason, st.AcksRejected[reason], n, st.AcksRejected)
		}
	}
	if st.AcksCounted != 0 {
		t.Fatalf("%d ACKs counted", st.AcksCounted)
	}
}
