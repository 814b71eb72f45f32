package main

import (
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// writeChart draws the cumulative distribution of every kept latency series on a log time axis
// (milliseconds) and saves it as SVG.
func writeChart(path string, res *Results) error {
	p := plot.New()
	p.Title.Text = "ackmsg latency CDF (same run, same machine)"
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of samples ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	order := []string{"raw zmq4 round trip", "acked in process, 1 recipient(s)", "acked 1 process(es)",
		"acked in process, 3 recipient(s)", "acked 3 process(es)", "acked in process, 10 recipient(s)",
		"cold ackmsg-logger"}
	palette := []color.RGBA{{0, 0, 0, 255}, {31, 119, 180, 255}, {174, 199, 232, 255}, {255, 127, 14, 255},
		{255, 187, 120, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}}
	for i, name := range order {
		s, ok := res.Samples[name]
		if !ok || len(s) == 0 {
			continue
		}
		s = slices.Clone(s)
		slices.Sort(s)
		pts := make(plotter.XYs, len(s))
		for j, v := range s {
			pts[j].X = v / 1e3
			pts[j].Y = float64(j+1) / float64(len(s))
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
