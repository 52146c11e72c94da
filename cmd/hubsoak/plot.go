package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// series is one line of a panel.
type series struct {
	name string
	y    func(sampleRow) float64
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// plotRows draws the run as five stacked panels over minutes: throughput,
// p99, RSS, WAL and database size, and queue depth.
func plotRows(path string, rows []sampleRow, o options) error {
	rss := []series{}
	for i := range o.replicas {
		rss = append(rss,
			series{fmt.Sprintf("hub %d", i), func(r sampleRow) float64 { return r.hubRSS[i] }},
			series{fmt.Sprintf("hub %d plugins", i), func(r sampleRow) float64 { return r.pluginRSS[i] }})
	}
	panels := []struct {
		title, unit string
		lines       []series
	}{
		{"accepted webhooks", "per second", []series{{"accepted/s", func(r sampleRow) float64 { return r.acceptedPerS }}}},
		{"latency of the sample's requests", "ms", []series{
			{"p50", func(r sampleRow) float64 { return r.p50ms }}, {"p99", func(r sampleRow) float64 { return r.p99ms }}}},
		{"resident memory", "MB", rss},
		{"SQLite files", "MB", []series{
			{"WAL", func(r sampleRow) float64 { return r.walMB }}, {"database", func(r sampleRow) float64 { return r.dbMB }}}},
		{"queue depth", "rows", []series{
			{"inbox not applied", func(r sampleRow) float64 { return float64(r.inbox) }},
			{"River jobs waiting", func(r sampleRow) float64 { return float64(r.jobsAvailable) }},
			{"River jobs running", func(r sampleRow) float64 { return float64(r.jobsRunning) }}}},
	}
	grid := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Y.Label.Text = pn.unit
		p.Y.Min = 0
		p.X.Label.Text = "minutes (the load stops at the dashed line; drain after)"
		p.Add(plotter.NewGrid())
		for j, s := range pn.lines {
			xy := make(plotter.XYs, len(rows))
			for k, r := range rows {
				xy[k] = plotter.XY{X: r.t.Minutes(), Y: s.y(r)}
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color = palette[j%len(palette)]
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(s.name, l)
		}
		p.Legend.Top = true
		if end := loadEnd(rows); end > 0 {
			_, ymax := p.Y.Min, p.Y.Max
			mark, err := plotter.NewLine(plotter.XYs{{X: end, Y: 0}, {X: end, Y: ymax}})
			if err == nil {
				mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				mark.Color = color.Gray{Y: 0x80}
				p.Add(mark)
			}
		}
		grid[i] = []*plot.Plot{p}
	}
	img := vgimg.New(vg.Points(900), vg.Points(260*float64(len(panels))))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12), PadY: vg.Points(14)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		grid[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadEnd is the time (minutes) of the last sample under load.
func loadEnd(rows []sampleRow) float64 {
	end := 0.0
	for _, r := range rows {
		if r.phase == "load" {
			end = r.t.Minutes()
		}
	}
	return end
}
