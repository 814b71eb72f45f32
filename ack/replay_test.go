package ack_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// Acked messages are numbered and recorded like plain ones; ACKs are not; an acking consumer
// fills a gap from the replay endpoint.
func TestAckedMessagesNumberedAndReplayed(t *testing.T) {
	w := newWorld(t, "sub01")
	dir := t.TempDir()
	eps := config.StringMap{"pub.host": testbus.Addr(t)}
	pc := w.config("pub.host", "pub01")
	pc.PersistentStore, pc.ReplayEndpoints = filepath.Join(dir, "pub.db"), eps
	p, err := config.NewAckPublisher(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cc := w.config("sub01.host", "sub01")
	cc.ReplayEndpoints = eps
	cc.PersistentStore = filepath.Join(dir, "acks.db") // must not number the ACKs
	s, err := config.NewAckSubscriber(cc, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testbus.Within(t, 20*time.Second)
	got := make(chan *message.Message, 10)
	go func() {
		for {
			d, err := s.Next(ctx)
			if err != nil {
				close(got)
				return
			}
			d.Done(nil)
			if !strings.HasSuffix(d.Topic, ".gilmsg.ack") { // ACKs are overlay traffic
				got <- d.Message
			}
		}
	}()
	for n := int64(1); n <= 3; n++ {
		m, err := p.Publish(ctx, "order", n, ack.To("sub01"), ack.Within(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if seq, ok := replay.SeqID(m); !ok || seq != n {
			t.Fatalf("acked message %d has seq_id %d", n, seq)
		}
	}
	// seq_id 4 is recorded and never sent; 5 reveals the gap.
	_, err = p.Publisher().Sequence(t.Context(), func(extra publisher.PublishOption) (*message.Message, []byte, error) {
		m, err := p.Publisher().Build("lost", 4, extra)
		if err != nil {
			return nil, nil, err
		}
		f, err := m.Marshal()
		return m, f, err
	}, func(*message.Message, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "order", 5, ack.To("sub01"), ack.Within(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 5; want++ {
		m := <-got
		if m == nil {
			t.Fatal("subscriber ended")
		}
		if seq, _ := replay.SeqID(m); seq != want {
			t.Fatalf("delivery %d has seq_id %d", want, seq)
		}
	}
	if st := s.Stats().Replay; st.Recovered != 1 || st.Gaps != 1 {
		t.Fatalf("replay stats %+v", st)
	}
	if testbus.Exists(cc.PersistentStore) {
		t.Fatal("the ACK publisher opened a history")
	}
}
