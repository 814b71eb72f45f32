package consumer

import (
	"testing"

	"github.com/ackmsg/ackmsg/internal/zsock"
)

// The public kinds have the socket layer's values: eventOf (and package ack) convert by a cast.
func TestEventOfKeepsKindAndEndpoint(t *testing.T) {
	for _, k := range []struct {
		z    zsock.EventKind
		want EventKind
	}{{zsock.Connected, Connected}, {zsock.Disconnected, Disconnected}} {
		got := eventOf(zsock.Event{Kind: k.z, Endpoint: zsock.Endpoint{Name: "pub.host", Addr: "tcp://127.0.0.1:1"}})
		if got != (Event{Kind: k.want, Endpoint: "pub.host", Addr: "tcp://127.0.0.1:1"}) || got.Kind.String() != k.z.String() {
			t.Errorf("eventOf(%v) = %+v (%s)", k.z, got, got.Kind)
		}
	}
}
