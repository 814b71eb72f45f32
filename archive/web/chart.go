package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ackmsg/ackmsg/archive"
)

// Chart bounds: the range drawn (one bar per hour) and the topics drawn (the busiest).
const (
	DefaultChartRange = 24 * time.Hour
	MaxChartRange     = 14 * 24 * time.Hour
	MaxChartTopics    = 10
)

// Geometry of the SVG, in pixels.
const (
	barGap, rowH, labelH, barsX = 1, 60, 14, 0
	// The bars share chartW: from 4 px each (14 days) to 40 (a few hours).
	chartW, minBarW, maxBarW = 720, 4, 40
)

type bar struct {
	Hour       string
	N          int64
	X, Y, W, H int
}

type topicRow struct {
	Topic  string
	Total  int64
	LabelY int
	Bars   []bar
}

type chartPage struct {
	Start, End, From, To, Error string
	Topics                      []topicRow
	AllTopics                   int
	More                        bool
	Width, Height               int
}

// chart draws the messages per topic and hour of a range ([start, end] as the API takes
// them; default the last 24 hours) from the counts table, as inline SVG: one row of bars per
// topic, the busiest MaxChartTopics, each bar's height relative to the busiest hour.
func (w *Web) chart(rw http.ResponseWriter, r *http.Request) {
	in := r.URL.Query()
	p := chartPage{Start: in.Get("start"), End: in.Get("end")}
	v := url.Values{}
	for _, k := range []string{"start", "end", "delta"} {
		if s := in.Get(k); s != "" {
			v.Set(k, s)
		}
	}
	now := w.now()
	from, to := now.Add(-DefaultChartRange), now
	if len(v) > 0 {
		q, _, err := archive.ParseSearch(v, w.cfg.Archive, now)
		if err != nil {
			code, msg := status(err)
			p.Error = msg
			w.render(rw, r, "chart", code, p)
			return
		}
		if !q.Start.IsZero() {
			from = q.Start
		}
		if !q.End.IsZero() {
			to = q.End
		}
		if q.End.IsZero() && !q.Start.IsZero() {
			to = from.Add(DefaultChartRange)
		}
	}
	if to.Sub(from) > MaxChartRange {
		p.Error = "start, end: the chart draws at most " + MaxChartRange.String() + " (one bar per hour); narrow the range"
		w.render(rw, r, "chart", http.StatusBadRequest, p)
		return
	}
	first, last := from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour)
	counts, err := w.r.HourCounts(r.Context(), first, last.Add(time.Hour))
	if err != nil {
		code, msg := status(err)
		w.cfg.Logger.Warn("web: chart failed", "url", r.URL.String(), "error", err)
		p.Error = msg
		w.render(rw, r, "chart", code, p)
		return
	}
	p.From, p.To = first.Format("2006-01-02 15:04"), last.Add(time.Hour).Format("2006-01-02 15:04")
	draw(&p, counts, first, int(last.Sub(first)/time.Hour)+1)
	w.render(rw, r, "chart", http.StatusOK, p)
}

// draw lays out counts (hours from first, hours of them) in p.
func draw(p *chartPage, counts []archive.HourCount, first time.Time, hours int) {
	byTopic := map[string][]archive.HourCount{}
	totals := map[string]int64{}
	var peak int64 = 1
	for _, c := range counts {
		byTopic[c.Topic] = append(byTopic[c.Topic], c)
		totals[c.Topic] += c.N
	}
	topics := make([]string, 0, len(totals))
	for t := range totals {
		topics = append(topics, t)
	}
	slices.SortFunc(topics, func(a, b string) int {
		return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b))
	})
	p.AllTopics = len(topics)
	if len(topics) > MaxChartTopics {
		topics, p.More = topics[:MaxChartTopics], true
	}
	for _, t := range topics {
		for _, c := range byTopic[t] {
			peak = max(peak, c.N)
		}
	}
	barW := min(maxBarW, max(minBarW, chartW/hours-barGap))
	p.Width = max(barsX+hours*(barW+barGap), 400)
	for i, t := range topics {
		base := i*(rowH+labelH) + labelH + rowH // the bars' baseline
		row := topicRow{Topic: t, Total: totals[t], LabelY: i*(rowH+labelH) + labelH - 2}
		for _, c := range byTopic[t] {
			h := int(float64(rowH) * float64(c.N) / float64(peak))
			h = max(h, 1)
			x := barsX + int(c.Hour.Sub(first)/time.Hour)*(barW+barGap)
			row.Bars = append(row.Bars, bar{Hour: c.Hour.Format("2006-01-02T15:04Z"), N: c.N, X: x, Y: base - h, W: barW, H: h})
		}
		p.Topics = append(p.Topics, row)
	}
	p.Height = max(1, len(topics)*(rowH+labelH)+4)
}
