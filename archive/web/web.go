package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ackmsg/ackmsg/archive"
	"github.com/ackmsg/ackmsg/certs"
	"github.com/ackmsg/ackmsg/message"
)

//go:embed templates/*.html
var files embed.FS

// Reader is what the pages read (a *archive.Store).
type Reader interface {
	archive.Reader
	HourCounts(ctx context.Context, start, end time.Time) ([]archive.HourCount, error)
	Acks(ctx context.Context, msgID string) ([]archive.Ack, error)
}

// Config configures the web view.
type Config struct {
	// Archive is the archive's configuration: the search form's parameters are the API's,
	// read with its defaults (DefaultDelta, ContainsMaxAge). Default (the zero Config)
	// archive.DefaultConfig().
	Archive archive.Config
	// Verifier checks a message's signature when its page is shown (the CA and CRL as they
	// are now). Nil: the page says the signature was not checked. Default nil; ackmsg-archive
	// gives its own verifier.
	Verifier certs.Verifier
	// Acks says that the archive records the ACKs it receives (ackmsg-archive --record-acks):
	// the message page lists who ACKed the message. False: the page says ACKs are not
	// recorded. Default false.
	Acks bool
	// Feed is the live feed served at / and /ws. Nil: no live feed (the routes answer 503).
	Feed *Feed
	// Logger receives the pages' errors. Default slog.Default().
	Logger *slog.Logger
}

// Web is the web view. Create it with New and mount Routes.
type Web struct {
	r     Reader
	cfg   Config
	pages map[string]*template.Template
}

// New returns the web view over r.
func New(r Reader, cfg Config) (*Web, error) {
	if r == nil {
		return nil, errors.New("web: New needs a reader")
	}
	if cfg.Archive.BatchSize == 0 { // the zero Config
		cfg.Archive = archive.DefaultConfig()
	}
	if err := cfg.Archive.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Web{r: r, cfg: cfg, pages: map[string]*template.Template{}}
	for _, p := range []string{"search", "message", "chart", "live"} {
		t, err := template.ParseFS(files, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		w.pages[p] = t
	}
	return w, nil
}

// Routes are the web view's paths, as http.ServeMux patterns, to mount beside the API's
// (archive.API.Routes) on one server.
func (w *Web) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /{$}":         http.HandlerFunc(w.root),
		"GET /ws":          http.HandlerFunc(w.ws),
		"GET /web/{$}":     http.HandlerFunc(w.search),
		"GET /web/message": http.HandlerFunc(w.message),
		"GET /web/chart":   http.HandlerFunc(w.chart),
		"GET /web/live":    http.HandlerFunc(w.live),
	}
}

// Handler is a mux serving Routes alone.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	for p, h := range w.Routes() {
		mux.Handle(p, h)
	}
	return mux
}

// root is moksha's WebSocket server (clients connect to the bare host:port) and, for a
// browser, the way to the search page.
func (w *Web) root(rw http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "" {
		w.ws(rw, r)
		return
	}
	http.Redirect(rw, r, "/web/", http.StatusFound)
}

func (w *Web) ws(rw http.ResponseWriter, r *http.Request) {
	if w.cfg.Feed == nil {
		http.Error(rw, "web: no live feed on this archive", http.StatusServiceUnavailable)
		return
	}
	w.cfg.Feed.serveWS(rw, r)
}

func (w *Web) live(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, "live", http.StatusOK, nil)
}

// render executes page into a buffer first, so that a failure is a clean 500 and never half
// a page.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, page string, code int, data any) {
	var buf bytes.Buffer
	if err := w.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		w.cfg.Logger.Error("web: rendering failed", "page", page, "url", r.URL.String(), "error", err)
		http.Error(rw, "web: rendering the page failed", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(code)
	rw.Write(buf.Bytes())
}

// status is the HTTP status of err, as the API answers it.
func status(err error) (int, string) {
	var bq *archive.BadQueryError
	switch {
	case errors.As(err, &bq):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, archive.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, archive.ErrQueryTimeout):
		return http.StatusServiceUnavailable, err.Error() + ": narrow the query (a time range or a topic)"
	}
	return http.StatusServiceUnavailable, "the archive's database did not answer; try again"
}

type searchForm struct{ Topic, User, Package, Start, End, Rows string }

type row struct{ Time, Topic, Agent, Signer, MsgID string }

type searchPage struct {
	Form      searchForm
	Error     string
	Searched  bool
	Total     int64
	Estimated bool
	Rows      []row
	Next      string
	Elapsed   string
}

