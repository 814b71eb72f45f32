package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/rmqtest"
	"github.com/ackmsg/ackmsg/internal/testbus"
)

// TestFedoraMessagingOverTLS: the production setup of issue 29 with the real Python
// fedora-messaging on the other side. A RabbitMQ node takes only AMQPS with client
// certificates (verify_peer, the bus CA, its CRL) and the EXTERNAL mechanism; the bridge logs in
// with its bus certificate as user "bridge", fedora-messaging with its own ("fedora"), as
// Fedora's consumers do ([tls] ca_cert, certfile, keyfile). Bus → AMQP: ackmsg-bridge queue
// declares a quorum queue; acked publishes naming bridge (exit 0: confirmed) land there, and
// fedora_messaging.api.consume, declaring it again as a quorum queue (an equivalence check
// RabbitMQ fails for any other type), receives every one as a valid base.message: id the msg_id,
// the body the signed envelope (still verified as signed by logger), fedora-messaging's headers.
// AMQP → bus: fedora_messaging.api.publish over TLS onto the bridge's own quorum queue; with no
// recipient up, the bridge requeues (never acks) them; ackmsg-tail --ack then receives them,
// signed by the bridge with severity and sent_at carried, and only then is the queue empty.
func TestFedoraMessagingOverTLS(t *testing.T) {
	requireFedoraMessaging(t)
	b := NewBus(t, BusOptions{Certs: []string{"bridge", "fedora", "tail"}, Bits: 2048, Extra: "# BRIDGE"})
	pem := func(name string) string { return filepath.Join(b.PKI, name) }
	// The broker's certificate from the bus CA, as docs/bridge.md says: without the CURVE key's
	// URI, on which the hostname check of Twisted's service_identity 18.1 (Debian bookworm;
	// fedora-messaging's consumer and publisher go through it) raises ValueError
	// (pyca/service-identity#38: a URI with more than one colon).
	if stdout, stderr, code := b.Run(20*time.Second, "", "ackmsg-certs", "issue", "--dir", b.PKI, "--bits", "2048",
		"--host", "localhost", "--no-curve", "broker"); code != 0 {
		t.Fatalf("ackmsg-certs issue --no-curve: exit %d\n%s%s", code, stdout, stderr)
	}
	node := rmqtest.NewTLSNode(t, rmqtest.TLS{CAFile: pem("ca.crt"), CRLFile: pem("crl.pem"),
		CertFile: pem("broker.crt"), KeyFile: pem("broker.key"), Users: []string{"bridge", "fedora"}})
	tlsURL := node.TLSURL("localhost")
	out, in := rmqtest.Name("fm.tls.out"), rmqtest.Name("fm.tls.in")
	const outKey, inKey = "org.example.test.logger.#", "org.example.test.fm.#"
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	conf, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	bridgeConf := fmt.Sprintf(`[bridge]
urls = [%q]
login = "external"
topics = [%q]
queue = %q
queue_bindings = [%q]
recipients = ["tail"]
publish_timeout = 2
http_address = %q
`, tlsURL, outKey, in, inKey, httpAddr)
	// [bridge] goes last: the harness's later tables would otherwise end it.
	conf = []byte(strings.Replace(string(conf), "# BRIDGE", "", 1) + bridgeConf)
	if err := os.WriteFile(b.Config, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	fm := newFMSide(t, tlsURL, fmt.Sprintf("[tls]\nca_cert = %q\ncertfile = %q\nkeyfile = %q\n",
		pem("ca.crt"), pem("fedora.crt"), pem("fedora.key")))

	if _, stderr, code := b.Run(30*time.Second, "", "ackmsg-bridge", "queue", out, "--bind", outKey, "--certname", "bridge"); code != 0 {
		t.Fatalf("ackmsg-bridge queue over TLS: exit %d\n%s", code, stderr)
	}
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	br := startBridge(t, b, httpAddr)
	node1 := strings.TrimSuffix(strings.TrimPrefix(tlsURL, "amqps://"), "/")
	if code, body := httpGet(t, "http://"+httpAddr+"/ready"); code != 200 || body != fmt.Sprintf("ready: bus → AMQP: connected to %s, 0 failovers; "+
		"AMQP → bus: connected to %s, 0 failovers\n", node1, node1) {
		t.Errorf("/ready: %d %q, want 200 naming the node of each direction", code, body)
	}

	t.Run("bus to fedora-messaging", func(t *testing.T) {
		lines := []string{"tls 0", "tls 1 caf\u00e9", "tls 2 \U0001F600", "tls 3", "tls 4"}
		if _, stderr, code := b.Run(60*time.Second, strings.Join(lines, "\n")+"\n", "ackmsg-logger", "--recipients", "bridge",
			"--ack-timeout", "20", "--topic", "fm.tls"); code != 0 {
			t.Fatalf("acked publishes to bridge: exit %d\n%s", code, stderr)
		}
		// The declaration checks the type: as a classic queue it is refused.
		classic := fm.start(t, 30*time.Second, "consume", "--queue", out, "--bind", outKey, "--queue-arg", "x-queue-type=classic")
		if code := classic.Wait(t, 45*time.Second); code == 0 || !strings.Contains(classic.Stderr.String(), "inequivalent arg 'x-queue-type'") {
			t.Fatalf("fedora-messaging declaring %s as a classic queue: exit %d, want a refusal naming x-queue-type\n%s", out, code, classic.Stderr.String())
		}
		consumer := fm.run(t, 60*time.Second, "consume", "--queue", out, "--bind", outKey, "--count", fmt.Sprint(len(lines)),
			"--queue-arg", "x-queue-type=quorum")
		if !strings.Contains(consumer.Stderr.String(), "Authenticating with server using x509") {
			t.Errorf("fedora-messaging did not log in with its certificate (EXTERNAL):\n%s", consumer.Stderr.String())
		}
		got := fmEvents(t, consumer, "received")
		seen := map[string]bool{}
		for i, e := range got {
			body, _ := e["body"].(map[string]any)
			msg, _ := body["msg"].(map[string]any)
			text, _ := msg["log"].(string)
			seen[text] = true
			headers, _ := e["headers"].(map[string]any)
			if e["class"] != "fedora_messaging.message.Message" || e["id"] != body["msg_id"] || e["topic"] != body["topic"] ||
				e["topic"] != "org.example.test.logger.fm.tls" || e["validate"] != true || e["roundtrip"] != true {
				t.Errorf("message %d: %v", i, e)
			}
			if headers["fedora_messaging_schema"] != "base.message" || headers["fedora_messaging_severity"] != json.Number("20") ||
				!fmSentAt.MatchString(fmt.Sprint(headers["sent-at"])) || headers["ackmsg_bridge"] != "bridge" || headers["ackmsg_signer"] != "logger" {
				t.Errorf("message %d: headers %v", i, headers)
			}
			js, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			if out, stderr, code := b.Run(20*time.Second, string(js), "ackmsg-certs", "verify", "--dir", b.PKI,
				"--crl", pem("crl.pem")); code != 0 || strings.TrimSpace(out) != "ok logger" {
				t.Errorf("message %d: ackmsg-certs verify of fedora-messaging's body: exit %d %q\n%s", i, code, out, stderr)
			}
		}
		for _, l := range lines {
			if !seen[l] {
				t.Errorf("acked %q did not reach fedora-messaging (got %d messages)", l, len(got))
			}
		}
		if len(got) != len(lines) {
			t.Errorf("fedora-messaging received %d messages, want %d", len(got), len(lines))
		}
		if n := settledDepth(t, node.URL(), out); n != 0 {
			t.Errorf("quorum queue %s holds %d messages after fedora-messaging acked them, want 0", out, n)
		}
		t.Logf("fedora-messaging %s, logged in by EXTERNAL as fedora over TLS, consumed %d bridged messages from quorum queue %s",
			fmVersion, len(got), out)
	})

	t.Run("fedora-messaging to bus", func(t *testing.T) {
		bodies := map[string]string{
			"org.example.test.fm.build.complete": `{"build": "ackmsg-1.0", "text": "caf\u00e9", "n": 3}`,
			"org.example.test.fm.update.comment": `{"comment": {"text": "works for me", "karma": 1}}`,
		}
		args := []string{"publish"}
		for _, topic := range sortedKeys(bodies) {
			args = append(args, topic, bodies[topic])
		}
		pub := fm.run(t, 60*time.Second, args...)
		if !strings.Contains(pub.Stderr.String(), "Authenticating with server using x509") {
			t.Errorf("fedora-messaging did not log in with its certificate (EXTERNAL):\n%s", pub.Stderr.String())
		}
		published := fmEvents(t, pub, "published")
		if len(published) != len(bodies) {
			t.Fatalf("fedora-messaging published %d messages over TLS, want %d", len(published), len(bodies))
		}
		// No tail yet: every attempt times out unACKed and the bridge requeues, never acks.
		waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_requeued_total", float64(len(bodies)))
		tail := b.Start("ackmsg-tail", "--ack", "--certname", "tail", "--json", "--count", fmt.Sprint(len(bodies)), "--timeout", "60")
		if code := tail.Wait(t, 70*time.Second); code != 0 {
			t.Fatalf("ackmsg-tail: exit %d\n%s", code, tail.Stderr.String())
		}
		waitMetric(t, httpAddr, "ackmsg_bridge_from_amqp_published_total", float64(len(bodies)))
		if code := br.Stop(t); code != 0 {
			t.Fatalf("ackmsg-bridge SIGTERM: exit %d\n%s", code, br.Stderr.String())
		}
		if n := settledDepth(t, node.URL(), in); n != 0 {
			t.Errorf("queue %s holds %d messages after the tail's ACKs, want 0", in, n)
		}
		byTopic := map[string]map[string]any{}
		for _, l := range Lines(tail.Stdout.String()) {
			var env map[string]any
			if err := decodeJSON(l, &env); err != nil {
				t.Fatalf("ackmsg-tail printed %q: %v", l, err)
			}
			byTopic[fmt.Sprint(env["topic"])] = env
		}
		for _, p := range published {
			rk := p["routing_key"].(string)
			env := byTopic[rk]
			var want map[string]any
			if err := decodeJSON(bodies[rk], &want); err != nil {
				t.Fatal(err)
			}
			headers, _ := p["headers"].(map[string]any)
			if env == nil || !reflect.DeepEqual(env["msg"], want) || env["severity"] != json.Number("20") ||
				env["sent_at"] != headers["sent-at"] {
				t.Errorf("%s: on the bus %v; fedora-messaging published %v with headers %v", rk, env, want, headers)
			}
		}
		t.Logf("fedora-messaging published %d messages over TLS; the bridge acked them to the broker only after ackmsg-tail's ACKs",
			len(published))
	})
}
