package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ackmsg/ackmsg/archive"
)

// DropAfter is how many messages a live client may have queued before it is disconnected.
const DropAfter = 256

// subscribeTopic is moksha's control topic: its body is a topic to subscribe to.
const subscribeTopic = "__topic_subscribe__"

// frame is moksha's WebSocket frame, both ways.
type frame struct {
	Topic string          `json:"topic"`
	Body  json.RawMessage `json:"body"`
}

// Feed hands committed messages to the live WebSocket clients. Create it with NewFeed, give
// the ingest loop Feed.Writer(store), serve Web.Routes; Close ends the clients.
type Feed struct {
	log *slog.Logger

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup
}

type client struct {
	mu     sync.Mutex
	topics []string // prefixes, "*"s removed
	queue  chan frame
	full   chan struct{}
	once   sync.Once
}

// NewFeed returns a feed with no clients; logger nil is slog.Default().
func NewFeed(logger *slog.Logger) *Feed {
	if logger == nil {
		logger = slog.Default()
	}
	return &Feed{log: logger, clients: map[*client]struct{}{}}
}

// Writer wraps w: after each Insert that returned nil (committed), the records are sent to
// the clients subscribed to their topics.
func (f *Feed) Writer(w archive.Writer) archive.Writer { return feedWriter{w, f} }

type feedWriter struct {
	archive.Writer
	f *Feed
}

func (w feedWriter) Insert(ctx context.Context, recs []archive.Record) (int, error) {
	n, err := w.Writer.Insert(ctx, recs)
	if err == nil {
		w.f.Send(recs)
	}
	return n, err
}

// Send hands recs to the subscribed clients without blocking: a client whose queue is full is
// disconnected.
func (f *Feed) Send(recs []archive.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.clients {
		for i := range recs {
			if !c.wants(recs[i].Topic) {
				continue
			}
			select {
			case c.queue <- frame{Topic: recs[i].Topic, Body: recs[i].Envelope}:
			default:
				c.once.Do(func() { close(c.full) })
			}
		}
	}
}

// Clients is the number of connected WebSocket clients.
func (f *Feed) Clients() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.clients)
}

// Close disconnects every client and waits for their goroutines.
func (f *Feed) Close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.clients {
		c.once.Do(func() { close(c.full) })
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (c *client) wants(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.topics {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

func (c *client) subscribe(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topics = append(c.topics, strings.ReplaceAll(topic, "*", ""))
}

// serveWS is the live feed: moksha's protocol over one WebSocket connection.
func (f *Feed) serveWS(w http.ResponseWriter, r *http.Request) {
	// Browser pages of any origin may watch the bus, as with moksha's server (it checks none);
	// the feed only sends what the API already answers to anyone.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the client
	}
	c := &client{queue: make(chan frame, DropAfter), full: make(chan struct{})}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		conn.Close(websocket.StatusGoingAway, "the archive is stopping")
		return
	}
	f.clients[c] = struct{}{}
	f.wg.Add(1)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.clients, c)
		f.mu.Unlock()
		f.wg.Done()
	}()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		readErr = f.read(ctx, conn, c)
	}()
	err = f.write(ctx, conn, c, readDone)
	cancel()
	conn.CloseNow()
	<-readDone
	if err == nil {
		err = readErr
	}
	if err != nil && !errors.Is(err, context.Canceled) && websocket.CloseStatus(err) == -1 {
		f.log.Debug("live feed client gone", "remote", r.RemoteAddr, "error", err)
	}
}

// read takes the client's frames: subscriptions; anything else is ignored, as moksha does
// unless its client2server option is on (ackmsg never publishes for a browser).
func (f *Feed) read(ctx context.Context, conn *websocket.Conn, c *client) error {
	conn.SetReadLimit(64 << 10)
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var fr struct {
			Topic string `json:"topic"`
			Body  any    `json:"body"`
		}
		if json.Unmarshal(b, &fr) != nil || fr.Topic != subscribeTopic {
			continue
		}
		if t, ok := fr.Body.(string); ok {
			c.subscribe(t)
		}
	}
}

func (f *Feed) write(ctx context.Context, conn *websocket.Conn, c *client, readDone <-chan struct{}) error {
	for {
		select {
		case <-readDone:
			return nil
		case <-c.full:
			f.mu.Lock()
			closed := f.closed
			f.mu.Unlock()
			if closed {
				return conn.Close(websocket.StatusGoingAway, "the archive is stopping")
			}
			return conn.Close(websocket.StatusPolicyViolation, "too slow: more than 256 messages queued; reconnect")
		case fr := <-c.queue:
			b, err := json.Marshal(fr)
			if err != nil {
				continue // an envelope that is not JSON is never archived
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return err
			}
		}
	}
}
