package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ackmsg/ackmsg/internal/testbus"
	"github.com/ackmsg/ackmsg/internal/zsock"
)

// ackmsg-relay serves /live, /ready and /metrics like the other daemons (relay.http_address):
// ready once its sockets are bound, counting what it forwards and what it drops; the endpoint
// is gone after SIGTERM. A taken port and a bad --http-address fail at start.
func TestRelayHTTPEndpoint(t *testing.T) {
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testbus.FreePort(t))
	b := NewBus(t, BusOptions{Extra: fmt.Sprintf("max_frame_size = 65536\n[relay]\nhttp_address = %q\n", httpAddr)})
	relay, tail := startRelayAndTail(t, b, "--json", "--count", "2", "--timeout", "20")
	base := "http://" + httpAddr
	// "relay ready" is logged once the sockets are bound and the endpoint listens.
	if code, body := httpGet(t, base+"/live"); code != 200 || body != "ok\n" {
		t.Errorf("/live: %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready: %d %q", code, body)
	}
	if !strings.Contains(relay.Stderr.String(), "http endpoint ready") {
		t.Errorf("the relay did not log its endpoint:\n%s", relay.Stderr.String())
	}

	// Two messages forwarded, two dropped (a three-frame message, an oversize frame).
	zctx, err := zsock.NewContext(1)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zsock.NewPub(zctx, zsock.PubConfig{Connect: b.Relay})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { raw.Close(); zctx.Term() }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := raw.WaitSubscribed(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, g := range [][][]byte{
		{[]byte("a"), []byte("b"), []byte("c")},
		{[]byte("org.example.test.x"), []byte(strings.Repeat("A", 70000))},
	} {
		if err := raw.Send(g...); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := b.Run(20*time.Second, "a\nb\n", "ackmsg-logger"); code != 0 {
		t.Fatalf("logger exit %d: %s", code, stderr)
	}
	if code := tail.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("tail exit %d", code)
	}
	want := []string{
		"ackmsg_relay_messages_forwarded_total 2\n",
		`ackmsg_relay_messages_dropped_total{reason="frames"} 1` + "\n",
		`ackmsg_relay_messages_dropped_total{reason="oversize"} 1` + "\n",
		"ackmsg_relay_ready 1\n",
		"go_goroutines ",
	}
	// The tail has both messages, but the relay counts a message after its send returned:
	// poll until the counters say so.
	var metrics string
	for deadline := time.Now().Add(20 * time.Second); ; {
		var code int
		code, metrics = httpGet(t, base+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d\n%s", code, metrics)
		}
		missing := 0
		for _, w := range want {
			if !strings.Contains(metrics, w) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks some of %q:\n%s", want, metrics)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's counters
	}

	if code := relay.Stop(t); code != 0 {
		t.Fatalf("relay exit %d after SIGTERM:\n%s", code, relay.Stderr.String())
	}
	http.DefaultClient.CloseIdleConnections()
	if resp, err := http.Get(base + "/live"); err == nil {
		resp.Body.Close()
		t.Error("the relay's endpoint still answers after it exited")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--http-address", busy.Addr().String()}, 1, "relay.http_address: listen tcp " + busy.Addr().String()},
		{[]string{"--http-address", "nope"}, 2, "--http-address: "},
	} {
		_, stderr, code := b.Run(20*time.Second, "", "ackmsg-relay", c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("ackmsg-relay %q: exit %d, want %d with %q\n%s", c.args, code, c.code, c.want, stderr)
		}
	}
}
