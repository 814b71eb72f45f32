package integration

// Interop between ackmsg-bridge and the real Python fedora-messaging (3.x), through a real
// RabbitMQ, in both directions. Opt-in: these tests run only when $ACKMSG_FEDORA_MESSAGING_PATH
// names a directory holding the fedora_messaging package (with its dist-info) and a python3 can
// import it (integration/python/README.md says how to set that up; fedora-messaging is not part
// of this repository). The Python side is driven by
// integration/python/fedora_messaging_driver.py, which prints one JSON event per line.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

var (
	fmOnce    sync.Once
	fmExe     string // the interpreter that imports fedora_messaging
	fmPath    string // $ACKMSG_FEDORA_MESSAGING_PATH
	fmSkip    string // why the tests are skipped, when they are
	fmVersion string // the version, file and interpreter the driver's check reported
	fmDriver  = filepath.Join(testbus.RepoRoot(), "integration", "python", "fedora_messaging_driver.py")
)

// requireFedoraMessaging skips the test unless the Python fedora-messaging can be imported.
func requireFedoraMessaging(t *testing.T) {
	t.Helper()
	fmOnce.Do(func() {
		fmPath = os.Getenv("ACKMSG_FEDORA_MESSAGING_PATH")
		if fmPath == "" {
			fmSkip = "ACKMSG_FEDORA_MESSAGING_PATH is not set: it names a directory holding the fedora_messaging " +
				"Python package and its dist-info (see integration/python/README.md)"
			return
		}
		candidates := []string{"python3", "/usr/bin/python3"}
		if p := os.Getenv("ACKMSG_PYTHON"); p != "" {
			candidates = []string{p}
		}
		dir, err := os.MkdirTemp("", "ackmsg-fm-check-")
		if err != nil {
			fmSkip = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		var why []string
		for _, c := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, c, fmDriver, "--timeout", "25", "check")
			cmd.Dir = dir
			cmd.Env = fmEnv(filepath.Join(dir, "none.toml"))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			var check struct{ Version, File, Pika string }
			if err == nil {
				if err = json.Unmarshal(stdout.Bytes(), &check); err == nil {
					fmExe = c
					fmVersion = fmt.Sprintf("%s (%s, pika %s, %s)", check.Version, check.File, check.Pika, c)
					return
				}
			}
			if lines := Lines(stderr.String()); len(lines) > 0 {
				why = append(why, fmt.Sprintf("%s: %v: %s", c, err, lines[len(lines)-1]))
			} else {
				why = append(why, fmt.Sprintf("%s: %v", c, err))
			}
		}
		fmSkip = fmt.Sprintf("ACKMSG_FEDORA_MESSAGING_PATH=%s, but no python3 imports fedora_messaging from it (set "+
			"ACKMSG_PYTHON to choose the interpreter): %s", fmPath, strings.Join(why, "; "))
	})
	if fmSkip != "" {
		t.Skip(fmSkip)
	}
}

// fmEnv is the environment of the driver: fedora-messaging on PYTHONPATH and its configuration
// file (FEDORA_MESSAGING_CONF, never /etc/fedora-messaging/config.toml).
func fmEnv(conf string) []string {
	path := fmPath
	if old := os.Getenv("PYTHONPATH"); old != "" {
		path += string(os.PathListSeparator) + old
	}
	return append(os.Environ(), "PYTHONPATH="+path, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
		"FEDORA_MESSAGING_CONF="+conf)
}

// fmSide is fedora-messaging's side of a test: a directory with its config.toml.
type fmSide struct {
	dir, conf string
}

