package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/certs"
)

// Fixed ports: every host is a fresh namespace, so all of them are free.
const (
	hostsInboundPort  = 3001 // relay_inbound, on the relay host
	hostsOutboundPort = 3002 // relay_outbound, on the relay host
	hostsAckPort      = 3003 // sub02.host: sub02 publishes its ACKs from here, on the consumer host
	hostsMetricsPort  = 9100 // the relay's /metrics, on the relay host
)

// hostsBus is a bus spread over a netLab: the relay on the relay host, publishers on the
// publisher host, acking consumers on the consumer host, and whatever the attacker host runs.
// One configuration file serves every host, since every address in it is a host's own.
type hostsBus struct {
	*Bus
	lab *netLab
	sec transportSecurity
}

// securityPlaceholder marks where a hostsBus's configuration gets its security mode's lines.
const securityPlaceholder = "# transport security lines"

// newHostsBus issues the bus's certificates (sub01 and sub02 for the consumers, "logger" for the
// publishers) and writes a configuration whose endpoints are the hosts' addresses, with the
// security mode's lines and extra (more top-level lines) added.
func newHostsBus(t *testing.T, lab *netLab, sec transportSecurity, extra string) *hostsBus {
	t.Helper()
	relay := lab.host(hostRelay).Addr
	b := NewBus(t, BusOptions{
		Certs:    []string{"sub01", "sub02", "relay"},
		Relay:    fmt.Sprintf("tcp://%s:%d", relay, hostsInboundPort),
		Outbound: fmt.Sprintf("tcp://%s:%d", relay, hostsOutboundPort),
		Endpoints: map[string]string{
			"sub02.host": fmt.Sprintf("tcp://%s:%d", lab.host(hostConsumer).Addr, hostsAckPort),
		},
		Extra: fmt.Sprintf("%s\n%s\n[relay]\nhttp_address = \"%s:%d\"\n", securityPlaceholder, extra, relay, hostsMetricsPort),
	})
	// The mode's lines may name the bus's own files (its PKI), known only now.
	conf, err := os.ReadFile(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.Replace(string(conf), securityPlaceholder, sec.BusLines(b), 1))
	if err := os.WriteFile(b.Config, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return &hostsBus{Bus: b, lab: lab, sec: sec}
}

// startRelay starts ackmsg-relay on the relay host and waits until it is ready.
func (hb *hostsBus) startRelay() *Proc {
	hb.t.Helper()
	p := hb.StartIn(hb.lab.host(hostRelay).NS, nil, "ackmsg-relay", "--certname", "relay", "--log-level", "info")
	p.WaitLog(hb.t, "relay ready")
	return p
}

// startConsumer starts an acking ackmsg-tail as name on the consumer host, printing JSON lines
// to ledger (or to its Stdout when nil), and waits until it is connected. sub02 publishes its
// ACKs from its own endpoint; the others through the relay.
func (hb *hostsBus) startConsumer(name string, ledger *os.File) *Proc {
	hb.t.Helper()
	args := []string{"--ack", "--json", "--certname", name, "--topic", "org.example.test.work"}
	if name == "sub02" {
		args = append(args, "--name", "sub02.host")
	}
	ns := hb.lab.host(hostConsumer).NS
	var p *Proc
	if ledger != nil {
		p = hb.start(nil, ledger, []string{"ip", "netns", "exec", ns}, "ackmsg-tail", args...)
	} else {
		p = hb.StartIn(ns, nil, "ackmsg-tail", args...)
	}
	p.WaitLog(hb.t, "endpoint connected")
	return p
}

// publish runs ackmsg-logger on the host of role: one message, acked by recipients within
// timeout seconds. It returns the running process.
func (hb *hostsBus) publish(role, recipients, timeout, message string, args ...string) *Proc {
	hb.t.Helper()
	args = append([]string{"--modname", "work", "--topic", "x", "--message", message, "--log-level", "info"}, args...)
	if recipients != "" {
		args = append(args, "--recipients", recipients, "--ack-timeout", timeout)
	}
	return hb.StartIn(hb.lab.host(role).NS, strings.NewReader(""), "ackmsg-logger", args...)
}

// metrics returns the relay's /metrics text, fetched from inside the relay host.
func (hb *hostsBus) metrics() string {
	hb.t.Helper()
	body, err := hb.lab.HTTPGet(hostRelay, fmt.Sprintf("%s:%d", hb.lab.host(hostRelay).Addr, hostsMetricsPort), "/metrics")
	if err != nil {
		hb.t.Fatalf("relay /metrics: %v", err)
	}
	return body
}

// overlay writes a configuration directory for a process that is not one of the bus's own: the
// bus's file, then lines that override it. Processes use it with --config.
func (hb *hostsBus) overlay(name, lines string) string {
	hb.t.Helper()
	dir := filepath.Join(hb.Dir, "conf-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		hb.t.Fatal(err)
	}
	conf, err := os.ReadFile(hb.Config)
	if err != nil {
		hb.t.Fatal(err)
	}
	for file, data := range map[string]string{"10-bus.toml": string(conf), "20-" + name + ".toml": lines} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			hb.t.Fatal(err)
		}
	}
	return dir
}

