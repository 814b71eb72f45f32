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
	p.Title.Text = "ackmsg latency CDF (same run, same machine; RSA-2048 unless marked Ed25519)"
	p.X.Label.Text = "latency (ms, log scale)"
	p.Y.Label.Text = "fraction of samples ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Millimeter
	series := []struct {
		name  string
		color color.RGBA
	}{
		{"raw zmq4 round trip", color.RGBA{0, 0, 0, 255}},
		{"acked in process, 1 recipient(s)", color.RGBA{31, 119, 180, 255}},
		{"acked in process, 1 recipient(s), Ed25519", color.RGBA{148, 103, 189, 255}},
		{"acked 1 process(es)", color.RGBA{174, 199, 232, 255}},
		{"acked to the bridge, Ed25519", color.RGBA{140, 86, 75, 255}},
		{"acked in process, 3 recipient(s)", color.RGBA{255, 127, 14, 255}},
		{"acked 3 process(es)", color.RGBA{255, 187, 120, 255}},
		{"acked in process, 10 recipient(s)", color.RGBA{44, 160, 44, 255}},
		{"cold ackmsg-logger", color.RGBA{214, 39, 40, 255}},
	}
	drawn := 0
	for _, sr := range series {
		name := sr.name
		s, ok := res.Samples[name]
		if !ok || len(s) == 0 {
			continue
		}
		drawn++
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
		l.Color = sr.color
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	if drawn == 0 { // an empty log axis makes gonum/plot panic
		return fmt.Errorf("chart: no latency samples to draw")
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
