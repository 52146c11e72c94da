package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestApplyTransactionsAreSmallWhileIngesting: on SQLite, while webhooks
// arrive, the apply worker's transactions take at most 8 events, so the
// inbox's commits (and the webhooks' answers) do not wait behind a large
// transaction on its one connection; with no webhook arriving it takes 256
// again. PostgreSQL always takes 256 (the inbox has connections of its own,
// and each commit is a WAL flush). The events of one transaction share their
// applied_at.
func TestApplyTransactionsAreSmallWhileIngesting(t *testing.T) {
	tests := []struct {
		name      string
		ingesting bool
		// wantLarge is the largest transaction, in events, per driver.
		wantLarge map[string]int
	}{
		{name: "webhooks arriving", ingesting: true, wantLarge: map[string]int{"sqlite": 8, "postgres": 256}},
		{name: "idle", ingesting: false, wantLarge: map[string]int{"sqlite": 256, "postgres": 256}},
	}
	for _, driver := range storetest.Backends(t) {
		for _, tt := range tests {
			t.Run(driver+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				st := storetest.Open(t, driver)
				wakeups := pipeline.NewWakeups(st.Driver)
				client := pipelineJobs(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: wakeups})

				recordTriggered(t, st, 300, "PCHUNK")

				// Webhooks arriving: the inbox committed a moment ago. The
				// window is widened so that the answer does not depend on how
				// quickly a loaded machine schedules the test's goroutines.
				if tt.ingesting {
					wakeups.SetIngestWindow(time.Minute)
					wakeups.Committed(1)
				}

				if _, err := client.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
					t.Fatal(err)
				}
				runJobs(t, client)
				if c := waitInboxDrained(t, st, 20*time.Second); c.Pending != 0 {
					t.Fatalf("inbox: %+v, want everything applied", c)
				}

				var sizes []int
				if err := st.Bun().NewSelect().Table("webhook_inbox").ColumnExpr("count(*)").Group("applied_at").Scan(ctx, &sizes); err != nil {
					t.Fatal(err)
				}
				largest := 0
				for _, n := range sizes {
					largest = max(largest, n)
				}
				if want := tt.wantLarge[driver]; largest != want {
					t.Errorf("transactions applied %v events: the largest %d, want %d", sizes, largest, want)
				}
			})
		}
	}
}
