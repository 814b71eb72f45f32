// Package outboxctl lets short-lived commands (ackmsg-logger --outbox, ackmsg-outbox list, retry,
// ...) use an embedded outbox store while ackmsg-outbox serve holds it: the file store admits one
// process, so the deliverer answers on a unix socket next to the file (the queue manager owns
// the queue, as an MTA's does), and when no deliverer runs the commands open the file
// themselves. A PostgreSQL store needs none of this: every process opens it, and several
// deliverers may serve it.
package outboxctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ackmsg/ackmsg/config"
	"github.com/ackmsg/ackmsg/outbox"
	"github.com/ackmsg/ackmsg/outbox/boltstore"
	"github.com/ackmsg/ackmsg/outbox/pgstore"
)

// SocketPath is where the deliverer of the store file at path answers.
func SocketPath(path string) string { return path + ".sock" }

// Open returns the configured store: PostgreSQL when store is a postgres:// URL; else over the
// deliverer's socket when one serves the file, else the file itself. The caller closes it.
func Open(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	for try := 0; ; try++ {
		if r, err := Dial(ctx, cfg.Store); err == nil {
			return r, nil
		}
		s, err := boltstore.Open(cfg.Store, boltstore.Options{LockTimeout: 2 * time.Second})
		if errors.Is(err, boltstore.ErrLocked) && try == 0 {
			continue // a deliverer started meanwhile: ask it
		}
		return s, err
	}
}

var errNoStore = errors.New("no outbox store configured: set store in the [outbox] table of the configuration (a file path, or a postgres:// URL)")

func openPostgres(ctx context.Context, dsn string) (outbox.Store, error) {
	s, err := pgstore.Open(ctx, dsn, pgstore.Options{}) // bounded, and its errors name the URL (password masked)
	if err != nil {
		return nil, fmt.Errorf("outbox store: %w", err)
	}
	return s, nil
}

// OpenLocal opens the store for a deliverer: the file itself (which it then serves on the
// socket), or PostgreSQL.
func OpenLocal(ctx context.Context, cfg *config.OutboxConfig) (outbox.Store, error) {
	if cfg.Store == "" {
		return nil, errNoStore
	}
	if cfg.IsPostgres() {
		return openPostgres(ctx, cfg.Store)
	}
	return boltstore.Open(cfg.Store, boltstore.Options{})
}

// Serve answers on the socket for path until ctx ends. A stale socket (no one answering) is
// replaced; a live one means another deliverer serves the file, which the file lock already
// prevents. ready is called once the socket listens.
func Serve(ctx context.Context, path string, s outbox.Store, ready func()) error {
	sock := SocketPath(path)
	if _, err := os.Stat(sock); err == nil {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("outbox socket %s: another deliverer answers on it", sock)
		}
		os.Remove(sock)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("outbox socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("outbox socket: %w", err)
	}
	srv := &http.Server{Handler: handler(s), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-done
	os.Remove(sock)
	return err
}

type retryReq struct {
	Expires time.Time `json:"expires"`
	IDs     []string  `json:"ids"`
}

func handler(s outbox.Store) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, outbox.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, outbox.ErrDuplicate):
				code = http.StatusConflict
			case errors.Is(err, outbox.ErrClosed):
				code = http.StatusServiceUnavailable
			}
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /enqueue", func(w http.ResponseWriter, r *http.Request) {
		var recs []*outbox.Record
		if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		err := s.Enqueue(r.Context(), recs...)
		reply(w, recs, err)
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.Get(r.Context(), r.URL.Query().Get("id"))
		reply(w, rec, err)
	})
	mux.HandleFunc("GET /list", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := outbox.Filter{Topic: q.Get("topic")}
		f.Limit, _ = strconv.Atoi(q.Get("limit"))
		for _, st := range q["state"] {
			n, _ := strconv.Atoi(st)
			f.States = append(f.States, outbox.State(n))
		}
		recs, err := s.List(r.Context(), f)
		reply(w, recs, err)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /retry", func(w http.ResponseWriter, r *http.Request) {
		var req retryReq
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := s.Retry(r.Context(), req.Expires, req.IDs...)
		reply(w, n, err)
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		err := s.Drop(r.Context(), r.URL.Query().Get("id"))
		reply(w, true, err)
	})
	return mux
}

