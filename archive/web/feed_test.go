package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ackmsg/ackmsg/archive"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// A client more than DropAfter messages behind is cut off, not waited for; the others are not.
func TestFeedDropsSlowClient(t *testing.T) {
	f := NewFeed(nil)
	slow := &client{queue: make(chan frame, DropAfter), full: make(chan struct{})}
	other := &client{queue: make(chan frame, DropAfter), full: make(chan struct{})}
	slow.subscribe("*")
	other.subscribe("org.other.")
	f.clients[slow], f.clients[other] = struct{}{}, struct{}{}
	recs := make([]archive.Record, DropAfter)
	for i := range recs {
		recs[i] = archive.Record{Topic: "org.example.t", Envelope: []byte(`{}`)}
	}
	f.Send(recs)
	select {
	case <-slow.full:
		t.Fatal("cut off at DropAfter messages queued, not beyond")
	default:
	}
	f.Send(recs[:1])
	select {
	case <-slow.full:
	default:
		t.Fatal("a client past DropAfter is not cut off")
	}
	select {
	case <-other.full:
		t.Fatal("a client not subscribed to the topic was cut off")
	default:
	}
	if len(other.queue) != 0 {
		t.Fatalf("a client got %d messages of a topic it did not subscribe to", len(other.queue))
	}
}

// Close ends the clients with "going away" and waits for them.
func TestFeedCloseEndsClients(t *testing.T) {
	f := NewFeed(nil)
	w, err := New(fakeReader{}, Config{Feed: f})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	testbus.Eventually(t, 10*time.Second, "the client registered", func() bool { return f.Clients() == 1 })
	read := make(chan error, 1)
	go func() { _, _, err := conn.Read(ctx); read <- err }() // reading answers the close handshake
	f.Close()
	if err := <-read; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("read after Close: %v, want status going away", err)
	}
	if f.Clients() != 0 {
		t.Fatal("Close returned with clients")
	}
}

type fakeReader struct{ Reader }
