package main

import (
	"fmt"
	"io"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func secs(d time.Duration) string {
	if d < 0 {
		return "not within the wait"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// mb is n bytes in MB (MiB), to a tenth: the memory target is 80 MB, and a
// whole number hid which side of it a peak of 80 was on.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// report prints the table, the ratios the targets are stated in, and the
// storm's drain.
func report(w io.Writer, o options, rows []*row) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| path | accepted/s | p99 | errors | p50 / p99 at %d/s | peak RSS hub + plugin |\n", o.rate)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	byName := map[string]*row{}
	for _, r := range rows {
		if !r.ran {
			continue
		}
		byName[r.kind+"/"+r.mix+"/"+r.db] = r
		fixed, rss := "", ""
		if r.hubRow {
			fixed = fmt.Sprintf("%s / %s", ms(r.fixed.P50), ms(r.fixed.P99))
			if r.fixedErrs > 0 {
				fixed += fmt.Sprintf(" (%d errors)", r.fixedErrs)
			}
			rss = mb(r.peakRSS)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %d | %s | %s |\n", r.name, r.throughput, ms(r.tp.P99), r.errors, fixed, rss)
	}
	fmt.Fprintln(w)
	ratio := func(a, b *row, what string) {
		if a != nil && b != nil && b.throughput > 0 {
			fmt.Fprintf(w, "%s: %.0f%%\n", what, 100*a.throughput/b.throughput)
		}
	}
	naive := byName[kindNaivePlugin+"/lifecycle/"]
	for _, db := range []string{"sqlite", "postgres"} {
		lc, st := byName[kindHub+"/lifecycle/"+db], byName[kindHub+"/storm/"+db]
		ratio(lc, naive, "hub lifecycle ("+db+") / naive plugin + insert")
		ratio(st, lc, "hub storm / hub lifecycle ("+db+")")
	}
	cpuTable(w, rows, "in the closed loop", func(r *row) cpuUse { return r.closedCPU })
	cpuTable(w, rows, fmt.Sprintf("at %d/s", o.rate), func(r *row) cpuUse { return r.fixedCPU })
	for _, r := range rows {
		if !r.ran || r.drain == nil {
			continue
		}
		d := r.drain
		fmt.Fprintf(w, "\n%s, storm of %s at %d/s: %d accepted, %d errors, p50 / p99 %s / %s\n", r.name, o.duration, o.stormRate, r.stormOK, r.stormErrs, ms(r.stormLat.P50), ms(r.stormLat.P99))
		fmt.Fprintf(w, "  after the last 202: every event applied in %s; every incident listed by GET /incidents in %s (%d listed); every incident's correlation decided in %s (%d of %d; %d joined another); enrichment + correlation of every incident done in %s (%d of %d)\n",
			secs(d.applied), secs(d.listed), d.listedCount, secs(d.decided), d.decidedCount, d.jobs, d.correlated, secs(d.processed), d.processedCount, d.jobs)
		fmt.Fprintf(w, "  accept to visible (202 to the incident stored, %d incidents): p50 %s, p99 %s\n", d.visibleN, ms(d.visible.P50), ms(d.visible.P99))
		fmt.Fprintf(w, "  peak RSS hub + plugin over the run's phases: %s (hub alone %s, plugin alone %s)\n", mb(r.peakRSS), mb(r.peakHub), mb(r.peakPlugin))
	}
}

// cpuTable prints each row's CPU per accepted delivery in one phase.
func cpuTable(w io.Writer, rows []*row, phase string, use func(*row) cpuUse) {
	header := false
	for _, r := range rows {
		u := use(r)
		if !r.ran || u.delivered == 0 {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nCPU per accepted delivery %s (server process, and its plugin process; the pipeline's work during the run included; the load generator's own):\n", phase)
			header = true
		}
		per := func(d time.Duration) string {
			return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(u.delivered))
		}
		fmt.Fprintf(w, "  %s: server %s, plugin %s (%.1f s and %.1f s of CPU)", r.name, per(u.hub), per(u.plugin), u.hub.Seconds(), u.plugin.Seconds())
		if r.db == "postgres" {
			fmt.Fprintf(w, "; PostgreSQL's processes %s (%.1f s, other clients of the server included)", per(u.db), u.db.Seconds())
		}
		fmt.Fprintf(w, "; load generator %s\n", per(u.gen))
	}
}
