package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ShutdownTimeout bounds how long [Server.Close] waits for requests in progress.
const ShutdownTimeout = 3 * time.Second

// readHeaderTimeout bounds a client that opens a connection and sends nothing.
const readHeaderTimeout = 10 * time.Second

// Config is what a [Server] serves.
type Config struct {
	// Addr is the host:port to listen on; port 0 picks a free one (see [Server.Addr]).
	Addr string
	// Ready reports whether the daemon is ready: nil, or why not (the text of the 503). ctx is
	// the request's. Nil means always ready.
	Ready func(ctx context.Context) error
	// ReadyDetail, when set, is added to the 200 body of /ready ("ready: <detail>"): what the
	// daemon is ready with (the bridge names the broker node of each direction). Default: the
	// body is "ready".
	ReadyDetail func(ctx context.Context) string
	// Gatherer is what /metrics exposes. Nil serves an empty exposition.
	Gatherer prometheus.Gatherer
	// Registerer, when set, receives promhttp_metric_handler_errors_total, the count of failed
	// scrapes. Default: not counted.
	Registerer prometheus.Registerer
	// Live is the body of /live, without the newline. Default "ok".
	Live string
	// Routes are served beside the three paths: pattern (as http.ServeMux takes it) → handler.
	// ackmsg-archive serves its API (and, later, its web view) from the same server.
	Routes map[string]http.Handler
	// Logger receives the HTTP server's and the metrics handler's errors, at level warn.
	// Default slog.Default().
	Logger *slog.Logger
}

// Server is a running endpoint.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error

	closeOnce sync.Once
	closeErr  error
}

// Start listens on cfg.Addr and serves in the background until [Server.Close].
func Start(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	live := cfg.Live
	if live == "" {
		live = "ok"
	}
	gatherer := cfg.Gatherer
	if gatherer == nil {
		gatherer = prometheus.NewRegistry()
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, live)
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if cfg.ReadyDetail != nil {
			if d := cfg.ReadyDetail(r.Context()); d != "" {
				fmt.Fprintln(w, "ready: "+d)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog: errLog, Registry: cfg.Registerer}))

	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, h)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: errLog}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, lets requests in progress finish (at most [ShutdownTimeout], then
// closes their connections) and waits for the serving goroutine. It returns the first error
// among the shutdown's and the server's; later calls return the same.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if err != nil {
			s.srv.Close() // the timeout passed: end the connections still open
		}
		if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		s.closeErr = err
	})
	return s.closeErr
}