// waitFor polls cond every 20 ms until it holds or d passes; it reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(20 * time.Millisecond): // polling output buffers
		}
	}
	return true
}

// marker returns a string that appears nowhere but in the message that carries it.
func marker(what string) string {
	return fmt.Sprintf("MARKER-%s-%d-%d", what, os.Getpid(), time.Now().UnixNano())
}

// TestHostsPlaintext is the "before" picture across four hosts, transport security off: an acked
// publish crosses from the publisher host through the relay host to acking consumers on the
// consumer host (one ACKing through the relay, one from its own endpoint); the capture of the
// switch holds the message and its ACKs in clear text (proving the capture works), and an
// attacker host with no certificate of the bus reads the bus and publishes into it.
func TestHostsPlaintext(t *testing.T) {
	testHostsLink(t, noSecurity{})
}

// TestHostsCurveLink is the same with transport_security = "curve": the publish and its ACKs
// still work, the capture holds no plaintext, and no attacker reads or publishes anything.
func TestHostsCurveLink(t *testing.T) {
	testHostsLink(t, requireSecurity(t, curveSecurity{}))
}

// attacker is an identity the attacker host uses: its configuration overlay, made for a bus.
type attacker struct {
	name  string
	lines func(hb *hostsBus) string
}

// attackers are the identities that must get nowhere on a bus with an Enforced mode: a client
// without a key (a stock client that does not speak the mode), one with a key and certificate
// of another CA (to the relay, the same as a key bound to no certificate), and one whose
// certificate of the bus's CA is revoked.
var attackers = []attacker{
	{"no key", func(hb *hostsBus) string { return hb.sec.PlaintextLines() }},
	{"key of another CA", func(hb *hostsBus) string {
		pki := filepath.Join(hb.t.TempDir(), "pki")
		if _, err := certs.InitCA(pki, certs.PKIOptions{Bits: 1024}); err != nil {
			hb.t.Fatal(err)
		}
		// The same name as a consumer of the bus: a name alone proves nothing.
		if _, err := certs.Issue(pki, "sub01", certs.PKIOptions{Bits: 1024}); err != nil {
			hb.t.Fatal(err)
		}
		return hb.sec.IdentityLines(hb.Bus, pki, "sub01")
	}},
	{"revoked certificate", func(hb *hostsBus) string {
		if _, err := certs.Issue(hb.PKI, "mallory", certs.PKIOptions{Bits: 1024}); err != nil {
			hb.t.Fatal(err)
		}
		if _, err := certs.Revoke(hb.PKI, "mallory", certs.PKIOptions{Bits: 1024}); err != nil {
			hb.t.Fatal(err)
		}
		return hb.sec.IdentityLines(hb.Bus, hb.PKI, "mallory")
	}},
}

