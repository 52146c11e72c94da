package main

import (
	"strings"
	"testing"
	"time"
)

// samples makes n load samples, 5 s apart, with the given series.
func samples(n int, rss, wal func(i int) float64, inbox func(i int) int) []sampleRow {
	rows := make([]sampleRow, n)
	for i := range rows {
		rows[i] = sampleRow{
			t: time.Duration(i+1) * 5 * time.Second, phase: "load", accepted: 1500, acceptedPerS: 300, p99ms: 20,
			hubRSS: []float64{rss(i)}, pluginRSS: []float64{30}, walMB: wal(i), inbox: inbox(i),
		}
	}
	return rows
}

func TestJudge(t *testing.T) {
	constant := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	noise := func(base float64) func(int) float64 {
		return func(i int) float64 { return base + float64(i%3) } // wobbles, does not grow
	}
	o := options{rate: 300, rssLimitMB: 20, walLimitMB: 256}
	tests := []struct {
		name     string
		rows     []sampleRow
		wantOK   bool
		failLine string
	}{
		{"flat", samples(40, noise(45), noise(20), func(i int) int { return 20 + i%7 }), true, ""},
		{"memory leak", samples(40, func(i int) float64 { return 45 + float64(i) }, constant(20), func(int) int { return 10 }), false, "RSS"},
		{"WAL grows", samples(40, constant(45), func(i int) float64 { return float64(i) * 8 }, func(int) int { return 10 }), false, "WAL"},
		{"WAL over the limit", samples(40, constant(45), constant(300), func(int) int { return 10 }), false, "WAL"},
		{"falling behind", samples(40, constant(45), constant(20), func(i int) int { return i * 200 }), false, "queue"},
		{"too short", samples(5, constant(45), constant(20), func(int) int { return 0 }), false, "only 5 samples"},
		{"slow leak on a long run", samples(200, func(i int) float64 { return 45 + float64(i)*0.05 }, constant(20), func(int) int { return 10 }), false, "trend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.rows, o)
			text := v.summary(1, 0)
			if v.ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v:\n%s", v.ok, tt.wantOK, text)
			}
			if tt.failLine != "" && !strings.Contains(failLines(v), tt.failLine) {
				t.Fatalf("no FAIL line naming %q:\n%s", tt.failLine, text)
			}
		})
	}
}

func failLines(v verdict) string {
	var out []string
	for _, l := range v.lines {
		if strings.HasPrefix(l, "FAIL") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
