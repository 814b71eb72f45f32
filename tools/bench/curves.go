package main

// Cost curves (issue 32): how a figure grows with a load parameter (recipient processes,
// publishers, payload, messages in flight), each measured series next to its floor measured at
// the same points in the same run. A curve's numbers are also rows of the table (the source of
// truth, with their ratios); the curve is the picture, drawn as an SVG per curve by -curves and
// referenced from BENCHMARKS.md.

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Curve is one chart: series over the same load parameter.
type Curve struct {
	ID     string   `json:"id"`    // names the chart file: curve-<id>.svg
	Title  string   `json:"title"` // what it shows, one line
	X      string   `json:"x"`     // the load parameter, with its unit ("recipient processes")
	Y      string   `json:"y"`     // what the series measure, with their unit ("p50 (ms)")
	LogX   bool     `json:"log_x,omitempty"`
	LogY   bool     `json:"log_y,omitempty"`
	Note   string   `json:"note,omitempty"` // printed under the chart in BENCHMARKS.md
	Series []Series `json:"series"`
}

// Series is one line of a curve. A floor is drawn dashed, in the colour of the series it is the
// floor of when they are added in pairs.
type Series struct {
	Name   string  `json:"name"`
	Floor  bool    `json:"floor,omitempty"`
	Points []Point `json:"points"`
}

// Point is one measurement: Y at load X.
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// addCurve keeps a curve for the charts. Series without points (a point not measured in this
// run, a peer not installed) are dropped; a curve with no series left is not kept.
func (b *bench) addCurve(c Curve) {
	kept := c.Series[:0]
	for _, s := range c.Series {
		if len(s.Points) > 0 {
			kept = append(kept, s)
		}
	}
	c.Series = kept
	if len(c.Series) == 0 {
		step("curve %s: nothing measured, not drawn", c.ID)
		return
	}
	b.res.Curves = append(b.res.Curves, c)
}

// curveFile is the chart file of a curve, in dir.
func curveFile(dir string, c Curve) string { return filepath.Join(dir, "curve-"+c.ID+".svg") }

// curvePalette is the colour of the i-th measured series; a floor takes its measured series'.
var curvePalette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

// writeCurves draws every curve of res as an SVG in dir.
func writeCurves(dir string, res *Results) error {
	for _, c := range res.Curves {
		if err := writeCurve(curveFile(dir, c), c); err != nil {
			return fmt.Errorf("curve %s: %w", c.ID, err)
		}
	}
	return nil
}

// writeCurve draws one curve: a line with points per series, floors dashed.
func writeCurve(path string, c Curve) error {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.X
	p.Y.Label.Text = c.Y
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	measured := -1
	for _, s := range c.Series {
		if !s.Floor {
			measured++
		}
		col := curvePalette[max(measured, 0)%len(curvePalette)]
		pts := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			if (c.LogX && pt.X <= 0) || (c.LogY && pt.Y <= 0) {
				continue // a log axis has no place for it
			}
			pts = append(pts, plotter.XY{X: pt.X, Y: pt.Y})
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color = col, col
		l.Width = vg.Points(1.5)
		sc.Shape = draw.CircleGlyph{}
		if s.Floor {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			sc.Shape = draw.BoxGlyph{}
		}
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// curvesMarkdown is the "Cost curves" section: each chart (its file relative to the Markdown
// file, ref) with its note and its points as a table.
func curvesMarkdown(res *Results, ref func(Curve) string) string {
	if len(res.Curves) == 0 {
		return ""
	}
	var b []byte
	b = fmt.Appendf(b, "\n## Cost curves\n\nHow each figure grows with the load, next to its floor measured at the same points in the same run\n(floors dashed). The numbers are also rows of the tables above, with their ratios.\n")
	for _, c := range res.Curves {
		b = fmt.Appendf(b, "\n### %s\n\n", c.Title)
		if r := ref(c); r != "" {
			b = fmt.Appendf(b, "![%s](%s)\n\n", c.Title, r)
		}
		if c.Note != "" {
			b = fmt.Appendf(b, "%s\n\n", c.Note)
		}
		b = append(b, curveTable(c)...)
	}
	return string(b)
}

// curveTable is a curve's points: one row per load, one column per series.
func curveTable(c Curve) string {
	var xs []float64
	seen := map[float64]bool{}
	for _, s := range c.Series {
		for _, pt := range s.Points {
			if !seen[pt.X] {
				seen[pt.X] = true
				xs = append(xs, pt.X)
			}
		}
	}
	slices.Sort(xs)
	var b []byte
	b = fmt.Appendf(b, "| %s |", c.X)
	for _, s := range c.Series {
		b = fmt.Appendf(b, " %s |", s.Name)
	}
	b = append(b, "\n|---:|"...)
	for range c.Series {
		b = append(b, "---:|"...)
	}
	b = append(b, '\n')
	for _, x := range xs {
		b = fmt.Appendf(b, "| %s |", strconv.FormatFloat(x, 'f', -1, 64))
		for _, s := range c.Series {
			cellText := ""
			for _, pt := range s.Points {
				if pt.X == x {
					cellText = fmt.Sprintf("%.4g", pt.Y)
					if math.Abs(pt.Y) >= 1e4 {
						cellText = fmt.Sprintf("%.0f", pt.Y) // a rate, not 1.494e+05
					}
				}
			}
			b = fmt.Appendf(b, " %s |", cellText)
		}
		b = append(b, '\n')
	}
	return string(b)
}