// testHostsLink runs an acked publish across the hosts with a capture of the switch's ports,
// then lets each attacker try to read the bus and to publish into the relay. With an Enforced
// mode nothing of either reaches anyone; without, everything does (the before picture).
func testHostsLink(t *testing.T, sec transportSecurity) {
	lab := newNetLab(t)
	hb := newHostsBus(t, lab, sec, "")
	// The attackers' material exists before the relay starts (the revoked certificate is in the
	// CRL it loads).
	confs := make([]string, len(attackers))
	for i, a := range attackers {
		confs[i] = hb.overlay(strings.ReplaceAll(a.name, " ", "-"), "sign_messages = false\nvalidate_signatures = false\n"+a.lines(hb)+"\n")
	}
	capture := lab.CaptureSwitch()
	relay := hb.startRelay()
	sub01 := hb.startConsumer("sub01", nil)
	sub02 := hb.startConsumer("sub02", nil)
	// A consumer host process with a valid identity that prints everything, unverified: what an
	// attacker managed to publish would show here.
	observer := hb.StartIn(lab.host(hostConsumer).NS, nil, "ackmsg-tail", "--json", "--no-validate", "--certname", "sub02", "--topic", "org.example")
	observer.WaitLog(t, "endpoint connected")

	secret := marker("secret")
	p := hb.publish(hostPub, "sub01,sub02", "15", secret)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("acked publish across the hosts (%s): exit %d\n%s", sec.Name(), code, p.Stderr.String())
	}
	for _, s := range []*Proc{sub01, sub02, observer} {
		if !strings.Contains(s.Stdout.String(), secret) {
			t.Fatalf("%s on the consumer host did not print the message:\n%s", s.Name, s.Stdout.String())
		}
	}
	msgID := ""
	if m := regexp.MustCompile(`msg_id=(\S+)`).FindStringSubmatch(p.Stderr.String()); m != nil {
		msgID = m[1]
	} else {
		t.Fatalf("the logger did not log the msg_id:\n%s", p.Stderr.String())
	}
	capture.Stop()
	t.Logf("%s: capture of the switch: %s, %d bytes of TCP payload", sec.Name(), capture.Summary(), capture.TCPBytes())
	if !capture.Complete() {
		t.Fatalf("the capture is incomplete (%s): it proves nothing", capture.Summary())
	}
	// The message crossed the link twice (in, and out to three subscribers): whatever the mode,
	// the capture holds at least that many bytes.
	if n := capture.TCPBytes(); n < 4*len(secret) {
		t.Fatalf("the capture holds %d bytes of TCP payload: it did not see the traffic", n)
	}
	// The ACK names the message it acknowledges: sub01's crosses the relay host, sub02's goes
	// straight to the publisher host.
	inClear := capture.Contains(secret) || capture.Contains(`"ack_msg_id":"`+msgID+`"`)
	switch {
	case sec.Enforced() && inClear:
		t.Errorf("%s: the message or an ACK crossed the network in plaintext", sec.Name())
	case !sec.Enforced() && !capture.Contains(secret):
		t.Errorf("%s: the capture does not hold the plaintext message: the capture is broken", sec.Name())
	case !sec.Enforced() && !capture.Contains(`"ack_msg_id":"`+msgID+`"`):
		t.Errorf("%s: the capture does not hold the ACKs of %s in plaintext", sec.Name(), msgID)
	}

	for i, a := range attackers {
		hostsAttack(t, hb, a.name, confs[i], relay, observer)
	}
}

