package archive

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BadQueryError is a query the API refuses (answered 400): which parameter, and why.
type BadQueryError struct {
	Param  string
	Reason string
}

// Error names the parameter and the reason.
func (e *BadQueryError) Error() string {
	if e.Param == "" {
		return e.Reason
	}
	return e.Param + ": " + e.Reason
}

func badQuery(param, format string, args ...any) error {
	return &BadQueryError{Param: param, Reason: fmt.Sprintf(format, args...)}
}

// Arguments are a search's parameters as datagrepper echoes them ("arguments"), in its order.
type Arguments struct {
	Start         *float64 `json:"start"`
	Delta         *float64 `json:"delta"`
	End           *float64 `json:"end"`
	Users         []string `json:"users"`
	Packages      []string `json:"packages"`
	Categories    []string `json:"categories"`
	Topics        []string `json:"topics"`
	Agents        []string `json:"agents"`
	Contains      []string `json:"contains"`
	NotUsers      []string `json:"not_users"`
	NotPackages   []string `json:"not_packages"`
	NotCategories []string `json:"not_categories"`
	NotTopics     []string `json:"not_topics"`
	NotAgents     []string `json:"not_agents"`
	Page          int      `json:"page"`
	RowsPerPage   int      `json:"rows_per_page"`
	Order         string   `json:"order"`
	Meta          []string `json:"meta"`
	// Cursor is ackmsg's: the cursor parameter, when given.
	Cursor string `json:"cursor,omitempty"`
}

// MaxRowsPerPage is datagrepper's bound on rows_per_page.
const MaxRowsPerPage = 100

// maxPage keeps (page-1)*rows_per_page far from overflowing.
const maxPage = 10_000_000

// maxContains bounds a contains value.
const maxContains = 200

// sizes and metas are what datagrepper accepts for size and meta.
var (
	sizes = []string{"small", "medium", "large", "extra-large"}
	metas = []string{"summary", "text", "url", "app_icon", "agent_avatar", "usernames", "packages", "containers",
		"modules", "flatpaks", "date", "subtitle", "link", "icon"}
	callbackRE = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$`)
)

// ParseSearch reads datagrepper's /raw parameters into a Query and the arguments to echo,
// with cfg's DefaultDelta and ContainsMaxAge and now as the clock. Every refusal is a
// *BadQueryError.
func ParseSearch(v url.Values, cfg Config, now time.Time) (Query, Arguments, error) {
	var q Query
	var a Arguments
	start, end, delta, err := timeRange(v, cfg.DefaultDelta, now)
	if err != nil {
		return q, a, err
	}
	a.Start, a.End, a.Delta = start, end, delta
	if start != nil {
		q.Start = fromSeconds(*start)
	}
	if end != nil {
		q.End = fromSeconds(*end)
	}
	list := func(key string) []string {
		out := []string{}
		for _, s := range v[key] {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	a.Users, a.Packages, a.Categories, a.Topics, a.Agents = list("user"), list("package"), list("category"), list("topic"), list("agent")
	a.NotUsers, a.NotPackages, a.NotCategories, a.NotTopics, a.NotAgents = list("not_user"), list("not_package"), list("not_category"), list("not_topic"), list("not_agent")
	a.Contains = list("contains")
	for _, c := range a.Contains {
		if err := checkContains(c); err != nil {
			return q, a, err
		}
	}
	if len(a.Contains) > 0 {
		if start == nil || fromSeconds(*start).Before(now.Add(-cfg.ContainsMaxAge)) {
			return q, a, badQuery("contains", "when using contains, specify a start at most %s into the past", human(cfg.ContainsMaxAge))
		}
		if len(a.Topics) == 0 && len(a.Categories) == 0 {
			return q, a, badQuery("contains", "when using contains, specify either a topic or a category as well")
		}
	}
	q.Users, q.Packages, q.Categories, q.Topics, q.Agents, q.Contains = a.Users, a.Packages, a.Categories, a.Topics, a.Agents, a.Contains
	q.NotUsers, q.NotPackages, q.NotCategories, q.NotTopics, q.NotAgents = a.NotUsers, a.NotPackages, a.NotCategories, a.NotTopics, a.NotAgents

	if a.Page, err = intParam(v, "page", 1, 1, maxPage); err != nil {
		return q, a, err
	}
	if a.RowsPerPage, err = intParam(v, "rows_per_page", 25, 1, MaxRowsPerPage); err != nil {
		return q, a, err
	}
	a.Order = v.Get("order")
	switch a.Order {
	case "":
		a.Order = "desc"
	case "asc", "desc":
	default:
		return q, a, badQuery("order", "must be either 'desc' or 'asc', not %q", a.Order)
	}
	if err := checkPresentation(v); err != nil {
		return q, a, err
	}
	if a.Meta, err = metaParam(v); err != nil {
		return q, a, err
	}
	q.Desc, q.Limit, q.Offset = a.Order == "desc", a.RowsPerPage, (a.Page-1)*a.RowsPerPage
	if c := v.Get("cursor"); c != "" {
		cur, err := ParseCursor(c)
		if err != nil {
			return q, a, badQuery("cursor", "%v", err)
		}
		a.Cursor, q.After, q.Offset = c, &cur, 0
	}
	return q, a, nil
}

// checkContains refuses what has no business in a substring of a message: quotes, backslashes,
// semicolons, SQL's wildcards and comment marks, control characters. The value is passed to
// PostgreSQL as a parameter and matched literally whatever it holds: the refusal tells a
// caller who wrote SQL or a pattern that the archive does not take them.
func checkContains(c string) error {
	if len(c) > maxContains {
		return badQuery("contains", "longer than %d bytes", maxContains)
	}
	for _, r := range c {
		if r < 0x20 || r == 0x7f {
			return badQuery("contains", "%q has a control character: want plain text", c)
		}
	}
	if i := strings.IndexAny(c, "'\"\\;%`"); i >= 0 {
		return badQuery("contains", "%q has %q: quotes, backslashes, semicolons, backquotes and %% are refused (contains is plain text matched literally, not SQL or a pattern)", c, c[i])
	}
	if strings.Contains(c, "--") || strings.Contains(c, "/*") {
		return badQuery("contains", "%q has an SQL comment mark: contains is plain text matched literally, not SQL", c)
	}
	return nil
}

