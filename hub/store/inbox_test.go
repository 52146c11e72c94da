package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
)

// TestInsertInbox: new events are inserted with their ids, repeats (in the
// same call or a later one) are skipped, and what is stored reads back as
// Bun wrote it, on both databases (SQLite takes a path of its own).
func TestInsertInbox(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			at := time.Date(2026, 12, 1, 10, 0, 0, 123456000, time.UTC)
			occurred := at.Add(-time.Minute)
			ev := func(id string) store.InboxEvent {
				return store.InboxEvent{Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user", OwnerID: "u1", EventID: id,
					WebhookID: "w-" + id, EventType: "incident.triggered", OccurredAt: &occurred, Verified: true,
					Event: `{"id":"` + id + `","note":"it's"}`, ReceivedAt: at}
			}
			steps := []struct {
				name   string
				events []store.InboxEvent
				want   []string // event ids inserted
			}{
				{"new, with a repeat in the batch", []store.InboxEvent{ev("e1"), ev("e2"), ev("e1")}, []string{"e1", "e2"}},
				{"repeats of earlier batches", []store.InboxEvent{ev("e2"), ev("e3"), ev("e1")}, []string{"e3"}},
				{"nothing new", []store.InboxEvent{ev("e3")}, nil},
			}
			for _, st := range steps {
				var got []store.InboxEvent
				err := s.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					var err error
					got, err = store.InsertInbox(ctx, tx, st.events)
					return err
				})
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if len(got) != len(st.want) {
					t.Fatalf("%s: inserted %+v, want %v", st.name, got, st.want)
				}
				for i, g := range got {
					if g.EventID != st.want[i] || g.ID == 0 || g.Provider != "pagerduty" || g.ConnectionID != "c1" {
						t.Fatalf("%s: inserted[%d] = %+v, want event %s with an id", st.name, i, g, st.want[i])
					}
				}
			}
			var stored []store.InboxEvent
			if err := s.Bun().NewSelect().Model(&stored).Order("id").Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if len(stored) != 3 {
				t.Fatalf("stored %d events, want 3", len(stored))
			}
			for _, e := range stored {
				want := ev(e.EventID)
				if !e.ReceivedAt.Equal(at) || e.OccurredAt == nil || !e.OccurredAt.Equal(occurred) || e.Event != want.Event ||
					!e.Verified || e.WebhookID != want.WebhookID || e.AppliedAt != nil || e.Attempts != 0 || e.LastError != "" {
					t.Fatalf("stored %+v, want %+v", e, want)
				}
			}
			// Every column given is stored (a dead letter recorded as such).
			dead := ev("e4")
			dead.Attempts, dead.LastError = 10, "boom"
			if _, err := store.InsertInbox(ctx, s.Bun(), []store.InboxEvent{dead}); err != nil {
				t.Fatal(err)
			}
			var got store.InboxEvent
			if err := s.Bun().NewSelect().Model(&got).Where("event_id = ?", "e4").Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if got.Attempts != 10 || got.LastError != "boom" || got.AppliedAt != nil {
				t.Fatalf("dead letter stored as %+v", got)
			}
			// A time Bun writes compares with the stored one as a time.
			n, err := s.Bun().NewSelect().Model((*store.InboxEvent)(nil)).Where("received_at < ?", at.Add(time.Microsecond)).Count(ctx)
			if err != nil || n != 4 {
				t.Fatalf("events received before %s: %d, %v; want 4", at.Add(time.Microsecond), n, err)
			}
		})
	}
}

// TestStatementCacheNestedQueries: a statement whose rows are still being
// read can be run again on the same connection (the cache hands out a
// fresh one), and both give their own results.
func TestStatementCacheNestedQueries(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, "sqlite")
	const q = "SELECT value FROM json_each(?)"
	err := s.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		outer, err := tx.Tx.QueryContext(ctx, q, "[1,2,3]")
		if err != nil {
			return err
		}
		defer outer.Close()
		var sums []int
		for outer.Next() {
			var v int
			if err := outer.Scan(&v); err != nil {
				return err
			}
			inner, err := tx.Tx.QueryContext(ctx, q, "[10,20]")
			if err != nil {
				return err
			}
			sum := v
			for inner.Next() {
				var w int
				if err := inner.Scan(&w); err != nil {
					return err
				}
				sum += w
			}
			if err := inner.Close(); err != nil {
				return err
			}
			sums = append(sums, sum)
		}
		if err := outer.Err(); err != nil {
			return err
		}
		if len(sums) != 3 || sums[0] != 31 || sums[1] != 32 || sums[2] != 33 {
			t.Errorf("sums = %v, want [31 32 33]", sums)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