// formKeys are the parameters the search form passes on to the API's parser.
var formKeys = []string{"topic", "user", "package", "start", "end", "rows_per_page", "cursor"}

func (w *Web) search(rw http.ResponseWriter, r *http.Request) {
	began := time.Now()
	in := r.URL.Query()
	p := searchPage{Form: searchForm{Topic: in.Get("topic"), User: in.Get("user"), Package: in.Get("package"),
		Start: in.Get("start"), End: in.Get("end"), Rows: in.Get("rows_per_page")}}
	v := url.Values{}
	for _, k := range formKeys {
		for _, s := range in[k] {
			if s != "" {
				v.Add(k, s)
			}
		}
	}
	if p.Form.Rows == "" {
		p.Form.Rows = "25"
	}
	if len(in) == 0 { // the empty form
		w.render(rw, r, "search", http.StatusOK, p)
		return
	}
	q, _, err := archive.ParseSearch(v, w.cfg.Archive, w.now())
	var res archive.Result
	if err == nil {
		res, err = w.r.Search(r.Context(), q)
	}
	if err != nil {
		code, msg := status(err)
		if code != http.StatusBadRequest {
			w.cfg.Logger.Warn("web: search failed", "url", r.URL.String(), "error", err)
		}
		p.Error = msg
		w.render(rw, r, "search", code, p)
		return
	}
	p.Searched, p.Total, p.Estimated = true, res.Total, res.Estimated
	for _, rec := range res.Records {
		p.Rows = append(p.Rows, row{Time: rec.Time.Format("2006-01-02 15:04:05.000"), Topic: rec.Topic, Agent: rec.Agent,
			Signer: rec.Signer, MsgID: rec.MsgID})
	}
	if res.Next != nil && len(res.Records) == q.Limit {
		v.Set("cursor", res.Next.String())
		p.Next = "/web/?" + v.Encode()
	}
	p.Elapsed = time.Since(began).Round(10 * time.Microsecond).String()
	w.render(rw, r, "search", http.StatusOK, p)
}

type messagePage struct {
	MsgID, Topic, Time, Agent, Signer string
	Verified                          bool
	Verify                            string
	Users, Packages                   []string
	Envelope                          string
	RecordsAcks                       bool
	Acks                              []ackRow
}

type ackRow struct{ Signer, Time string }

func (w *Web) message(rw http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		w.render(rw, r, "search", http.StatusBadRequest, searchPage{Error: "id: missing: want /web/message?id=<msg_id>"})
		return
	}
	rec, err := w.r.Get(r.Context(), id)
	if err != nil {
		code, msg := status(err)
		w.render(rw, r, "search", code, searchPage{Error: msg})
		return
	}
	p := messagePage{MsgID: rec.MsgID, Topic: rec.Topic, Time: rec.Time.Format("2006-01-02 15:04:05.000000"), Agent: rec.Agent,
		Signer: rec.Signer, Users: rec.Users, Packages: rec.Packages}
	var pretty bytes.Buffer
	if json.Indent(&pretty, rec.Envelope, "", "  ") == nil {
		p.Envelope = pretty.String()
	} else {
		p.Envelope = string(rec.Envelope)
	}
	p.Verified, p.Verify = w.verify(rec)
	if p.RecordsAcks = w.cfg.Acks; p.RecordsAcks {
		acks, err := w.r.Acks(r.Context(), rec.MsgID)
		if err != nil {
			code, msg := status(err)
			w.render(rw, r, "search", code, searchPage{Error: msg})
			return
		}
		for _, a := range acks {
			p.Acks = append(p.Acks, ackRow{Signer: a.Signer, Time: a.Time.Format("2006-01-02 15:04:05.000000")})
		}
	}
	w.render(rw, r, "message", http.StatusOK, p)
}

// verify checks the archived envelope's signature now: the CA and CRL may have changed since
// it was archived (a revoked signer shows here).
func (w *Web) verify(rec archive.Record) (bool, string) {
	if w.cfg.Verifier == nil {
		return false, "not checked: this archive has no verifier configured"
	}
	m, err := message.Decode(rec.Envelope)
	if err != nil {
		return false, "does not verify: " + err.Error()
	}
	id, err := w.cfg.Verifier.Verify(m)
	if err != nil {
		return false, "signature does not verify now: " + err.Error()
	}
	return true, "signature verifies (signed by " + id.CN + ")"
}

func (w *Web) now() time.Time {
	if w.cfg.Archive.Now != nil {
		return w.cfg.Archive.Now()
	}
	return time.Now()
}
