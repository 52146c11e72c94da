package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
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
			log := hclog.NewNullLogger()
			if err := jobs.Migrate(ctx, st, log); err != nil {
				t.Fatal(err)
			}
			deps := pipeline.Deps{Store: st, Live: live.New(st, false, log), Logger: log, Metrics: metrics.New(metrics.Options{})}
			workers := river.NewWorkers()
			pipeline.AddWorkers(workers, deps, pipeline.WorkerOptions{Wakeups: pipeline.NewWakeups(st.Driver)})
			// River's job timeout is half of RescueAfter: 1 s here (2 s on
			// PostgreSQL, where each statement is a round trip), so a job
			// stops applying after 0.5 s (1 s), well after a transaction of
			// 256 events ends even on a loaded machine; the backlog takes a
			// few times as long.
			rescue := 2 * time.Second
			if driver == "postgres" {
				rescue = 4 * time.Second
			}
			jc, err := jobs.New(st, jobs.Options{Workers: workers, Logger: log, PollInterval: 50 * time.Millisecond, RescueAfter: rescue})
			if err != nil {
				t.Fatal(err)
			}

			const events = 10_000
			at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
			rows := make([]store.InboxEvent, events)
			for i := range rows {
				enc, err := store.EncodeInboxEvent(sdk.Event{ID: fmt.Sprintf("ev-%05d", i), Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
					Incident: &sdk.Incident{ExternalID: fmt.Sprintf("PBUDGET%05d", i), Title: "CPU hot", Status: "triggered", Urgency: "low", CreatedAt: at}})
				if err != nil {
					t.Fatal(err)
				}
				rows[i] = store.InboxEvent{Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u1", EventID: fmt.Sprintf("ev-%05d", i),
					EventType: "incident.triggered", Verified: true, Event: enc, ReceivedAt: time.Now().UTC()}
			}
			if got, err := store.InsertInbox(ctx, st.Bun(), rows); err != nil || len(got) != events {
				t.Fatalf("recording: %d rows, %v", len(got), err)
			}
			if _, err := jc.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				t.Fatal(err)
			}
			runJobs(t, jc)
			deadline := time.Now().Add(60 * time.Second)
			var c store.InboxCounts
			for time.Now().Before(deadline) {
				if c, err = st.CountInbox(ctx, pipeline.MaxEventAttempts); err == nil && c.Pending == 0 {
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if c.Pending != 0 {
				t.Fatalf("inbox: %+v (%v), want everything applied", c, err)
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
