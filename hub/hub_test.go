package hub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/ack"
	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/config/configtest"
	"github.com/ackmsg/ackmsg/consumer"
	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/message"
)

// hubBus is a loopback bus with a publisher endpoint and a hub endpoint, signed with the vector
// PKI: the publisher signs as pub01, the hub ACKs as sub01.
type hubBus struct {
	t   *testing.T
	eps map[string][]string
	dir string
}

func newHubBus(t *testing.T) *hubBus {
	return &hubBus{t: t, dir: t.TempDir(),
		eps: map[string][]string{"pub.host": {testbus.Addr(t)}, "hub.host": {testbus.Addr(t)}}}
}

func (b *hubBus) hubConfig(consumers ...config.HubConsumer) *config.Config {
	c := configtest.Sign(configtest.Config(b.eps), "sub01")
	c.Name = "hub.host"
	c.Hub.HTTPAddress = "127.0.0.1:0"
	c.Hub.Consumers = consumers
	return c
}

func (b *hubBus) publisher() *ack.Publisher {
	b.t.Helper()
	c := configtest.Sign(configtest.Config(b.eps), "pub01")
	c.Name = "pub.host"
	p, err := config.NewAckPublisher(context.Background(), c)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { p.Close() })
	return p
}

// running is a hub started by Run in the background.
type running struct {
	h      runner
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// start runs the hub and waits until it is ready and its HTTP endpoint listens.
func (b *hubBus) start(cfg *config.Config, opts ...Option) *running {
	b.t.Helper()
	r := &running{done: make(chan error, 1)}
	hubCh, addrCh := make(chan runner, 1), make(chan string, 1)
	opts = append(opts, func(o *options) {
		o.onHub = func(h runner) { hubCh <- h }
		o.onHTTP = func(a net.Addr) { addrCh <- a.String() }
	})
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- Run(ctx, cfg, opts...) }()
	select {
	case r.h = <-hubCh:
	case err := <-r.done:
		b.t.Fatalf("Run: %v", err)
	}
	r.addr = <-addrCh
	if err := r.h.(interface{ WaitReady(context.Context) error }).WaitReady(testbus.Within(b.t, 10*time.Second)); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { r.stop(b.t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not stop within 15 s")
		return nil
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// An exec consumer and a Go consumer: the publisher's ACK arrives after both processed the
// message; /live, /ready and /metrics report it.
func TestRunExecGoAndMetrics(t *testing.T) {
	b := newHubBus(t)
	out := filepath.Join(b.dir, "out.jsonl")
	archive := config.DefaultHubConsumer("archive", config.HubKindExec)
	archive.Topics, archive.Command = []string{"org.example.test.#"}, []string{"sh", "-c", `cat >> "` + out + `"`}
	var mu sync.Mutex
	var got []string
	counter := consumer.Func(func(ctx context.Context, m *message.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m.MsgID())
		return nil
	}, "org.example.test.order.*")
	r := b.start(b.hubConfig(archive, config.DefaultHubConsumer("counter", config.HubKindGo)),
		WithConsumer("counter", counter), WithConsumer("unused", counter))

	p := b.publisher()
	m, err := p.Publish(testbus.Within(t, 30*time.Second), "created", map[string]any{"id": 7}, ack.Modname("order"),
		ack.To("sub01"), ack.Within(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	wire, _ := m.Marshal()
	if string(data) != string(wire)+"\n" {
		t.Fatalf("out.jsonl = %q, want the envelope", data)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != m.MsgID() {
		t.Errorf("Go consumer got %v", got)
	}
	mu.Unlock()

	base := "http://" + r.addr
	if code, body := get(t, base+"/live"); code != 200 || body != "live\n" {
		t.Errorf("/live: %d %q", code, body)
	}
	if code, _ := get(t, base+"/ready"); code != 200 {
		t.Errorf("/ready: %d", code)
	}
	code, metrics := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range []string{
		"ackmsg_hub_messages_received_total 1",
		"ackmsg_hub_messages_completed_total 1",
		"ackmsg_hub_acks_sent_total 1",
		"ackmsg_hub_ready 1",
		`ackmsg_hub_consumer_processed_total{consumer="archive"} 1`,
		`ackmsg_hub_consumer_processed_total{consumer="counter"} 1`,
		`ackmsg_hub_consumer_failed_total{consumer="archive"} 0`,
		`ackmsg_hub_consumer_inbox_capacity{consumer="archive"} 100`,
		`ackmsg_hub_consumer_inbox_depth{consumer="archive"} 0`,
		`ackmsg_hub_consumer_processing_seconds_count{consumer="archive",outcome="ok"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", metrics)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if _, err := http.Get(base + "/live"); err == nil {
		t.Error("the HTTP endpoint still answers after Run returned")
	}
}

// A failing command sends no ACK: the publisher times out naming the hub.
func TestRunFailingCommandIsNotAcked(t *testing.T) {
	b := newHubBus(t)
	fail := config.DefaultHubConsumer("fail", config.HubKindExec)
	fail.Topics, fail.Command = []string{"#"}, []string{"sh", "-c", "echo nope >&2; exit 1"}
	r := b.start(b.hubConfig(fail))
	p := b.publisher()
	_, err := p.Publish(testbus.Within(t, 30*time.Second), "x", 1, ack.To("sub01"), ack.Within(1500*time.Millisecond))
	var te *ack.TimeoutError
	if !errors.As(err, &te) || len(te.Missing) != 1 || te.Missing[0] != "sub01" {
		t.Fatalf("err = %v, want a timeout naming sub01", err)
	}
	if st := r.h.Stats(); st.Consumers[0].Failed == 0 || st.Completed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunErrors(t *testing.T) {
	b := newHubBus(t)
	goC := config.DefaultHubConsumer("orders", config.HubKindGo)
	badFile := config.DefaultHubConsumer("audit", config.HubKindFile)
	badFile.Topics, badFile.Path = []string{"#"}, filepath.Join(b.dir, "no-dir", "x")
	disabled := goC
	disabled.Enabled = false
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	okExec := config.DefaultHubConsumer("ok", config.HubKindExec)
	okExec.Topics, okExec.Command = []string{"#"}, []string{"true"}
	portTaken := b.hubConfig(okExec)
	portTaken.Hub.HTTPAddress = busy.Addr().String()
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		opts []Option
		want string
	}{
		{"no consumers", b.hubConfig(), nil, "no enabled consumers"},
		{"only disabled", b.hubConfig(disabled), nil, "no enabled consumers"},
		{"go consumer missing", b.hubConfig(goC), []Option{WithConsumer("billing", consumer.Func(nil, "#"))},
			`consumer "orders" is of kind go, but this hub has no Go consumer of that name (it has: billing)`},
		{"file cannot be opened", b.hubConfig(badFile), nil, `file consumer "audit"`},
		{"http port taken", portTaken, nil, "http_address " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(context.Background(), tc.cfg, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMainHelpAndExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain("ackmsg-hub", []string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, s := range []string{"[[hub.consumers]]", "kind = \"exec\"", "ACKMSG_MSG_ID", "shutdown_timeout", "Exit status 0 after a\nclean shutdown"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("--help lacks %q", s)
		}
	}
	conf := filepath.Join(t.TempDir(), "hub.toml")
	if err := os.WriteFile(conf, []byte("topic_prefix = \"org.example\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(t.TempDir(), "signed.toml")
	if err := os.WriteFile(signed, []byte("sign_messages = true\n[certnames]\n\"shell.h\" = \"logger\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", conf, "extra"}, 2, "unexpected arguments"},
		{[]string{"--config", signed}, 2, "no certificate of its own to sign its ACKs with: give --certname"},
		{[]string{"--config", conf, "--http-address", "nope"}, 2, "--http-address"},
		{[]string{"--config", conf}, 1, "no enabled consumers"},
	} {
		errOut.Reset()
		if code := runMain("ackmsg-hub", tc.args, io.Discard, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tc.args, code, tc.code, errOut.String())
		}
	}
}

// With sign_messages off the hub cannot sign ACKs: it still runs its consumers, without ACKing.
func TestRunUnsignedConsumesWithoutAcks(t *testing.T) {
	b := newHubBus(t)
	out := filepath.Join(b.dir, "journal.jsonl")
	journal := config.DefaultHubConsumer("journal", config.HubKindFile)
	journal.Topics, journal.Path, journal.Fsync = []string{"org.example.test.#"}, out, config.HubFsyncNever
	cfg := configtest.Config(b.eps)
	cfg.Name, cfg.Hub.HTTPAddress, cfg.Hub.Consumers = "hub.host", "127.0.0.1:0", []config.HubConsumer{journal}
	r := b.start(cfg)
	pc := configtest.Config(b.eps)
	pc.Name = "pub.host"
	pub, err := config.NewPublisher(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx := testbus.Within(t, 20*time.Second)
	if err := pub.WaitSubscribed(ctx, "org.example.test"); err != nil {
		t.Fatal(err)
	}
	// An ACK on the bus is counted and dropped unread: this one is not even JSON, and is not
	// counted as invalid. It is sent first on the same socket, so it has been read once the
	// message is in the journal.
	if err := pub.Resend("org.example.test.gilmsg.ack", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "x", 1); err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, 10*time.Second, "the message in the journal", func() bool {
		data, _ := os.ReadFile(out)
		return strings.Count(string(data), "\n") == 1
	})
	_, metrics := get(t, "http://"+r.addr+"/metrics")
	if strings.Contains(metrics, "ackmsg_hub_acks_sent_total") || !strings.Contains(metrics, `ackmsg_hub_consumer_processed_total{consumer="journal"} 1`) ||
		!strings.Contains(metrics, "ackmsg_hub_acks_seen_total 1") || strings.Contains(metrics, "ackmsg_hub_messages_invalid_total{") {
		t.Fatalf("metrics:\n%s", metrics)
	}
}

func TestListConsumers(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hub.toml")
	if err := os.WriteFile(conf, []byte(`
[[hub.consumers]]
name = "archive"
kind = "exec"
topics = ["org.example.dev.#"]
command = ["sh", "-c", "cat >> out.jsonl"]

[[hub.consumers]]
name = "audit"
kind = "file"
topics = ["org.example.dev.audit.*"]
path = "audit.jsonl"

[[hub.consumers]]
name = "counter"
kind = "go"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	extra := consumer.Func(func(context.Context, *message.Message) error { return nil }, "org.example.#")
	if code := runMain("ackmsg-hub", []string{"--config", conf, "--list-consumers"}, &out, &errOut,
		WithConsumer("spare", extra)); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"archive  exec", "sh -c cat >> out.jsonl", conf,
		"audit    file", "audit.jsonl (fsync always)",
		"counter  go", "NOT in this binary",
		"spare    go", "compiled in, not enabled",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}
}
