// Package gcpolicy has Go's garbage collector run half as often while
// webhooks saturate the hub.
package gcpolicy

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Factor multiplies the garbage collector's percent (GOGC) while the hub
// is saturated.
//
// While a storm is accepted the hub's live heap is small (a few MB: the
// deliveries in flight and the connections' goroutine stacks), and its
// allocations per delivery are what they are, so the collector's work per
// delivery is the one lever: at twice the percent it runs half as often.
// In hubbench's closed loop (four alternated pairs) that took the hub's
// CPU per delivery from 95 to 113 µs down to 88 to 96 µs, and its RSS
// from 67 to 72 MB. Kept all
// the time, the storm's peak (in the drain after it, listing and
// correlating every incident) went from 74 to 78 MB to 83 to 86 MB, past
// the 80 MB budget: the percent goes back as soon as the hub is no longer
// saturated (round 26 in docs/performance-history.md).
const Factor = 2

// Interval is how often Run looks at the hub's load.
const Interval = 100 * time.Millisecond

// Run sets the percent to Factor times the configured one while
// saturated() holds, looking every Interval, and back when it stops
// holding and when ctx ends. It does nothing when GOGC is set in the
// environment (the operator's choice stands) or the collector is off.
func Run(ctx context.Context, saturated func() bool) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	base := Percent()
	if base <= 0 {
		return
	}
	raised := false
	set := func(up bool) {
		if up != raised {
			raised = up
			if up {
				debug.SetGCPercent(Factor * base)
			} else {
				debug.SetGCPercent(base)
			}
		}
	}
	defer set(false)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set(saturated())
		}
	}
}

// Percent is the collector's percent in force (-1: off), as the runtime
// reports it.
func Percent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