// newFMSide writes a fedora-messaging configuration pointing at the test broker, with extra
// TOML (a [tls] table) appended.
func newFMSide(t *testing.T, url string, extra ...string) *fmSide {
	t.Helper()
	dir := t.TempDir()
	s := &fmSide{dir: dir, conf: filepath.Join(dir, "config.toml")}
	toml := fmt.Sprintf(`# written by fedora_messaging_interop_test.go
amqp_url = %q
publish_exchange = "amq.topic"
topic_prefix = ""

[client_properties]
app = "ackmsg interop test"

[qos]
prefetch_size = 0
prefetch_count = 10
%s`, url+"?connection_attempts=3&retry_delay=1", strings.Join(extra, "\n"))
	if err := os.WriteFile(s.conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs fedora_messaging_driver.py (bounded by --timeout: the driver exits 3 after it);
// it is killed when the test ends.
func (s *fmSide) start(t *testing.T, timeout time.Duration, args ...string) *Proc {
	t.Helper()
	argv := append([]string{fmDriver, "--timeout", fmt.Sprint(int(timeout.Seconds()))}, args...)
	p := &Proc{Name: "fedora_messaging_driver.py " + args[0], Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(fmExe, argv...)
	p.cmd.Dir = s.dir
	p.cmd.Env = fmEnv(s.conf)
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = exitCode(err)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.Name, p.Stdout.String(), p.Name, p.Stderr.String())
		}
	})
	return p
}

// run runs the driver to completion (its own --timeout, and 15 s more here) and fails the test
// unless it exits 0.
func (s *fmSide) run(t *testing.T, timeout time.Duration, args ...string) *Proc {
	t.Helper()
	p := s.start(t, timeout, args...)
	if code := p.Wait(t, timeout+15*time.Second); code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", p.Name, code, p.Stdout.String(), p.Stderr.String())
	}
	return p
}

// fmEvents parses the driver's stdout (numbers kept as json.Number); kind "" means all.
func fmEvents(t *testing.T, p *Proc, kind string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range Lines(p.Stdout.String()) {
		var e map[string]any
		if err := decodeJSON(l, &e); err != nil {
			t.Fatalf("%s printed a line that is not JSON: %q", p.Name, l)
		}
		if kind == "" || e["event"] == kind {
			out = append(out, e)
		}
	}
	return out
}

func decodeJSON(s string, v any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d.Decode(v)
}

// jsonKind is the JSON type of a decoded value, for comparing headers by type.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// queueState is the depth (ready messages) and consumer count of a broker queue.
func queueState(t *testing.T, url, queue string) (messages, consumers int) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue %s: %v", queue, err)
	}
	return q.Messages, q.Consumers
}

// settledDepth waits until no consumer is left on the queue (its channels are closed: whatever
// they held unacknowledged is back in the queue) and returns the depth then.
func settledDepth(t *testing.T, url, queue string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		messages, consumers := queueState(t, url, queue)
		if consumers == 0 {
			return messages
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s still has %d consumers after 20s", queue, consumers)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker
	}
}

