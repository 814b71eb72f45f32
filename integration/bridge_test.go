package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// TestBridgeProcess runs the real ackmsg-bridge between a relay bus and a real RabbitMQ, both
// directions, and drives it only with the shipped commands: an acked ackmsg-logger to recipient
// bridge exits 0 once the broker holds the message (read back with ackmsg-bridge get and
// verified with ackmsg-certs verify); a topic no queue is bound for times out naming bridge;
// a broker message sent while the bridge is killed reaches ackmsg-tail --ack once it is back; a
// poison message is dead-lettered; /ready and /metrics answer; SIGTERM ends it with exit 0.
func TestBridgeProcess(t *testing.T) {
	url := rmqtest.URL(t)
	in, audit := rmqtest.Name("bridge.in"), rmqtest.Name("bridge.audit")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := NewBus(t, BusOptions{Certs: []string{"bridge", "tail"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
topics = ["org.example.test.logger.routed", "org.example.test.logger.unbound"]
queue = %q
queue_bindings = [%q]
recipients = ["tail"]
dead_letter_exchange = %q
max_attempts = 2
http_address = %q
`, url, in, in+".#", rmqtest.Name("bridge.dlx"), httpAddr)})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")

	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", "queue", audit, "--bind", "org.example.test.logger.routed"); code != 0 {
		t.Fatalf("ackmsg-bridge queue: exit %d\n%s", code, stderr)
	}
	br := startBridge(t, b, httpAddr)

	// Bus → AMQP: exit 0 means the broker confirmed it; the envelope there is verifiable.
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "bridge", "--ack-timeout", "20",
		"--topic", "routed", "--message", "into the broker"); code != 0 {
		t.Fatalf("acked publish to bridge: exit %d\n%s", code, stderr)
	}
	got := getQueue(t, b, audit, 1)
	var env struct {
		Topic string
		Msg   map[string]any
	}
	if err := json.Unmarshal([]byte(got[0]), &env); err != nil || env.Topic != "org.example.test.logger.routed" || env.Msg["log"] != "into the broker" {
		t.Fatalf("queue %s holds %q (%v)", audit, got[0], err)
	}
	if out, stderr, code := b.Run(20*time.Second, got[0], "ackmsg-certs", "verify", "--dir", b.PKI, "--crl", filepath.Join(b.PKI, "crl.pem")); code != 0 || strings.TrimSpace(out) != "ok logger" {
		t.Fatalf("ackmsg-certs verify of the broker's copy: exit %d %q\n%s", code, out, stderr)
	}

	// A topic the bridge forwards but no queue is bound for: returned, no ACK, a timeout
	// naming bridge; counted on /metrics.
	_, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "bridge", "--ack-timeout", "2",
		"--topic", "unbound", "--message", "nowhere")
	if code != 3 || !strings.Contains(stderr, "bridge") {
		t.Fatalf("acked publish with no queue bound: exit %d, want 3 naming bridge\n%s", code, stderr)
	}
	waitMetric(t, httpAddr, "ackmsg_bridge_to_amqp_returned_total", 1)
	waitMetric(t, httpAddr, "ackmsg_bridge_to_amqp_confirmed_total", 1)
	if code := br.Stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}

	// AMQP → bus, with a kill -9 of the bridge between the send and the tail: the message
	// waits in the queue and is brought once the bridge is back; the broker keeps it until
	// the tail ACKed.
	br = startBridge(t, b, httpAddr)
	br.Kill(t)
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", "send", in+".push", `{"repo": "ackmsg"}`); code != 0 {
		t.Fatalf("ackmsg-bridge send: exit %d\n%s", code, stderr)
	}
	tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--json", "--count", "1", "--timeout", "60")
	br = startBridge(t, b, httpAddr)
	if code := tail.Wait(t, 70*time.Second); code != 0 {
		t.Fatalf("ackmsg-tail: exit %d\n%s", code, tail.Stderr.String())
	}
	var m struct {
		Topic    string
		Msg      map[string]any
		Username string
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(tail.Stdout.String())), &m); err != nil {
		t.Fatalf("tail printed %q: %v", tail.Stdout.String(), err)
	}
	if m.Topic != "org.example.test.amqp."+in+".push" || m.Msg["repo"] != "ackmsg" {
		t.Fatalf("tail got %+v", m)
	}
	waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_published_total", 1)

	// A poison message (not a JSON object) goes to the dead-letter queue, not to the bus.
	// (ackmsg-bridge send refuses such a body: another AMQP client sends it.)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Publish("amq.topic", in+".bad", true, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("[1, 2]")}); err != nil {
		t.Fatal(err)
	}
	if got := getQueue(t, b, in+".dead", 1); got[0] != "[1, 2]" {
		t.Fatalf("dead-letter queue: %q", got)
	}
	if code := br.Stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}
}

// TestBridgeBadInput: configuration and usage errors exit 2 with a clear message; an
// unreachable broker is a runtime error for the tools, and the daemon keeps retrying (not ready).
func TestBridgeBadInput(t *testing.T) {
	b := NewBus(t, BusOptions{Certs: []string{"bridge"}})
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--certname", "bridge"}, 2, "nothing to bridge"},
		{[]string{"--certname", "bridge", "--topics", "x", "--url", "http://nope"}, 2, "bridge.url"},
		{[]string{"--certname", "bridge", "--topics", "x", "extra"}, 2, "unexpected arguments"},
		{[]string{"send", "k"}, 2, "send KEY JSON"},
		{[]string{"send", "k", "[1]"}, 2, "must be a JSON object"},
		{[]string{"get", "q", "--count", "0"}, 2, "--count 0"},
		{[]string{"get", "q", "--timeout", "soon"}, 2, "--timeout soon"},
		{[]string{"send", "k", "{}", "--url", fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", testbus.FreePort(t))}, 1, "connecting to the broker"},
	} {
		_, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("ackmsg-bridge %q: exit %d, want %d with %q\n%s", c.args, code, c.code, c.want, stderr)
		}
	}
}

// startBridge starts ackmsg-bridge as "bridge" and waits until /ready says it is connected.
func startBridge(t *testing.T, b *Bus, httpAddr string) *Proc {
	t.Helper()
	p := b.Start("ackmsg-bridge", "--certname", "bridge")
	p.WaitLog(t, "http endpoint ready")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("ackmsg-bridge never ready (%v)\n%s", err, p.Stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling another process's readiness
	}
}

// getQueue reads n message bodies from a broker queue with ackmsg-bridge get.
func getQueue(t *testing.T, b *Bus, queue string, n int) []string {
	t.Helper()
	out, stderr, code := b.Run(40*time.Second, "", "ackmsg-bridge", "get", queue, "--count", fmt.Sprint(n), "--timeout", "30")
	if code != 0 {
		t.Fatalf("ackmsg-bridge get %s: exit %d\n%s", queue, code, stderr)
	}
	lines := Lines(out)
	if len(lines) != n {
		t.Fatalf("ackmsg-bridge get %s: %d lines, want %d: %q", queue, len(lines), n, out)
	}
	return lines
}

// waitMetric waits until the counter name on /metrics reaches at least v.
func waitMetric(t *testing.T, httpAddr, name string, v float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(body), "\n") {
				var got float64
				if strings.HasPrefix(l, name+" ") {
					last = l
					if _, err := fmt.Sscanf(l[len(name)+1:], "%g", &got); err == nil && got >= v {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s never reached %v (last %q)", name, v, last)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's counters
	}
}

// TestBridgeRefusedExits: the real ackmsg-bridge given credentials or a vhost the broker refuses
// exits 1 at once with the broker's reason (and no password), instead of retrying with WARN
// lines forever; a broker that is only unreachable is still retried.
func TestBridgeRefusedExits(t *testing.T) {
	url := rmqtest.URL(t)
	for _, c := range []struct{ name, url, reason string }{
		{"password", strings.Replace(url, "guest:guest@", "guest:wrong-secret@", 1), "403"},
		{"vhost", url + "no-such-vhost", "NOT_ALLOWED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := NewBus(t, BusOptions{Certs: []string{"bridge"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
topics = ["org.example.test.logger.#"]
queue = %q
reconnect_max = 0.5
`, c.url, rmqtest.Name("refused"))})
			start := time.Now()
			p := b.Start("ackmsg-bridge", "--certname", "bridge")
			code := p.Wait(t, 20*time.Second)
			stderr := p.Stderr.String()
			if code != 1 || !strings.Contains(stderr, "refused the bridge") || !strings.Contains(stderr, c.reason) {
				t.Fatalf("exit %d after %s, want 1 with the broker's reason %q\n%s", code, time.Since(start), c.reason, stderr)
			}
			if strings.Contains(stderr, "wrong-secret") {
				t.Fatalf("the password was printed:\n%s", stderr)
			}
			t.Logf("exit %d after %s", code, time.Since(start).Round(time.Millisecond))
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		b := NewBus(t, BusOptions{Certs: []string{"bridge"}, Extra: fmt.Sprintf(`
[bridge]
url = "amqp://guest:guest@127.0.0.1:%d/"
queue = %q
reconnect_max = 0.2
`, testbus.FreePort(t), rmqtest.Name("unreachable"))})
		p := b.Start("ackmsg-bridge", "--certname", "bridge")
		p.WaitLog(t, "broker unreachable")
		if p.Exited() {
			t.Fatalf("exited on a connection failure\n%s", p.Stderr.String())
		}
		if code := p.Stop(t); code != 0 {
			t.Fatalf("SIGTERM: exit %d\n%s", code, p.Stderr.String())
		}
	})
}