// hostsAttack has the attacker who (configured by the directory conf) read the bus while a
// valid publish crosses it, then publish into the relay; observer is a consumer host process that
// prints everything it gets.
func hostsAttack(t *testing.T, hb *hostsBus, who, conf string, relay, observer *Proc) {
	t.Logf("%s: attacker with %s", hb.sec.Name(), who)
	sec := hb.sec
	ns := hb.lab.host(hostAttacker).NS
	refusedBefore := sec.Refusals(relay.Stderr.String(), hb.metrics())

	eaves := hb.StartIn(ns, nil, "ackmsg-tail", "--config", conf, "--json", "--no-validate", "--topic", "org.example")
	// Proof that it reached the relay: connected in clear; with the mode on, a connection event
	// for the relay's endpoint (the TCP connection came up, the handshake went nowhere) or a
	// refusal the relay reported.
	refused := func() bool { return sec.Refusals(relay.Stderr.String(), hb.metrics()) > refusedBefore }
	tried := func() bool {
		if sec.Enforced() {
			return strings.Contains(eaves.Stderr.String(), "endpoint=relay_outbound") || refused()
		}
		return strings.Contains(eaves.Stderr.String(), "endpoint connected")
	}
	if !waitFor(20*time.Second, tried) {
		t.Fatalf("%s: the attacker's subscriber never reached the relay\nattacker:\n%s\nrelay:\n%s",
			sec.Name(), eaves.Stderr.String(), relay.Stderr.String())
	}
	// Logged and counted: bounded by the relay's refusal log rate (one line a second per reason).
	if sec.Enforced() && !waitFor(5*time.Second, refused) {
		t.Errorf("%s: the relay did not log or count the attacker's (%s) refused subscriber\nrelay:\n%s", sec.Name(), who, relay.Stderr.String())
	}
	secret := marker("read")
	p := hb.publish(hostPub, "sub01", "15", secret)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("acked publish with an attacker around: exit %d\n%s", code, p.Stderr.String())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(observer.Stdout.String(), secret) }) {
		t.Fatalf("the observer did not get the valid message")
	}
	read := func() bool { return strings.Contains(eaves.Stdout.String(), secret) }
	if sec.Enforced() {
		if read() {
			t.Errorf("%s: the attacker (%s) read a message of the bus", sec.Name(), who)
		}
	} else if !waitFor(10*time.Second, read) {
		t.Errorf("%s: the attacker (%s) did not read the bus in plaintext: the check is broken\n%s", sec.Name(), who, eaves.Stderr.String())
	}

	// The eavesdropper keeps knocking (and being refused) while it runs: stopped, so that what
	// the relay refuses next is the attacker's publisher.
	eaves.Stop(t)
	forged := marker("forged")
	refusedBefore = sec.Refusals(relay.Stderr.String(), hb.metrics())
	f := hb.StartIn(ns, strings.NewReader(""), "ackmsg-logger", "--config", conf, "--modname", "work", "--topic", "x", "--message", forged, "--log-level", "info")
	code := f.Wait(t, 30*time.Second)
	// A valid message after it: once it arrived, the forged one would have too.
	after := marker("after")
	if p := hb.publish(hostPub, "sub01", "15", after); p.Wait(t, 30*time.Second) != 0 {
		t.Fatalf("acked publish after the attacker's: %s", p.Stderr.String())
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(observer.Stdout.String(), after) }) {
		t.Fatalf("the observer did not get the valid message")
	}
	published := strings.Contains(observer.Stdout.String(), forged)
	if sec.Enforced() {
		if published || code == 0 {
			t.Errorf("%s: the attacker (%s) published into the relay (exit %d, delivered %t)\n%s", sec.Name(), who, code, published, f.Stderr.String())
		}
		if n := sec.Refusals(relay.Stderr.String(), hb.metrics()); n <= refusedBefore {
			t.Errorf("%s: the relay did not log or count the attacker's refused publisher (%d refusals before, %d after)", sec.Name(), refusedBefore, n)
		}
	} else if code != 0 || !published {
		t.Errorf("%s: the attacker (%s) could not publish in plaintext (exit %d): the check is broken\n%s", sec.Name(), who, code, f.Stderr.String())
	}
}
