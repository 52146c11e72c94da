package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
)

// TestConfirmAhead: an apply transaction on SQLite takes the events read
// ahead on a read connection only while they are still the first pending
// ones; otherwise it reads its chunk itself, so no event is applied out of
// order, twice, or skipped.
func TestConfirmAhead(t *testing.T) {
	tests := []struct {
		name   string
		after  int // the read ahead starts after this many events
		change func(ctx context.Context, st *store.Store, ids []int64) error
		want   []int // indexes of the events the transaction takes
	}{
		{name: "still the first pending", want: []int{0, 1, 2}},
		{name: "read after an earlier pending event", after: 1, want: []int{0, 1, 2}},
		{name: "applied meanwhile", change: func(ctx context.Context, st *store.Store, ids []int64) error {
			return store.MarkInboxApplied(ctx, st.Bun(), ids[:2], time.Now())
		}, want: []int{2, 3, 4}},
		{name: "one given up on meanwhile", change: func(ctx context.Context, st *store.Store, ids []int64) error {
			_, err := st.Bun().NewUpdate().Table("webhook_inbox").Set("attempts = ?", pipeline.MaxEventAttempts).Where("id = ?", ids[1]).Exec(ctx)
			return err
		}, want: []int{0, 2, 3}},
		{name: "nothing read ahead", after: -1, want: []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, "sqlite")
			at := time.Now().UTC()
			rows := make([]store.InboxEvent, 6)
			for i := range rows {
				rows[i] = triggered(t, fmt.Sprintf("PC%d", i), "S1", "disk full", at)
			}
			if _, err := store.InsertInbox(ctx, st.Bun(), rows); err != nil {
				t.Fatal(err)
			}
			all, err := store.PendingInbox(ctx, st.Bun(), nil, 10, pipeline.MaxEventAttempts)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]int64, len(all))
			for i, e := range all {
				ids[i] = e.ID
			}
			var ahead []store.PendingEvent
			if tt.after >= 0 {
				var after int64
				if tt.after > 0 {
					after = ids[tt.after-1]
				}
				if ahead, err = store.PendingInboxAfter(ctx, st.Reads(), after, 3, pipeline.MaxEventAttempts); err != nil {
					t.Fatal(err)
				}
				if len(ahead) != 3 || ahead[0].ID != ids[tt.after] || ahead[0].Event.Incident == nil {
					t.Fatalf("read ahead %+v, want 3 decoded events from %d", ahead, ids[tt.after])
				}
			}
			if tt.change != nil {
				if err := tt.change(ctx, st, ids); err != nil {
					t.Fatal(err)
				}
			}
			var got []int64
			err = st.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				events, err := pipeline.ConfirmAhead(ctx, tx, ahead, 3)
				for _, e := range events {
					got = append(got, e.ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, i := range tt.want {
				want = append(want, ids[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("took events %v, want %v", got, want)
			}
		})
	}
}

// TestOneApplyJobAtATime: on SQLite one apply job runs at a time (two took
// turns on the one writer, each taking the events the other had read
// ahead); another is turned away at once, and the one running looks at the
// inbox again before it lets go, so the wakeup is not lost. On PostgreSQL
// replicas' jobs run side by side.
func TestOneApplyJobAtATime(t *testing.T) {
	w := pipeline.NewWakeups("sqlite")
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"a first job starts", w.Started, true},
		// Never waiting: behind a long backlog it would wait past River's
		// job timeout.
		{"a second job, while the first runs, is turned away at once", w.Started, false},
		{"a third one too", w.Started, false},
		{"the first, done, looks at the inbox again (still holding the gate)", w.Finished, true},
		{"a job is still turned away meanwhile", w.Started, false},
		{"the first looks again once more", w.Finished, true},
		{"and then ends", w.Finished, false},
		{"a job after it starts", w.Started, true},
		{"and ends with nothing turned away", w.Finished, false},
		{"a job starts", w.Started, true},
		{"another is turned away", w.Started, false},
		{"the first stops early (River runs it again)", func() bool { w.Stopped(); return false }, false},
		{"a job after it starts", w.Started, true},
		// The one turned away before the abort is looked after by the
		// aborted job's next run; one look more here is harmless.
		{"and looks again once", w.Finished, true},
		{"then ends", w.Finished, false},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}

	pg := pipeline.NewWakeups("postgres")
	for i := range 3 {
		if !pg.Started() {
			t.Fatalf("PostgreSQL: job %d was turned away", i+1)
		}
	}
	if pg.Finished() {
		t.Error("PostgreSQL: a job was told to look again")
	}
}
