package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/riverqueue/river"
)

// ApplyOnCommit applies, in this process, the events this replica's inbox
// commits: each commit wakes it (Wakeups.Committed), and it applies until
// the inbox has nothing pending, until ctx ends. It is PostgreSQL's apply
// path (the inbox there enqueues no job).
//
// An apply job per inbox commit was a row PostgreSQL inserted, handed out
// and completed for each commit, at 1,000 webhooks a second one per
// webhook, and most such jobs found their events applied by another
// already; River's insert alone was 11 to 13% of the hub's CPU per delivery
// (docs/performance.md). A wake-up in memory costs nothing, and no fetch
// stands between the commit and its apply.
//
// What it cannot apply now (an error) it leaves to an apply job, which River
// retries with backoff. What a replica committed and never applied (it
// stopped between the two) the apply jobs of SweepJob apply, on any replica,
// and the one every hub enqueues when it starts.
func ApplyOnCommit(ctx context.Context, deps Deps, w *Wakeups, jc *jobs.Client) {
	var wg sync.WaitGroup
	for range appliers {
		wg.Go(func() { applyOnCommit(ctx, deps, w, jc) })
	}
	wg.Wait()
}

// appliers is how many of ApplyOnCommit's appliers a replica runs. One
// wakes per commit; while it finds a full chunk it wakes another, which
// takes the events after it (each locks its own), so a backlog is applied
// by several at once, each waiting for its own round trips.
const appliers = 2

func applyOnCommit(ctx context.Context, deps Deps, w *Wakeups, jc *jobs.Client) {
	aw := &ApplyEventsWorker{Deps: deps, Wakeups: w, jobs: jc}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		_, err := aw.run(ctx, time.Time{})
		if err == nil || ctx.Err() != nil {
			continue
		}
		if store.Unavailable(err) == nil {
			deps.Logger.Warn("applying committed events failed; an apply job retries them", "error", err)
		}
		if _, err := jc.Insert(ctx, ApplyEventsArgs{}, nil); err != nil && store.Unavailable(err) == nil {
			deps.Logger.Error("enqueuing an apply job for events not applied; the next sweep applies them", "error", err)
		}
	}
}

// SweepInterval is how often, on PostgreSQL, an apply job looks for events
// a replica committed and did not apply: at most this long after a replica
// stopped between an inbox commit and its apply, another applies them.
const SweepInterval = 5 * time.Second

// SweepJob is the periodic apply job of SweepInterval (River's leader
// enqueues it, once for all replicas). Where everything is applied it reads
// the pending events once and ends.
func SweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SweepInterval),
		func() (river.JobArgs, *river.InsertOpts) { return ApplyEventsArgs{}, nil },
		&river.PeriodicJobOpts{ID: "apply_sweep"})
}
