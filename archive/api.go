package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ackmsg/ackmsg/message"
)

// Reader is what the API reads (a *Store).
type Reader interface {
	Get(ctx context.Context, msgID string) (Record, error)
	Search(ctx context.Context, q Query) (Result, error)
}

// API is datagrepper's HTTP API over the archive: /raw and /v2/search, /id and /v2/id. It is a
// set of routes, so that the web view (and /live, /ready, /metrics) can be served beside it
// from one server.
type API struct {
	r   Reader
	cfg Config
}

// NewAPI returns the API over r.
func NewAPI(r Reader, cfg Config) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &API{r: r, cfg: cfg}, nil
}

// Routes are the API's paths, as http.ServeMux patterns, with their handlers.
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /raw":        http.HandlerFunc(a.raw),
		"GET /raw/":       http.HandlerFunc(a.raw),
		"GET /v2/search":  http.HandlerFunc(a.raw),
		"GET /v2/search/": http.HandlerFunc(a.raw),
		"GET /id":         http.HandlerFunc(a.id),
		"GET /id/":        http.HandlerFunc(a.id),
		"GET /v2/id":      http.HandlerFunc(a.id),
		"GET /v2/id/":     http.HandlerFunc(a.id),
	}
}

// Handler is a mux serving Routes alone.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for p, h := range a.Routes() {
		mux.Handle(p, h)
	}
	return mux
}

// searchResponse is datagrepper's /raw answer, in its order, plus ackmsg's next_cursor and
// total_estimated.
type searchResponse struct {
	RawMessages    []json.RawMessage `json:"raw_messages"`
	Total          int64             `json:"total"`
	Pages          int64             `json:"pages"`
	Count          int               `json:"count"`
	Arguments      Arguments         `json:"arguments"`
	NextCursor     string            `json:"next_cursor,omitempty"`
	TotalEstimated bool              `json:"total_estimated"`
}

