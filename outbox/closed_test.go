package outbox_test

import (
	"errors"
	"testing"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/zsock"
	"github.com/ackmsg/ackmsg/message"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/publisher"
	"github.com/ackmsg/ackmsg/replay"
)

// TestErrClosedRoot checks that every package's ErrClosed wraps message.ErrClosed and keeps its
// own text, and that the packages' errors stay apart from each other. It lives here, in the
// highest of the packages, the one that can import all the others.
func TestErrClosedRoot(t *testing.T) {
	all := []struct {
		err  error
		text string
	}{
		{ack.ErrClosed, "ack: closed"},
		{publisher.ErrClosed, "publisher: closed"},
		{consumer.ErrClosed, "consumer: closed"},
		{replay.ErrClosed, "replay: store closed"},
		{outbox.ErrClosed, "outbox: closed"},
		{zsock.ErrClosed, "zsock: closed"},
	}
	for i, c := range all {
		if !errors.Is(c.err, message.ErrClosed) {
			t.Errorf("%q does not wrap message.ErrClosed", c.err)
		}
		if c.err.Error() != c.text {
			t.Errorf("text %q, want %q", c.err, c.text)
		}
		for j, other := range all {
			if i != j && errors.Is(c.err, other.err) {
				t.Errorf("%q is %q", c.err, other.err)
			}
		}
	}
}