var fmSentAt = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`)

// TestBridgeToFedoraMessagingConsumer: bus → AMQP. ackmsg-logger --recipients bridge (exit 0:
// the broker confirmed) puts messages on a queue; fedora_messaging.api.consume, declaring that
// queue and binding itself as its configuration would, receives each as a base.message whose
// id is the msg_id, topic the full topic, body the signed envelope exactly as the broker holds
// it (and still verifiable), severity INFO, validate() and its dumps/loads round trip passing,
// and whose headers are a superset, type for type, of those fedora-messaging puts on its own
// messages. It acks them: the queue is empty afterwards.
func TestBridgeToFedoraMessagingConsumer(t *testing.T) {
	requireFedoraMessaging(t)
	url := rmqtest.URL(t)
	fm := newFMSide(t, url)
	queue, audit := rmqtest.Name("fm.consumer"), rmqtest.Name("fm.audit")
	const key = "org.example.test.logger.#"
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := NewBus(t, BusOptions{Certs: []string{"bridge"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
topics = [%q]
http_address = %q
`, url, key, httpAddr)})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")

	// The queue fedora-messaging will consume exists before anything is published, so every
	// message waits in it whenever the consumer starts (declared as fedora-messaging then
	// declares it again: durable, a quorum queue); the audit queue keeps the broker's bytes.
	for _, q := range []string{queue, audit} {
		if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-bridge", "queue", q, "--bind", key); code != 0 {
			t.Fatalf("ackmsg-bridge queue %s: exit %d\n%s", q, code, stderr)
		}
	}
	br := startBridge(t, b, httpAddr)

	text := "hello fedora-messaging: caf\u00e9 \U0001F600 <b> & \"quoted\""
	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-logger", "--recipients", "bridge", "--ack-timeout", "20",
		"--topic", "fm.text", "--message", text); code != 0 {
		t.Fatalf("acked publish to bridge: exit %d\n%s", code, stderr)
	}
	doc := `{"package": "ackmsg", "n": 3, "f": 2.5, "big": 18446744073709551616, "nested": {"list": [1, null, true, "\u00e9"], "empty": {}}}`
	if _, stderr, code := b.Run(30*time.Second, doc, "ackmsg-logger", "--recipients", "bridge", "--ack-timeout", "20",
		"--topic", "fm.json", "--json-input"); code != 0 {
		t.Fatalf("acked publish to bridge (--json-input): exit %d\n%s", code, stderr)
	}
	onBroker := getQueue(t, b, audit, 2) // the bodies exactly as the broker holds them
	if code := br.Stop(t); code != 0 {
		t.Fatalf("ackmsg-bridge SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}

	ref := fmEvents(t, fm.run(t, 30*time.Second, "reference"), "reference")
	if len(ref) != 1 {
		t.Fatal("no reference headers from fedora-messaging")
	}
	refHeaders := ref[0]["headers"].(map[string]any)
	refProps := ref[0]["properties"].(map[string]any)

	// ackmsg-bridge queue declared a quorum queue: fedora-messaging declares it again as one
	// (a declaration without x-queue-type is refused, 406 inequivalent arg).
	consumer := fm.run(t, 60*time.Second, "consume", "--queue", queue, "--bind", key, "--count", "2", "--queue-arg", "x-queue-type=quorum")
	got := fmEvents(t, consumer, "received")
	if len(got) != 2 {
		t.Fatalf("fedora-messaging's consumer received %d messages, want 2", len(got))
	}
	for i, e := range got {
		var want map[string]any
		if err := decodeJSON(onBroker[i], &want); err != nil {
			t.Fatal(err)
		}
		body, _ := e["body"].(map[string]any)
		if !reflect.DeepEqual(body, want) {
			t.Errorf("message %d: fedora-messaging's body\n %v\nis not the envelope the broker holds\n %v", i, body, want)
		}
		if e["class"] != "fedora_messaging.message.Message" || e["id"] != want["msg_id"] || e["topic"] != want["topic"] ||
			e["queue"] != queue || e["summary"] != want["topic"] {
			t.Errorf("message %d: class %v id %v topic %v queue %v summary %v; want the base Message, id %v, topic %v, queue %s",
				i, e["class"], e["id"], e["topic"], e["queue"], e["summary"], want["msg_id"], want["topic"], queue)
		}
		if e["severity"] != json.Number("20") || e["priority"] != json.Number("0") {
			t.Errorf("message %d: severity %v priority %v, want 20 (INFO) and 0", i, e["severity"], e["priority"])
		}
		if e["validate"] != true || e["roundtrip"] != true {
			t.Errorf("message %d: validate() %v %v, dumps/loads round trip %v %v", i, e["validate"], e["validate_error"],
				e["roundtrip"], e["roundtrip_error"])
		}
		headers := e["headers"].(map[string]any)
		for k, rv := range refHeaders {
			if v, ok := headers[k]; !ok || jsonKind(v) != jsonKind(rv) {
				t.Errorf("message %d: header %q = %v (%s); fedora-messaging's own messages have %v (%s)", i, k, v, jsonKind(v), rv, jsonKind(rv))
			}
		}
		if headers["fedora_messaging_schema"] != "base.message" || headers["fedora_messaging_severity"] != json.Number("20") ||
			headers["ackmsg_bridge"] != "bridge" || headers["ackmsg_signer"] != "logger" {
			t.Errorf("message %d: headers %v", i, headers)
		}
		ts, _ := want["timestamp"].(json.Number)
		sec, _ := ts.Int64()
		if sa, _ := headers["sent-at"].(string); !fmSentAt.MatchString(sa) || sa != time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05+00:00") {
			t.Errorf("message %d: sent-at %q, want the envelope's timestamp %v as fedora-messaging writes it (%v)", i, sa, ts, refHeaders["sent-at"])
		}
		props := e["properties"].(map[string]any)
		for _, k := range []string{"content_type", "content_encoding", "delivery_mode"} {
			if props[k] != refProps[k] {
				t.Errorf("message %d: property %s = %v, fedora-messaging's own: %v", i, k, props[k], refProps[k])
			}
		}
		// What fedora-messaging handed its callback is still the signed envelope: it verifies.
		js, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if out, stderr, code := b.Run(20*time.Second, string(js), "ackmsg-certs", "verify", "--dir", b.PKI,
			"--crl", filepath.Join(b.PKI, "crl.pem")); code != 0 || strings.TrimSpace(out) != "ok logger" {
			t.Errorf("message %d: ackmsg-certs verify of fedora-messaging's body: exit %d %q\n%s", i, code, out, stderr)
		}
	}
	if msg, _ := got[0]["body"].(map[string]any)["msg"].(map[string]any); msg["log"] != text {
		t.Errorf("text message: fedora-messaging sees %v", msg)
	}
	if h := fmEvents(t, consumer, "halted"); len(h) != 1 || h[0]["received"] != json.Number("2") {
		t.Errorf("consumer did not halt after 2 messages: %v", h)
	}
	// fedora-messaging acked both (HaltConsumer without requeue acks the last one first).
	if n := settledDepth(t, url, queue); n != 0 {
		t.Errorf("queue %s holds %d messages after fedora-messaging's consumer exited, want 0 (acked)", queue, n)
	}
	t.Logf("fedora-messaging %s consumed %d bridged envelopes as valid base.message messages", fmVersion, len(got))
}