// checkPresentation validates datagrepper's HTML parameters (size, chrome), which the JSON API
// ignores, as datagrepper does.
func checkPresentation(v url.Values) error {
	if s := v.Get("size"); s != "" && !slices.Contains(sizes, s) {
		return badQuery("size", "must be one of %s, not %q", strings.Join(sizes, ", "), s)
	}
	for _, k := range []string{"chrome", "is_raw"} {
		if s := v.Get(k); s != "" {
			if _, err := asBool(s); err != nil {
				return badQuery(k, "should be either 'true' or 'false', not %q", s)
			}
		}
	}
	if cb := v.Get("callback"); cb != "" && !callbackRE.MatchString(cb) {
		return badQuery("callback", "%q is not a JavaScript function name", cb)
	}
	return nil
}

func metaParam(v url.Values) ([]string, error) {
	out := []string{}
	for _, m := range v["meta"] {
		if !slices.Contains(metas, m) {
			return nil, badQuery("meta", "must be in %s; got %q", strings.Join(metas, ","), m)
		}
		out = append(out, m)
	}
	return out, nil
}

// asBool is datagrepper's as_bool.
func asBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "y", "t", "1":
		return true, nil
	case "false", "no", "off", "n", "f", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

func intParam(v url.Values, key string, def, lo, hi int) (int, error) {
	s := v.Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, badQuery(key, "%q is not an integer", s)
	}
	if n < lo || n > hi {
		return 0, badQuery(key, "must be between %d and %d, not %d", lo, hi, n)
	}
	return n, nil
}

// timeRange is datagrepper's assemble_timerange: any two of start, end and delta give the
// third; start alone ends now; delta alone ends now; none gives defaultDelta back from now, or
// no range when it is 0.
func timeRange(v url.Values, defaultDelta time.Duration, now time.Time) (start, end, delta *float64, err error) {
	if start, err = timeParam(v, "start"); err != nil {
		return
	}
	if end, err = timeParam(v, "end"); err != nil {
		return
	}
	if s := v.Get("delta"); s != "" {
		d, perr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if perr != nil || math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
			return nil, nil, nil, badQuery("delta", "%q is not a number of seconds (0 or more)", s)
		}
		delta = &d
	}
	nowS := float64(now.UnixMicro()) / 1e6
	p := func(f float64) *float64 { return &f }
	def := defaultDelta.Seconds()
	switch {
	case start == nil && end == nil && delta == nil:
		if def >= 1 {
			end, start, delta = p(nowS), p(nowS-def), p(def)
		}
	case start == nil && end == nil:
		end, start = p(nowS), p(nowS-*delta)
	case start == nil && delta == nil:
		if def >= 1 {
			start, delta = p(*end-def), p(def)
		} else {
			start = p(0)
		}
	case start == nil:
		start = p(*end - *delta)
	case end == nil && delta == nil:
		end = p(nowS)
		delta = p(*end - *start)
	case end == nil:
		end = p(*start + *delta)
	default:
		delta = p(*end - *start)
	}
	if start != nil && end != nil && *end < *start {
		return nil, nil, nil, badQuery("end", "is before start")
	}
	return start, end, delta, nil
}

// timeLayouts are the date forms start and end take besides seconds since the epoch
// (datagrepper takes whatever dateutil parses; these are the ISO 8601 ones people use).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}

func timeParam(v url.Values, key string) (*float64, error) {
	s := strings.TrimSpace(v.Get(key))
	if s == "" {
		return nil, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return nil, badQuery(key, "%q is out of range (seconds since the epoch)", s)
		}
		return &f, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil { // no zone: UTC, as datagrepper assumes
			f := float64(t.UnixMicro()) / 1e6
			return &f, nil
		}
	}
	return nil, badQuery(key, "cannot parse %q: want seconds since the epoch or an ISO 8601 date (2024-05-01, 2024-05-01T12:00:00Z)", s)
}

func fromSeconds(f float64) time.Time {
	return time.UnixMicro(int64(math.Round(f * 1e6))).UTC()
}

func human(d time.Duration) string {
	if d%(7*24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(7*24*time.Hour))) + " weeks"
	}
	return d.String()
}
