package ack_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// Every failed publish gives its in-flight slot back, whichever step failed: building the
// envelope (numbered through the history or not), or registering a msg_id already waiting.
// With ack_max_in_flight = 2 and one message waiting, a single leaked slot would make the last
// publish fail with ErrInFlightFull.
func TestInFlightSlotReleasedOnFailure(t *testing.T) {
	for _, numbered := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "numbered"}[numbered], func(t *testing.T) {
			w := newWorld(t, "sub01")
			cfg := w.config("pub.host", "pub01")
			cfg.AckMaxInFlight = 2
			if numbered {
				cfg.PersistentStore = filepath.Join(t.TempDir(), "pub.db")
			}
			p, err := config.NewAckPublisher(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Numbered() != numbered {
				t.Fatalf("Numbered() = %v", p.Numbered())
			}
			ctx := testbus.Within(t, 30*time.Second)
			m, err := p.Build("order", 1, ack.To("sub01"))
			if err != nil {
				t.Fatal(err)
			}
			frame, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			// Nobody ACKs: this one holds a slot until the end of the test.
			if _, err := p.Deliver(ctx, m.MsgID(), m.Topic(), frame, []string{"sub01"}, 20*time.Second, nil); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				_, err := p.Deliver(ctx, m.MsgID(), m.Topic(), frame, []string{"sub01"}, time.Second, nil)
				if err == nil || !strings.Contains(err.Error(), "already waiting") {
					t.Fatalf("second Deliver of %s: err = %v, want already waiting", m.MsgID(), err)
				}
				if _, err := p.PublishAsync(ctx, "order", make(chan int), ack.To("sub01"), ack.Within(time.Second)); err == nil ||
					errors.Is(err, ack.ErrInFlightFull) {
					t.Fatalf("unencodable body: err = %v, want an encoding error", err)
				}
			}
			if _, err := p.PublishAsync(ctx, "order", 2, ack.To("sub01"), ack.Within(300*time.Millisecond)); err != nil {
				t.Fatalf("a slot leaked: %v", err)
			}
			if st := p.Stats(); st.InFlight > 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
