package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// verdict is the judgement of a run: whether memory, the WAL and the
// queue stayed flat under steady load.
type verdict struct {
	ok    bool
	lines []string
}

func (v *verdict) check(ok bool, format string, args ...any) {
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		v.ok = false
	}
	v.lines = append(v.lines, mark+" "+fmt.Sprintf(format, args...))
}

func (v verdict) summary(ok, errs int) string {
	head := "verdict: flat"
	if !v.ok {
		head = "verdict: NOT flat"
	}
	return fmt.Sprintf("%s (%d webhooks accepted, %d failed)\n  %s", head, ok, errs, strings.Join(v.lines, "\n  "))
}

// judge compares the second quarter of the load with the last one (the
// first quarter is warm-up: caches, SQLite's page cache, Go's heap target).
func judge(rows []sampleRow, o options) verdict {
	var load []sampleRow
	for _, r := range rows {
		if r.phase == "load" {
			load = append(load, r)
		}
	}
	v := verdict{ok: true}
	if len(load) > 0 {
		p99s := make([]float64, len(load))
		for i, r := range load {
			p99s[i] = r.p99ms
		}
		sort.Float64s(p99s)
		line := fmt.Sprintf("--   under load: %.0f accepted/s on average, p99 of a sample %.1f ms (median) / %.1f ms (worst)",
			mean(load, func(r sampleRow) float64 { return r.acceptedPerS }), p99s[len(p99s)/2], p99s[len(p99s)-1])
		for i := range load[0].hubRSS {
			line += fmt.Sprintf("; hub %d RSS at most %.0f MB + plugins %.0f MB", i,
				maxOf(load, func(r sampleRow) float64 { return r.hubRSS[i] }), maxOf(load, func(r sampleRow) float64 { return r.pluginRSS[i] }))
		}
		line += fmt.Sprintf("; inbox backlog at most %.0f", maxOf(load, func(r sampleRow) float64 { return float64(r.inbox) }))
		v.lines = append(v.lines, line)
	}
	if len(load) < 8 {
		v.check(false, "only %d samples under load: run longer or sample more often (-interval) to judge", len(load))
		return v
	}
	q := len(load) / 4
	second, last := load[q:2*q], load[len(load)-q:]
	half := load[len(load)/2:]

	for i := range load[0].hubRSS {
		hub := func(r sampleRow) float64 { return r.hubRSS[i] + r.pluginRSS[i] }
		a, b := mean(second, hub), mean(last, hub)
		allow := math.Max(0.10*a, 10)
		slope := slopePerHour(half, hub)
		v.check(b-a <= allow, "hub %d RSS (with plugins): %.1f MB in the second quarter, %.1f MB in the last (allowed +%.1f); trend over the second half %+.1f MB/h (limit %.0f)",
			i, a, b, allow, slope, o.rssLimitMB)
		if b-a <= allow && slope > o.rssLimitMB && len(half) >= 60 {
			// Long runs only: over a short one the trend is mostly noise.
			v.check(false, "hub %d RSS trend %+.1f MB/h above -rss-growth-limit %.0f", i, slope, o.rssLimitMB)
		}
	}

	wal := func(r sampleRow) float64 { return r.walMB }
	firstMax, secondMax := maxOf(load[:len(load)/2], wal), maxOf(half, wal)
	if o.databaseURL != "" && !strings.HasPrefix(o.databaseURL, "sqlite://") {
		v.lines = append(v.lines, "--   WAL: PostgreSQL (not measured here)")
	} else {
		v.check(secondMax <= firstMax*1.25+4 && secondMax <= o.walLimitMB,
			"WAL: at most %.1f MB in the first half, %.1f MB in the second (limit %.0f MB)", firstMax, secondMax, o.walLimitMB)
	}

	inbox := func(r sampleRow) float64 { return float64(r.inbox) }
	rate := float64(o.rate)
	if rate == 0 {
		rate = mean(load, func(r sampleRow) float64 { return r.acceptedPerS })
	}
	a, b := mean(second, inbox), mean(last, inbox)
	v.check(b <= a+2*rate, "queue: %.0f events awaiting apply in the second quarter, %.0f in the last (allowed +%.0f, two seconds of load)", a, b, 2*rate)

	okN, errN := 0, 0
	for _, r := range load {
		okN += r.accepted
		errN += r.errors
	}
	v.check(errN*1000 <= okN+errN, "errors: %d of %d requests (limit 0.1%%)", errN, okN+errN)
	return v
}

func mean(rows []sampleRow, f func(sampleRow) float64) float64 {
	if len(rows) == 0 {
		return 0
	}
	t := 0.0
	for _, r := range rows {
		t += f(r)
	}
	return t / float64(len(rows))
}

func maxOf(rows []sampleRow, f func(sampleRow) float64) float64 {
	m := 0.0
	for _, r := range rows {
		m = math.Max(m, f(r))
	}
	return m
}

// slopePerHour is the least-squares slope of f over time, per hour.
func slopePerHour(rows []sampleRow, f func(sampleRow) float64) float64 {
	n := float64(len(rows))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, r := range rows {
		x, y := r.t.Hours(), f(r)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
