package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/riverqueue/river"
)

// TestInboxCommitsWakeTheApplier: webhooks recorded one commit at a time
// are all applied. On PostgreSQL no commit enqueues an apply job: each wakes
// the replica's ApplyOnCommit (a job row per commit was most of what
// PostgreSQL did per webhook at 1,000 a second). On SQLite a commit
// enqueues one only when none is waiting to start.
func TestInboxCommitsWakeTheApplier(t *testing.T) {
	const deliveries = 40
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			deps := testDeps(st)
			wakeups := pipeline.NewWakeups(st.Driver)
			jc := pipelineJobs(t, st, deps, pipeline.WorkerOptions{Wakeups: wakeups})
			runJobs(t, jc)
			if driver == "postgres" {
				applyCtx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { pipeline.ApplyOnCommit(applyCtx, deps, wakeups, jc); close(done) }()
				t.Cleanup(func() { stop(); <-done })
			}
			inbox := startInbox(t, st, jc, wakeups)

			for i := range deliveries {
				if n, err := inbox.Record(ctx, "conn-1", []store.InboxEvent{triggered(t, fmt.Sprintf("WAKE%03d", i), "S1", "CPU hot", time.Now().UTC())}); err != nil || n != 1 {
					t.Fatalf("delivery %d: recorded %d, %v", i, n, err)
				}
			}
			if c := waitInboxDrained(t, st, 20*time.Second); c.Pending != 0 {
				t.Fatalf("inbox: %+v, want every delivery applied", c)
			}
			var applyJobs int
			if err := st.Bun().NewSelect().Table("river_job").ColumnExpr("count(*)").
				Where("kind = ?", pipeline.ApplyEventsArgs{}.Kind()).Scan(ctx, &applyJobs); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{"postgres": 0, "sqlite": deliveries}[driver]
			if applyJobs > want {
				t.Errorf("%d apply jobs for %d commits, want at most %d", applyJobs, deliveries, want)
			}
			t.Logf("%s: %d apply jobs for %d commits", driver, applyJobs, deliveries)
		})
	}
}

// TestSweepAppliesWhatAReplicaLeft: events committed by a replica that
// stopped before applying them (recorded here with no wake-up) are applied
// by the sweep's periodic apply job on PostgreSQL, within its interval and
// River's leader election.
func TestSweepAppliesWhatAReplicaLeft(t *testing.T) {
	if !slices.Contains(storetest.Backends(t), "postgres") {
		t.Skip("the sweep runs on PostgreSQL")
	}
	st := storetest.Open(t, "postgres")
	jc := pipelineJobsWith(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: pipeline.NewWakeups(st.Driver)},
		jobs.Options{PeriodicJobs: []*river.PeriodicJob{pipeline.SweepJob()}})
	recordTriggered(t, st, 20, "SWEEP")
	runJobs(t, jc)
	if c := waitInboxDrained(t, st, 30*time.Second); c.Pending != 0 {
		t.Fatalf("inbox: %+v, want what the stopped replica left applied", c)
	}
}