// TestFedoraMessagingPublisherToBus: AMQP → bus. fedora_messaging.api.publish (returns once the
// broker confirmed) puts two messages on the queue the bridge consumes, one whose topic starts
// with topic_prefix and one fedora-style topic; ackmsg-tail --ack receives each with its body
// intact, signed by the bridge. The broker keeps each message until the tail's ACK: with the
// bridge killed -9 before the tail exists, both are back in the queue; after the tail ACKed and
// the bridge stopped, the queue is empty.
func TestFedoraMessagingPublisherToBus(t *testing.T) {
	requireFedoraMessaging(t)
	url := rmqtest.URL(t)
	fm := newFMSide(t, url)
	queue := rmqtest.Name("fm.in")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := NewBus(t, BusOptions{Certs: []string{"bridge", "tail"}, Extra: fmt.Sprintf(`
[bridge]
url = %q
queue = %q
queue_bindings = ["org.example.test.fm.#", "bodhi.update.#"]
recipients = ["tail"]
http_address = %q
`, url, queue, httpAddr)})
	relay := b.Start("ackmsg-relay")
	relay.WaitLog(t, "relay ready")
	br := startBridge(t, b, httpAddr) // ready: the queue is declared and bound

	bodies := map[string]string{
		"org.example.test.fm.build.complete": `{"build": "ackmsg-1.0", "text": "caf\u00e9 \ud83d\ude00", "n": 3, "f": 2.5, "ok": true, "none": null, "nested": {"list": [1, "two", [3]]}}`,
		"bodhi.update.comment":               `{"comment": {"text": "works for me", "karma": 1, "user": {"name": "ackmsg"}}}`,
	}
	args := []string{"publish"}
	for _, topic := range sortedKeys(bodies) {
		args = append(args, topic, bodies[topic])
	}
	pub := fm.run(t, 60*time.Second, args...)
	published := fmEvents(t, pub, "published")
	if len(published) != len(bodies) {
		t.Fatalf("fedora-messaging published %d messages, want %d", len(published), len(bodies))
	}

	// The bridge has them and, with no tail to ACK, holds them unacknowledged; killed, it
	// leaves both in the queue.
	waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_received_total", float64(len(bodies)))
	br.Kill(t)
	if n := settledDepth(t, url, queue); n != len(bodies) {
		t.Fatalf("after kill -9 before any ACK the queue holds %d messages, want %d (not acked to the broker)", n, len(bodies))
	}
	t.Logf("bridge killed before any ACK: the queue holds both fedora-messaging messages again")

	tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--json", "--count", fmt.Sprint(len(bodies)), "--timeout", "60")
	br = startBridge(t, b, httpAddr)
	if code := tail.Wait(t, 70*time.Second); code != 0 {
		t.Fatalf("ackmsg-tail: exit %d\n%s", code, tail.Stderr.String())
	}
	waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_published_total", float64(len(bodies)))
	if code := br.Stop(t); code != 0 {
		t.Fatalf("ackmsg-bridge SIGTERM: exit %d\n%s", code, br.Stderr.String())
	}
	if n := settledDepth(t, url, queue); n != 0 {
		t.Errorf("queue %s holds %d messages after the tail's ACKs, want 0", queue, n)
	}

	lines := Lines(tail.Stdout.String())
	if len(lines) != len(bodies) {
		t.Fatalf("ackmsg-tail printed %d messages, want %d:\n%s", len(lines), len(bodies), tail.Stdout.String())
	}
	byTopic := map[string]map[string]any{}
	for _, l := range lines {
		var env map[string]any
		if err := decodeJSON(l, &env); err != nil {
			t.Fatalf("ackmsg-tail printed %q: %v", l, err)
		}
		byTopic[env["topic"].(string)] = env
		if out, stderr, code := b.Run(20*time.Second, l, "ackmsg-certs", "verify", "--dir", b.PKI,
			"--crl", filepath.Join(b.PKI, "crl.pem")); code != 0 || strings.TrimSpace(out) != "ok bridge" {
			t.Errorf("ackmsg-certs verify of %s: exit %d %q\n%s", env["topic"], code, out, stderr)
		}
	}
	for _, p := range published {
		rk := p["routing_key"].(string)
		busTopic := rk
		if !strings.HasPrefix(rk, "org.example.") {
			busTopic = "org.example.test.amqp." + rk
		}
		env, ok := byTopic[busTopic]
		if !ok {
			t.Errorf("fedora-messaging's %s did not reach the tail as %s (got %v)", rk, busTopic, sortedKeys(byTopic))
			continue
		}
		var want map[string]any
		if err := decodeJSON(bodies[rk], &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(env["msg"], want) || !reflect.DeepEqual(p["body"], want) {
			t.Errorf("%s: body on the bus\n %v\nfedora-messaging published\n %v\n(from %s)", rk, env["msg"], p["body"], bodies[rk])
		}
		// The msg_id derives from fedora-messaging's message_id, in the year of its sent-at.
		id, _ := env["msg_id"].(string)
		sentAt, _ := p["headers"].(map[string]any)["sent-at"].(string)
		if len(sentAt) < 4 || !strings.HasPrefix(id, sentAt[:4]+"-") || id == p["id"] {
			t.Errorf("%s: bus msg_id %q for fedora-messaging's id %v sent at %q", rk, id, p["id"], sentAt)
		}
	}
	t.Logf("ackmsg-tail received and ACKed %d fedora-messaging messages, the broker released them only then", len(bodies))
}