// TestBridgeOwnAcksQuiet: a bridge whose bus topics cover what it brings from the broker gets its
// own messages back and ACKs them (every subscriber ACKs what is marked); its publisher, waiting
// for the recipient tail, must not log that as a rejected ACK on every message.
func TestBridgeOwnAcksQuiet(t *testing.T) {
	url := rmqtest.URL(t)
	in := rmqtest.Name("quiet.in")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := NewBus(t, BusOptions{Certs: []string{"bridge", "tail"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
topics = ["org.example.test.#"]
queue = %q
queue_bindings = [%q]
recipients = ["tail"]
http_address = %q
`, url, in, in+".#", httpAddr)})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	br := startBridge(t, b, httpAddr)
	const n = 3
	tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--json", "--count", fmt.Sprint(n), "--timeout", "60",
		"--topic", "org.example.test.amqp")
	for i := range n {
		if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", "send", in+".push", fmt.Sprintf(`{"n": %d}`, i)); code != 0 {
			t.Fatalf("ackmsg-bridge send: exit %d\n%s", code, stderr)
		}
	}
	if code := tail.Wait(t, 70*time.Second); code != 0 {
		t.Fatalf("ackmsg-tail: exit %d\n%s", code, tail.Stderr.String())
	}
	waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_published_total", n)
	if code := br.Stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}
	if s := br.Stderr.String(); strings.Contains(s, "not a recipient") || strings.Contains(s, "ACK not counted") {
		t.Fatalf("the bridge warned about its own traffic:\n%s", s)
	}
}

// TestBridgeToolsAfterGlobalFlags: the broker tools take the global flags before their name too
// (ackmsg-bridge --url X queue q --bind k), against a real broker.
func TestBridgeToolsAfterGlobalFlags(t *testing.T) {
	url := rmqtest.URL(t)
	q := rmqtest.Name("flags.first")
	b := NewBus(t, BusOptions{})
	for _, args := range [][]string{
		{"--url", url, "queue", q, "--bind", q + ".k"},
		{"--url", url, "--exchange", "amq.topic", "send", q + ".k", `{"n": 1}`},
	} {
		if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", args...); code != 0 {
			t.Fatalf("ackmsg-bridge %q: exit %d\n%s", args, code, stderr)
		}
	}
	out, stderr, code := b.Run(40*time.Second, "", "ackmsg-bridge", "--url", url, "--count", "1", "--timeout", "30", "get", q)
	if code != 0 || strings.TrimSpace(out) != `{"n": 1}` {
		t.Fatalf("ackmsg-bridge --url X --count 1 get %s: exit %d %q\n%s", q, code, out, stderr)
	}
}

// TestSubcommandHelp: the shipped binaries' --help for a subcommand shows that subcommand's own
// synopsis, its name once, and the command's --help lists every subcommand.
func TestSubcommandHelp(t *testing.T) {
	b := NewBus(t, BusOptions{})
	for _, c := range []struct {
		args []string
		want []string
		not  string
	}{
		{[]string{"ackmsg-outbox", "--help"}, []string{"Usage: ackmsg-outbox serve|list|stats|retry|drop|flush|wait [flags]\n", "\n  wait [MSGID...]  "}, "ackmsg-outbox  "},
		{[]string{"ackmsg-outbox", "serve", "--help"}, []string{"Usage: ackmsg-outbox serve [flags]\n"}, "serve serve"},
		{[]string{"ackmsg-outbox", "wait", "--help"}, []string{"Usage: ackmsg-outbox wait [MSGID...] [--timeout SECONDS] [flags]\n"}, "serve|"},
		{[]string{"ackmsg-bridge", "--help"}, []string{"Usage: ackmsg-bridge [flags] | queue|send|get ...\n", "\n  get NAME  "}, ""},
		{[]string{"ackmsg-bridge", "get", "--help"}, []string{"Usage: ackmsg-bridge get NAME [--count N] [--timeout SECONDS] [flags]\n"}, "get get"},
		{[]string{"ackmsg-bridge", "queue", "--help"}, []string{"Usage: ackmsg-bridge queue NAME --bind KEY... [flags]\n"}, "queue queue"},
	} {
		out, stderr, code := b.Run(20*time.Second, "", c.args[0], c.args[1:]...)
		ok := code == 0 && (c.not == "" || !strings.Contains(out, c.not))
		for _, w := range c.want {
			ok = ok && strings.Contains(out, w)
		}
		if !ok {
			t.Errorf("%q: exit %d, want %q and not %q:\n%s%s", c.args, code, c.want, c.not, out, stderr)
		}
	}
}
