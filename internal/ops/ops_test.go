package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The three paths answer as the package doc says, over real HTTP on loopback.
func TestEndpoints(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	reg := prometheus.NewRegistry()
	forwarded := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_forwarded_total", Help: "Forwarded."})
	forwarded.Add(3)
	reg.MustRegister(forwarded)
	var notReady error = errors.New("not connected")
	detail := ""
	s, err := Start(Config{Addr: "127.0.0.1:0", Gatherer: reg, Registerer: reg, Live: "live",
		Ready: func(context.Context) error { return notReady }, ReadyDetail: func(context.Context) string { return detail }})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()

	for _, c := range []struct {
		method, path string
		code         int
		body         string // a substring
	}{
		{"GET", "/live", 200, "live\n"},
		{"HEAD", "/live", 200, ""},
		{"GET", "/ready", 503, "not connected\n"},
		{"GET", "/metrics", 200, "test_forwarded_total 3\n"},
		{"GET", "/metrics", 200, "promhttp_metric_handler_errors_total{cause=\"encoding\"} 0\n"},
		{"POST", "/live", 405, ""},
		{"GET", "/other", 404, ""},
	} {
		if code, body := get(t, c.method, base+c.path); code != c.code || !strings.Contains(body, c.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", c.method, c.path, code, body, c.code, c.body)
		}
	}
	notReady = nil
	if code, body := get(t, "GET", base+"/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready when ready: %d %q", code, body)
	}
	detail = "connected to node1"
	if code, body := get(t, "GET", base+"/ready"); code != 200 || body != "ready: connected to node1\n" {
		t.Errorf("/ready when ready, with a detail: %d %q", code, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := http.Get(base + "/live"); err == nil {
		t.Error("still answering after Close")
	}
}

// Defaults: no Ready, no Gatherer, no Live, no Logger.
func TestDefaults(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	s, err := Start(Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr().String()
	for path, want := range map[string]string{"/live": "ok\n", "/ready": "ready\n", "/metrics": ""} {
		if code, body := get(t, "GET", base+path); code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", path, code, body, want)
		}
	}
}

// Routes are served beside /live, /ready and /metrics.
func TestRoutes(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	s, err := Start(Config{Addr: "127.0.0.1:0", Routes: map[string]http.Handler{
		"GET /raw": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "raw") })}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr().String()
	for path, want := range map[string]string{"/raw": "raw", "/live": "ok\n"} {
		if code, body := get(t, "GET", base+path); code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", path, code, body, want)
		}
	}
}

// A taken port fails at Start, with the listener's error.
func TestPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if s, err := Start(Config{Addr: ln.Addr().String()}); err == nil {
		s.Close()
		t.Fatal("Start on a taken port succeeded")
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say why", err)
	}
}

// Close lets a request in progress finish, and returns after it.
func TestCloseWaitsForRequests(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	entered, release := make(chan struct{}), make(chan struct{})
	s, err := Start(Config{Addr: "127.0.0.1:0", Ready: func(context.Context) error {
		close(entered)
		<-release
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr().String() + "/ready")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in progress", err)
	case <-time.After(100 * time.Millisecond): // Close must still be waiting; not a readiness wait
	}
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if code := <-got; code != 200 {
		t.Errorf("the request in progress got %d, want 200", code)
	}
}

// A request that never ends does not hold Close beyond ShutdownTimeout.
func TestCloseIsBounded(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	entered := make(chan struct{})
	s, err := Start(Config{Addr: "127.0.0.1:0", Ready: func(ctx context.Context) error {
		close(entered)
		<-ctx.Done() // ends when Close gives up and closes the connection
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.Get("http://" + s.Addr().String() + "/ready"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	start := time.Now()
	if err := s.Close(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want the deadline", err)
	}
	if took := time.Since(start); took < ShutdownTimeout || took > ShutdownTimeout+2*time.Second {
		t.Errorf("Close took %v, want about %v", took, ShutdownTimeout)
	}
	<-done
}
