package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestApplyJobStopsAtHalfItsTime: a backlog that takes longer than River's
// job timeout to apply is applied by a chain of jobs, each ending (and
// enqueueing the next) when half its time is spent, never cut off by the
// timeout with an error.
func TestApplyJobStopsAtHalfItsTime(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			// River's job timeout is half of RescueAfter: 1 s here (2 s on
			// PostgreSQL, where each statement is a round trip), so a job
			// stops applying after 0.5 s (1 s), well after a transaction of
			// 256 events ends even on a loaded machine; the backlog takes a
			// few times as long.
			rescue := 2 * time.Second
			if driver == "postgres" {
				rescue = 4 * time.Second
			}
			jc := pipelineJobsWith(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: pipeline.NewWakeups(st.Driver)}, jobs.Options{RescueAfter: rescue})

			recordTriggered(t, st, 10_000, "PBUDGET")
			if _, err := jc.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			runJobs(t, jc)
			if c := waitInboxDrained(t, st, time.Minute); c.Pending != 0 {
				t.Fatalf("inbox: %+v, want everything applied", c)
			}

			// Every apply job done without an error, and the budget used:
			// more than one job ran.
			var all, failed int
			if err := st.Bun().NewSelect().Table("river_job").ColumnExpr("count(*)").ColumnExpr("count(*) FILTER (WHERE errors IS NOT NULL)").
				Where("kind = ?", pipeline.ApplyEventsArgs{}.Kind()).Scan(ctx, &all, &failed); err != nil {
				t.Fatal(err)
			}
			if failed != 0 {
				t.Errorf("%d of %d apply jobs failed (cut off by River's job timeout?)", failed, all)
			}
			if all < 2 {
				t.Errorf("%d apply job: none stopped at half its time (the backlog took less than the budget: make it larger)", all)
			}
		})
	}
}
