package zsock

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// Every message comes back whole and exactly as sent, whatever its number of parts (more than one
// receive call holds, empty and nil parts, a 1 MB part), through the one-cgo-call receive; a
// message held while more arrive keeps its bytes, growing one frame never writes into the next,
// and a big message is not left open in libzmq.
func TestRecvWholeMessages(t *testing.T) {
	zctx := newCtx(t)
	defer zctx.Term()
	pub, sub := pubSub(t, zctx, nil, nil)
	defer pub.Close()
	defer sub.Close()
	if sub.handles[0] == nil {
		t.Fatal("the Sub reads through pebbe/zmq4: its socket handle did not pass the check")
	}
	ctx := testbus.Within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	var msgs [][][]byte
	for _, parts := range []int{1, 2, 3, 7, 8, 9, 16, 17, 40} {
		var m [][]byte
		for p := range parts {
			switch {
			case p%5 == 3:
				m = append(m, []byte{}) // an empty part
			default:
				m = append(m, fmt.Appendf(nil, "msg %d part %d", parts, p))
			}
		}
		msgs = append(msgs, m)
	}
	msgs = append(msgs, [][]byte{[]byte("big"), big}, [][]byte{[]byte("after big"), []byte("x")},
		[][]byte{nil, {}}, [][]byte{[]byte("t"), nil})
	for _, m := range msgs {
		if err := pub.Send(m...); err != nil {
			t.Fatal(err)
		}
	}
	var got []Inbound
	for range msgs {
		in, err := sub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in)
		// What libzmq keeps until the next receive is bounded: a big message is let go at once.
		if held, big := sub.reader.held(), len(in.Frames) == 2 && len(in.Frames[1]) > maxHeld; (held == 0) != big {
			t.Fatalf("message %d: %d parts left open in libzmq", len(got)-1, held)
		}
	}
	for i, m := range msgs { // checked only once all arrived: nothing received later overwrote them
		if !framesEqual(got[i].Frames, m) {
			t.Fatalf("message %d: got %d parts %.40q, sent %d parts %.40q", i, len(got[i].Frames), got[i].Frames, len(m), m)
		}
	}
	first := got[1].Frames
	next := string(first[1])
	_ = append(first[0], "grown"...)
	if string(first[1]) != next {
		t.Fatalf("appending to frame 1 changed frame 2 to %q", first[1])
	}
}

func framesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
