package pipeline

import (
	"time"

	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/riverqueue/river"
)

// WorkerOptions are what the pipeline's workers take besides Deps.
type WorkerOptions struct {
	// Wakeups signals the apply worker (NewWakeups(driver)), and tells
	// early correlation when to yield (webhooks arriving, apply behind).
	Wakeups *Wakeups
	// Analyzer runs root-cause analyses; the builtin one when nil.
	Analyzer rca.Analyzer
	// RunFor bounds one run of a process_incidents job (see
	// ProcessIncidentsWorker); its default when zero.
	RunFor time.Duration
}

// AddWorkers registers every worker of the pipeline. The apply worker
// enqueues the processing jobs and those enqueue analyses, so the set is
// registered as one: the hub and its tests run the same workers.
func AddWorkers(workers *river.Workers, deps Deps, o WorkerOptions) {
	if o.Analyzer == nil {
		o.Analyzer = rca.NewBuiltin()
	}
	river.AddWorker(workers, &ApplyEventsWorker{Deps: deps, Wakeups: o.Wakeups})
	river.AddWorker(workers, &ProcessIncidentWorker{Deps: deps})
	river.AddWorker(workers, &CorrelateIncidentsWorker{Deps: deps, Wakeups: o.Wakeups})
	river.AddWorker(workers, &ProcessIncidentsWorker{Deps: deps, RunFor: o.RunFor})
	river.AddWorker(workers, &RCAWorker{Deps: deps, Analyzer: o.Analyzer})
}