// Remote is a store reached over a deliverer's socket. Claims are the deliverer's: Claim,
// MarkAcked, Release and Kill are refused.
type Remote struct {
	sock string
	c    *http.Client
}

var _ outbox.Store = (*Remote)(nil)

// Dial connects to the deliverer serving the store file at path.
func Dial(ctx context.Context, path string) (*Remote, error) {
	sock := SocketPath(path)
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &Remote{sock: sock, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (r *Remote) call(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://outbox"+path, &body)
	if err != nil {
		return err
	}
	resp, err := r.c.Do(req)
	if err != nil {
		return fmt.Errorf("outbox deliverer at %s: %w", r.sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		msg := fmt.Errorf("outbox deliverer at %s: %s", r.sock, e.Error)
		switch resp.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w (%v)", outbox.ErrNotFound, msg)
		case http.StatusConflict:
			return fmt.Errorf("%w (%v)", outbox.ErrDuplicate, msg)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("%w (%v)", outbox.ErrClosed, msg)
		}
		return msg
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Enqueue implements outbox.Store: nil once the deliverer stored the records durably.
func (r *Remote) Enqueue(ctx context.Context, recs ...*outbox.Record) error {
	var got []*outbox.Record
	if err := r.call(ctx, "POST", "/enqueue", recs, &got); err != nil {
		return err
	}
	for i := range recs {
		if i < len(got) {
			recs[i].Seq = got[i].Seq
		}
	}
	return nil
}

var errRemote = errors.New("outboxctl: claims belong to the deliverer")

// Claim is refused: the deliverer owns the claims.
func (r *Remote) Claim(context.Context, string, time.Time, time.Duration, int) ([]*outbox.Record, error) {
	return nil, errRemote
}

// MarkAcked is refused.
func (r *Remote) MarkAcked(context.Context, string, ...string) (bool, error) { return false, errRemote }

// Release is refused.
func (r *Remote) Release(context.Context, string, string, time.Time, string) error { return errRemote }

// Kill is refused.
func (r *Remote) Kill(context.Context, string, string) error { return errRemote }

// Retry implements outbox.Store.
func (r *Remote) Retry(ctx context.Context, expires time.Time, ids ...string) (int, error) {
	var n int
	err := r.call(ctx, "POST", "/retry", retryReq{Expires: expires, IDs: ids}, &n)
	return n, err
}

// Drop implements outbox.Store.
func (r *Remote) Drop(ctx context.Context, id string) error {
	return r.call(ctx, "POST", "/drop?id="+urlEscape(id), nil, nil)
}

// Get implements outbox.Store.
func (r *Remote) Get(ctx context.Context, id string) (*outbox.Record, error) {
	var rec outbox.Record
	if err := r.call(ctx, "GET", "/get?id="+urlEscape(id), nil, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// List implements outbox.Store.
func (r *Remote) List(ctx context.Context, f outbox.Filter) ([]*outbox.Record, error) {
	q := "/list?limit=" + strconv.Itoa(f.Limit) + "&topic=" + urlEscape(f.Topic)
	for _, st := range f.States {
		q += "&state=" + strconv.Itoa(int(st))
	}
	var recs []*outbox.Record
	err := r.call(ctx, "GET", q, nil, &recs)
	return recs, err
}

// Stats implements outbox.Store.
func (r *Remote) Stats(ctx context.Context) (outbox.Stats, error) {
	var st outbox.Stats
	err := r.call(ctx, "GET", "/stats", nil, &st)
	return st, err
}

// Changed implements outbox.Store: never fires (the deliverer is notified by its own store).
func (r *Remote) Changed() <-chan struct{} { return nil }

// Close implements outbox.Store.
func (r *Remote) Close() error {
	r.c.CloseIdleConnections()
	return nil
}

func urlEscape(s string) string { return url.QueryEscape(s) }
