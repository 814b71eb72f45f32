package consumer

import (
	"fmt"

	"github.com/ackmsg/ackmsg/internal/zsock"
)

// EventKind says what happened to the connection to one endpoint.
type EventKind int

// The connection events WithEvents reports (with the values of the socket layer's).
const (
	// Connected: the handshake with the endpoint completed; the subscription is on its way.
	Connected EventKind = iota + 1
	// Disconnected: the connection dropped; it is made again by itself.
	Disconnected
)

// String is "connected" or "disconnected".
func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a connection change on one endpoint, reported to the function given to WithEvents.
type Event struct {
	Kind     EventKind
	Endpoint string // the endpoints key, or the relay_inbound address for a bound socket's peer
	Addr     string // the address connected to (or bound)
}

// eventOf converts a socket event. The kinds have the values of zsock's (events_test.go checks),
// so package ack, which reports its ACK listener's events, converts with a cast too.
func eventOf(e zsock.Event) Event {
	return Event{Kind: EventKind(e.Kind), Endpoint: e.Endpoint.Name, Addr: e.Endpoint.Addr}
}
