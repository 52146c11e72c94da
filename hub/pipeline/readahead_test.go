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

// TestOneApplyJobAtATime: on SQLite a second apply job waits until the
// first ends (two took turns on the one writer, each taking the events the
// other had read ahead), or gives up with its context; on PostgreSQL
// replicas' jobs run side by side.
func TestOneApplyJobAtATime(t *testing.T) {
	ctx := context.Background()
	w := pipeline.NewWakeups("sqlite")
	done, err := w.Started(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		d, err := w.Started(ctx)
		if err == nil {
			d()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("a second job started while the first ran (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	done()
	if err := <-second; err != nil {
		t.Fatalf("the second job after the first: %v", err)
	}

	hold, err := w.Started(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := w.Started(short); err == nil {
		t.Error("a waiting job ignored its context")
	}

	pg := pipeline.NewWakeups("postgres")
	a, err := pg.Started(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a()
	b, err := pg.Started(short)
	if err != nil {
		t.Errorf("PostgreSQL: a second job waited: %v", err)
	} else {
		b()
	}
}
