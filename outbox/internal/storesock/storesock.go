// Package storesock lets other processes use an embedded outbox store while one process owns
// its file: the file lock admits one process (bbolt's exclusive flock, which also blocks
// read-only opens), so the owner answers on a unix socket next to the file, as an MTA's queue
// manager owns its queue. outbox/boltstore's Store serves it for as long as it holds the file;
// its Shared (what the commands use, through cmd/internal/outboxctl) dials it. The protocol is
// HTTP/1.1 with JSON bodies, private to the outbox tree (both ends are built from the same
// source).
package storesock

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
	"sync"
	"time"

	"github.com/ackmsg/ackmsg/outbox"
)

// Server answers on a unix socket for a store. Create it with Listen; Close stops it.
type Server struct {
	sock string
	srv  *http.Server
	done chan error
	once sync.Once
}

// Listen serves s on the unix socket sock (mode 0600), replacing a file there: the caller
// holds the store's lock, so no other process can be answering on it.
func Listen(sock string, s outbox.Store) (*Server, error) {
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("outbox socket %s: %w", sock, err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("outbox socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		os.Remove(sock)
		return nil, fmt.Errorf("outbox socket: %w", err)
	}
	v := &Server{sock: sock, srv: &http.Server{Handler: handler(s), ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { v.done <- v.srv.Serve(ln) }()
	return v, nil
}

// Close stops answering, lets the requests under way finish (10 s at most) and removes the
// socket. Call it before closing the store.
func (v *Server) Close() error {
	var err error
	v.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = v.srv.Shutdown(ctx)
		if serr := <-v.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		if rerr := os.Remove(v.sock); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	})
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

// Remote is a store reached over its owner's socket. Claims are the owner's (its deliverer's):
// Claim, MarkAcked, Release and Kill are refused.
type Remote struct {
	sock string
	c    *http.Client
}

var _ outbox.Store = (*Remote)(nil)

// Dial connects to the owner answering on the unix socket sock; an error when none answers.
func Dial(ctx context.Context, sock string) (*Remote, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", sock)
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
		return fmt.Errorf("outbox store owner at %s: %w", r.sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		msg := fmt.Errorf("outbox store owner at %s: %s", r.sock, e.Error)
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

// Enqueue implements outbox.Store: nil once the owner stored the records durably.
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

var errRemote = errors.New("outbox: claims belong to the process that owns the store file (its deliverer)")

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

// Changed implements outbox.Store: never fires (the owner's deliverer is notified by its own store).
func (r *Remote) Changed() <-chan struct{} { return nil }

// Close implements outbox.Store.
func (r *Remote) Close() error {
	r.c.CloseIdleConnections()
	return nil
}

func urlEscape(s string) string { return url.QueryEscape(s) }
