package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
)

// ackmsg-gateway as a real process between the bus (a relay) and an outside ackmsg-tail that
// knows only the gateway's address: with --topic it re-publishes the matching topic alone, the
// messages arrive signed as they were published (the tail validates them), /ready and /metrics
// answer, and SIGTERM exits 0 with the count.
func TestGatewayProcess(t *testing.T) {
	b := NewBus(t, BusOptions{})
	b.Start("ackmsg-relay").WaitLog(t, "relay ready")
	gwAddr, httpAddr := testbus.Addr(t), strings.TrimPrefix(testbus.Addr(t), "tcp://")
	gw := b.Start("ackmsg-gateway", "--log-level", "info", "--bind", gwAddr, "--hwm", "100",
		"--topic", "org.example.test.logger.keep", "--http-address", httpAddr)
	gw.WaitLog(t, "gateway ready")

	// The outside subscriber's configuration names the gateway alone.
	outside := filepath.Join(b.Dir, "outside.toml")
	conf := fmt.Sprintf("validate_signatures = true\nca_cert_location = %q\ncrl_location = %q\n\n[endpoints]\ngateway = [%q]\n",
		filepath.Join(b.PKI, "ca.crt"), filepath.Join(b.PKI, "crl.pem"), gwAddr)
	if err := os.WriteFile(outside, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := b.Start("ackmsg-tail", "--config", outside, "--log-level", "info", "--json", "--validate")
	tail.WaitLog(t, "endpoint connected")

	// The gateway's subscription to the relay and the tail's to the gateway travel
	// asynchronously: publish until the kept topic comes through, the other topic first.
	for n := 1; !strings.Contains(tail.Stdout.String(), `"kept"`); n++ {
		for _, topic := range []string{"skip", "keep"} {
			if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-logger", "--topic", topic, "--message", map[string]string{"skip": "skipped", "keep": "kept"}[topic]); code != 0 {
				t.Fatalf("ackmsg-logger: exit %d\n%s", code, stderr)
			}
		}
		if n == 100 {
			t.Fatalf("nothing came through the gateway\ngateway:\n%s\ntail:\n%s", gw.Stderr.String(), tail.Stderr.String())
		}
	}
	if out := tail.Stdout.String(); strings.Contains(out, "skipped") || !strings.Contains(out, `"topic":"org.example.test.logger.keep"`) {
		t.Fatalf("the outside tail printed:\n%s", out)
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/ready"); code != 200 {
		t.Fatalf("/ready: %d %s", code, body)
	}
	_, metrics := httpGet(t, "http://"+httpAddr+"/metrics")
	if !strings.Contains(metrics, "ackmsg_gateway_messages_forwarded_total ") || strings.Contains(metrics, "ackmsg_gateway_messages_forwarded_total 0\n") {
		t.Fatalf("/metrics does not count the forwarded messages:\n%s", metrics)
	}
	if code := tail.Stop(t); code != 0 {
		t.Fatalf("tail exit %d", code)
	}
	if code := gw.Stop(t); code != 0 {
		t.Fatalf("gateway exit %d after SIGTERM\n%s", code, gw.Stderr.String())
	}
	if !strings.Contains(gw.Stderr.String(), "gateway stopping") {
		t.Errorf("the gateway does not report its count:\n%s", gw.Stderr.String())
	}
}

// Exit codes: no bus endpoint is a runtime error (1), a bad flag value bad usage (2).
func TestGatewayExitCodes(t *testing.T) {
	b := NewBus(t, BusOptions{})
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-gateway", "--hwm", "-1"); code != 2 || !strings.Contains(stderr, "gateway.hwm") {
		t.Errorf("--hwm -1: exit %d, want 2\n%s", code, stderr)
	}
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-gateway", "--topic", "org..x"); code != 2 || !strings.Contains(stderr, "gateway.topics[0]") {
		t.Errorf("--topic org..x: exit %d, want 2\n%s", code, stderr)
	}
	busy := testbus.Addr(t)
	dialBusy := b.Start("ackmsg-gateway", "--bind", busy)
	dialBusy.WaitLog(t, "gateway ready")
	if _, stderr, code := b.Run(20*time.Second, "", "ackmsg-gateway", "--bind", busy); code != 1 || !strings.Contains(stderr, "gateway.bind") {
		t.Errorf("--bind on a bound port: exit %d, want 1\n%s", code, stderr)
	}
	if code := dialBusy.Stop(t); code != 0 {
		t.Errorf("gateway exit %d after SIGTERM", code)
	}
}