func (a *API) raw(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, args, err := ParseSearch(v, a.cfg, a.cfg.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.r.Search(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v2 := isV2(r)
	out := searchResponse{RawMessages: make([]json.RawMessage, 0, len(res.Records)), Total: res.Total,
		Pages: int64(math.Ceil(float64(res.Total) / float64(args.RowsPerPage))), Count: len(res.Records),
		Arguments: args, TotalEstimated: res.Estimated}
	if res.Next != nil {
		out.NextCursor = res.Next.String()
	}
	for _, rec := range res.Records {
		item, err := serialize(rec, v2, args.Meta, a.cfg.now())
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.RawMessages = append(out.RawMessages, item)
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (a *API) id(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	id := v.Get("id")
	if id == "" {
		a.fail(w, r, badQuery("id", "missing: want /id?id=<msg_id>"))
		return
	}
	if err := checkPresentation(v); err != nil {
		a.fail(w, r, err)
		return
	}
	metas, err := metaParam(v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	raw := false
	if s := v.Get("envelope"); s != "" {
		if raw, err = asBool(s); err != nil {
			a.fail(w, r, badQuery("envelope", "should be either 'true' or 'false', not %q", s))
			return
		}
	}
	rec, err := a.r.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if raw {
		// ackmsg's extension: the signed envelope exactly as received, for a replay that
		// re-sends the original frame (ackmsg-replay --archive).
		w.Header().Set("Content-Type", "application/json")
		w.Write(rec.Envelope)
		return
	}
	item, err := serialize(rec, isV2(r), metas, a.cfg.now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, item)
}

func isV2(r *http.Request) bool { return len(r.URL.Path) >= 4 && r.URL.Path[:4] == "/v2/" }

// fail answers err: 400 for a bad query, 404 for an unknown msg_id, 503 for a query the
// statement timeout cancelled or a database out of reach. The body is {"error": "..."}.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bq *BadQueryError
	code := http.StatusServiceUnavailable
	switch {
	case errors.As(err, &bq):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrQueryTimeout):
		err = fmt.Errorf("%w: narrow the query (a time range, a topic or a category)", err)
	default:
		a.cfg.logger().Warn("archive query failed", "url", r.URL.String(), "error", err)
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		return // the client is gone
	}
	writeJSON(w, r, code, map[string]string{"error": err.Error()})
}

// writeJSON writes v as JSON, wrapped in callback(...) for JSONP as datagrepper does.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error": "encoding the answer failed"}`, http.StatusInternalServerError)
		return
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ctype := "application/json"
	if cb := r.URL.Query().Get("callback"); cb != "" && callbackRE.MatchString(cb) {
		ctype = "application/javascript"
		body = []byte(cb + "(" + string(body) + ");")
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Access-Control-Allow-Origin", "*") // datagrepper's CORS_DOMAINS default: any
	w.WriteHeader(code)
	w.Write(body)
}

// v1Message is datanommer's Message.as_dict, in its order: what /raw and /id return.
type v1Message struct {
	I             int64           `json:"i"`
	MsgID         string          `json:"msg_id"`
	Topic         string          `json:"topic"`
	Timestamp     json.RawMessage `json:"timestamp"`
	Certificate   *string         `json:"certificate"`
	Signature     *string         `json:"signature"`
	AgentName     *string         `json:"agent_name"`
	Username      *string         `json:"username"`
	Crypto        *string         `json:"crypto"`
	Msg           json.RawMessage `json:"msg"`
	Headers       json.RawMessage `json:"headers"`
	SourceName    string          `json:"source_name"`
	SourceVersion string          `json:"source_version"`
	Users         []string        `json:"users"`
	Packages      []string        `json:"packages"`
	Meta          map[string]any  `json:"meta,omitempty"`
}

// v2Message is datanommer's Message.as_fedora_message_dict: what /v2/search and /v2/id return.
type v2Message struct {
	Body     json.RawMessage   `json:"body"`
	Headers  map[string]string `json:"headers"`
	ID       string            `json:"id"`
	Priority int               `json:"priority"`
	Queue    *string           `json:"queue"`
	Topic    string            `json:"topic"`
	Meta     map[string]any    `json:"meta,omitempty"`
}

// SourceName and SourceVersion fill datanommer's source_name and source_version.
const (
	SourceName    = "ackmsg-archive"
	SourceVersion = "1"
)

func serialize(rec Record, v2 bool, metas []string, now time.Time) (json.RawMessage, error) {
	m, err := message.Decode(rec.Envelope)
	if err != nil {
		return nil, fmt.Errorf("archive: stored envelope of %s: %w", rec.MsgID, err)
	}
	body := json.RawMessage("null")
	if b := m.Body(); b != nil {
		if body, err = message.Canonical(b); err != nil {
			return nil, fmt.Errorf("archive: body of %s: %w", rec.MsgID, err)
		}
	}
	var meta map[string]any
	if len(metas) > 0 {
		meta = metaOf(rec, body, metas, now)
	}
	if v2 {
		return json.Marshal(v2Message{Body: body, Headers: map[string]string{"sent-at": isoformat(rec.Time)},
			ID: rec.MsgID, Topic: rec.Topic, Meta: meta})
	}
	str := func(key string) *string {
		if s, ok := m.String(key); ok {
			return &s
		}
		return nil
	}
	var agent *string
	if rec.Agent != "" {
		agent = &rec.Agent
	}
	// datagrepper's DateAwareJSONEncoder writes time.mktime(timetuple()): whole seconds, a float.
	ts := json.RawMessage(strconv.FormatInt(rec.Time.Unix(), 10) + ".0")
	return json.Marshal(v1Message{I: rec.I, MsgID: rec.MsgID, Topic: rec.Topic, Timestamp: ts,
		Certificate: str(message.FieldCertificate), Signature: str(message.FieldSignature), AgentName: agent, Username: agent,
		Crypto: str(message.FieldCrypto), Msg: body, Headers: json.RawMessage("null"), SourceName: SourceName,
		SourceVersion: SourceVersion, Users: nonNil(rec.Users), Packages: nonNil(rec.Packages), Meta: meta})
}

// isoformat is Python's datetime.isoformat of an aware UTC time.
func isoformat(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.UTC().Format("2006-01-02T15:04:05+00:00")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

// metaOf answers datagrepper's meta parameter for a message without a fedora-messaging
// schema (as its base Message class does): usernames and packages are package meta's; the
// legacy names carry datagrepper's deprecation WARNING.
func metaOf(rec Record, body json.RawMessage, names []string, now time.Time) map[string]any {
	legacy := map[string]string{"subtitle": "summary", "link": "url", "icon": "app_icon"}
	out := map[string]any{}
	for _, n := range names {
		name := n
		if to, ok := legacy[n]; ok {
			name = to
			w, _ := out["WARNING"].([]string)
			out["WARNING"] = append(w, fmt.Sprintf("Meta %s is deprecated and has been replaced by %s", n, to))
		}
		var v any
		switch name {
		case "usernames":
			v = nonNil(rec.Users)
		case "packages":
			v = nonNil(rec.Packages)
		case "containers", "modules", "flatpaks":
			v = []string{}
		case "date":
			v = humanize(now.Sub(rec.Time))
		case "summary":
			v = ""
		case "text":
			v = fmt.Sprintf("Id: %s\nTopic: %s\nBody: %s", rec.MsgID, rec.Topic, body)
		default: // url, app_icon, agent_avatar
			v = nil
		}
		out[n] = v
	}
	return out
}

// humanize is arrow's humanize for the past, roughly ("3 hours ago").
func humanize(d time.Duration) string {
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return one + " ago"
		}
		return strconv.FormatInt(n, 10) + " " + many + " ago"
	}
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < 45*time.Second:
		return unit(int64(d/time.Second), "a second", "seconds")
	case d < 45*time.Minute:
		return unit(max(1, int64(d/time.Minute)), "a minute", "minutes")
	case d < 22*time.Hour:
		return unit(max(1, int64(d/time.Hour)), "an hour", "hours")
	case d < 26*24*time.Hour:
		return unit(max(1, int64(d/(24*time.Hour))), "a day", "days")
	case d < 320*24*time.Hour:
		return unit(max(1, int64(d/(30*24*time.Hour))), "a month", "months")
	}
	return unit(max(1, int64(d/(365*24*time.Hour))), "a year", "years")
}
