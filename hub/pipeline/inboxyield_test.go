package pipeline_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestInboxCommitsAPluginBatchTogether hands the inbox of a saturated hub
// (the apply worker defers), as the plugin's answer to a batch does, many
// deliveries at once: their handlers become runnable together and record
// their rows one after the other. Those rows go into one commit, or two.
// Before round 23 the writer, woken by the first row, ran before the other
// handlers and committed it alone, and then most of the others alone too:
// 145 to 160 commits for 160 deliveries on one P (about 5 deliveries a
// commit against the plugin's 18 in hubbench's closed loop).
func TestInboxCommitsAPluginBatchTogether(t *testing.T) {
	const (
		rounds = 10
		batch  = 16 // deliveries a plugin's answer hands over
	)
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	wakeups := pipeline.NewWakeups(st.Driver)
	wakeups.SetIngestWindow(time.Hour) // the rounds below count as one spell of load
	inbox := startInbox(t, st, pipelineJobs(t, st, testDeps(st), pipeline.WorkerOptions{Wakeups: wakeups}), wakeups)
	commits := storetest.CountQueries(st.Bun(), func(q string) bool { return q == "COMMIT" })

	// A saturated hub: the inbox's commits gather many deliveries, and the
	// apply worker's last rest deferred its events.
	for range 8 {
		wakeups.Committed(2 * batch)
	}
	if wakeups.Rest(time.Millisecond, time.Now()); !wakeups.Deferring() {
		t.Fatal("the apply worker does not defer in a saturated hub")
	}
	// One P: the handlers run in turn, each until it waits for its commit,
	// as they do on a busy machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range rounds {
		rows := make([]store.InboxEvent, batch)
		for i := range rows {
			rows[i] = triggered(t, fmt.Sprintf("P%02d%02d", round, i), "S1", "CPU hot", time.Now().UTC())
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, row := range rows {
			wg.Go(func() {
				<-start
				if n, err := inbox.Record(ctx, row.ConnectionID, []store.InboxEvent{row}); err != nil || n != 1 {
					t.Errorf("recording %s: %d new, %v", row.EventID, n, err)
				}
			})
		}
		close(start) // the plugin's answer: every handler runnable at once
		wg.Wait()
	}
	// One or two commits a round; a few rounds may split more when
	// something else takes the P between two handlers.
	if n := commits.Load(); n > 3*rounds {
		t.Errorf("%d deliveries went into %d commits, want at most %d", rounds*batch, n, 3*rounds)
	}
	var rows int
	if err := st.Bun().NewSelect().Table("webhook_inbox").ColumnExpr("count(*)").Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != rounds*batch {
		t.Errorf("%d rows recorded, want %d", rows, rounds*batch)
	}
}
