package ack_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	base "github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/publisher"
)

// logBuffer is a logger's output, safe to read while goroutines log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines containing every one of substrs.
func (b *logBuffer) lines(substrs ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		ok := l != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

func captureLog() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// An acked publish that finds no recipients goes out plain, warns once per topic, and counts.
func TestNoRecipientsWarnsOncePerTopic(t *testing.T) {
	w := newWorld(t)
	log, out := captureLog()
	p := w.publisher(ack.WithLogger(log))
	ctx := testbus.Within(t, 10*time.Second)
	for _, topic := range []string{"a", "a", "b", "a", "b"} {
		if _, err := p.Publish(ctx, topic, 1); err != nil {
			t.Fatal(err)
		}
	}
	// To() with no names asks for a plain publish: no warning, not counted as missing.
	if _, err := p.Publish(ctx, "c", 1, ack.To()); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{"a": 1, "b": 1, "c": 0} {
		got := 0
		for _, l := range out.lines("level=WARN", "without recipients") {
			if strings.HasSuffix(l, " topic="+p.FullTopic(topic)) {
				got++
			}
		}
		if got != want {
			t.Errorf("%d warnings for %s, want %d:\n%s", got, topic, want, out)
		}
	}
	if st := p.Stats(); st.NoRecipients != 5 || st.Plain != 6 || st.Published != 0 {
		t.Fatalf("stats: NoRecipients %d Plain %d Published %d, want 5, 6, 0", st.NoRecipients, st.Plain, st.Published)
	}
}

// With ack_require_recipients, the same publish is an error and nothing is sent.
func TestRequireRecipients(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("pub.host", "pub01")
	cfg.AckRequireRecipients = true
	p, err := config.NewAckPublisher(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testbus.Within(t, 10*time.Second)
	for _, opts := range [][]ack.PublishOption{nil, {ack.To()}} {
		_, err := p.Publish(ctx, "order", 1, opts...)
		if !errors.Is(err, ack.ErrNoRecipients) || !strings.Contains(err.Error(), "org.example.test.") ||
			!strings.Contains(err.Error(), "ack_require_recipients") {
			t.Fatalf("err = %v, want ErrNoRecipients naming the topic and the key", err)
		}
	}
	if p.Sent() != 0 || p.Stats().Plain != 0 {
		t.Fatalf("sent %d, plain %d: a refused publish went out", p.Sent(), p.Stats().Plain)
	}
}

// In development mode an acked publish to recipients that are not running is sent, logged with
// mode=development and the recipients, and succeeds at once; a running recipient still gets it
// marked (and ACKs it, to nobody's notice). No CA is needed.
func TestDevelopmentMode(t *testing.T) {
	w := newWorld(t, "sub01")
	c := w.startConsumer("sub01", "sub01", ack.AfterProcessing)
	cfg := w.config("pub.host", "pub01")
	cfg.Mode = config.ModeDevelopment
	cfg.CACertLocation = filepath.Join(t.TempDir(), "no-such-ca.crt") // would fail production's New
	log, out := captureLog()
	p, err := config.NewAckPublisher(t.Context(), cfg, ack.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(out.lines("level=WARN", "ACKS ARE NOT AWAITED", "mode=development")) != 1 {
		t.Fatalf("no startup warning:\n%s", out)
	}
	ctx := testbus.Within(t, 20*time.Second)
	if err := p.WaitSubscribed(ctx, p.FullTopic("order")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := p.Publish(ctx, "order", 1, ack.To("sub01", "sub02-is-down"))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("development publish took %s: it waited", took)
	}
	if !m.Has("gilmsg_version") {
		t.Fatal("development publish is not marked")
	}
	if l := out.lines("level=WARN", "without waiting for ACKs", "mode=development", "msg_id="+m.MsgID(),
		"recipients=\"[sub01 sub02-is-down]\""); len(l) != 1 {
		t.Fatalf("no per-message warning naming the recipients:\n%s", out)
	}
	testbus.Eventually(t, 10*time.Second, "delivery to sub01", func() bool { return c.deliveries(m.MsgID()) == 1 })
	if st := p.Stats(); st.NotAwaited != 1 || st.Published != 0 || st.Succeeded != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The log sink opens no socket (an endpoint already taken by someone else does not matter), writes
// each message to the log, and acked publishes succeed without ACKs.
func TestLogSink(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := "tcp://" + l.Addr().String()
	cfg := configtest.Config(map[string][]string{"pub.host": {taken}})
	cfg.Name, cfg.Sink = "pub.host", config.SinkLog
	cfg.Recipients = config.ListMap{"org.example.test.#": {"billing"}}
	log, out := captureLog()
	p, err := config.NewAckPublisher(t.Context(), cfg, ack.WithLogger(log), ack.WithModname("shop"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testbus.Within(t, 10*time.Second)
	if err := p.WaitSubscribed(ctx, "anything"); err != nil {
		t.Fatalf("WaitSubscribed on the log sink: %v", err)
	}
	m, err := p.Publish(ctx, "order.new", map[string]any{"id": 7, "item": "tea"}, ack.Field("extra", "x"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := p.Publisher().Publish(ctx, "note", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr() != "log" || p.Sent() != 2 {
		t.Fatalf("Addr %q, Sent %d", p.Addr(), p.Sent())
	}
	for _, want := range [][]string{
		{"would send", "topic=org.example.test.shop.order.new", "msg_id=" + m.MsgID(), `body="{\"id\":7,\"item\":\"tea\"}"`},
		{"would send", "topic=org.example.test.shop.note", "msg_id=" + plain.MsgID(), `body="\"hello\""`},
		{"level=WARN", "without waiting for ACKs", "sink=log", "recipients=[billing]"},
		{"level=WARN", `sink = \"log\": no socket is opened`},
	} {
		if len(out.lines(want...)) != 1 {
			t.Errorf("log lacks one line with %q:\n%s", want, out)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "order.new", 1); !errors.Is(err, ack.ErrClosed) || !errors.Is(err, publisher.ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
}

// One option type serves every constructor; an option for the other side is an error naming it.
func TestMisplacedOptions(t *testing.T) {
	w := newWorld(t, "sub01")
	if _, err := config.NewAckPublisher(t.Context(), w.config("pub.host", "pub01"), ack.WithLogger(nil), ack.WithMode(ack.OnReceipt),
		ack.WithPrefixes("x")); err == nil || err.Error() != "ack: WithMode, WithPrefixes configure a Subscriber, not a Publisher" {
		t.Fatalf("New with subscriber options: %v", err)
	}
	if _, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", ack.WithModname("x")); err == nil ||
		err.Error() != "ack: WithModname configures a Publisher, not a Subscriber" {
		t.Fatalf("NewSubscriber with a publisher option: %v", err)
	}
	for _, o := range []ack.Option{ack.WithDeliverOnly(), ack.DeliverOnly()} {
		if _, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "", o); err == nil ||
			err.Error() != "ack: WithDeliverOnly configures a Publisher, not a Subscriber" {
			t.Fatalf("NewSubscriber with WithDeliverOnly: %v", err)
		}
	}
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "WithMode do not configure a hub's subscription") {
			t.Fatalf("WithSubscriberOptions(WithMode) recovered %v", r)
		}
	}()
	ack.WithSubscriberOptions(ack.WithLogger(nil), ack.WithMode(ack.OnReceipt))
}

// The base packages' ErrClosed come out of ack as ack.ErrClosed too, so that errors.Is tests
// written against publisher or consumer keep working after the import swap.
func TestErrClosedAfterSwap(t *testing.T) {
	w := newWorld(t, "sub01")
	p := w.publisher()
	s, err := config.NewAckSubscriber(w.config("sub01.host", "sub01"), "")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	s.Close()
	ctx := testbus.Within(t, 10*time.Second)
	_, err = p.Publish(ctx, "x", 1) // plain: the base publisher's error
	if !errors.Is(err, ack.ErrClosed) || !errors.Is(err, publisher.ErrClosed) {
		t.Errorf("plain publish after Close: %v", err)
	}
	_, err = p.Publish(ctx, "x", 1, ack.To("sub01"))
	if !errors.Is(err, ack.ErrClosed) {
		t.Errorf("acked publish after Close: %v", err)
	}
	if err := p.WaitSubscribed(ctx, "x"); !errors.Is(err, ack.ErrClosed) {
		t.Errorf("WaitSubscribed after Close: %v", err)
	}
	_, err = s.Next(ctx)
	if !errors.Is(err, ack.ErrClosed) || !errors.Is(err, base.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}
