package retention_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/retention"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time { t := now.Add(-d); return &t }

func TestPrune(t *testing.T) {
	const day = 24 * time.Hour
	// Each row: when received, when applied (nil: not yet), attempts, and
	// whether a 7-day retention prunes it.
	rows := []struct {
		event    string
		received time.Duration
		applied  *time.Time
		attempts int
		pruned   bool
	}{
		{"old-applied-1", 30 * day, ago(30 * day), 1, true},
		{"old-applied-2", 20 * day, ago(20 * day), 1, true},
		{"old-applied-3", 8 * day, ago(8 * day), 1, true},
		{"old-applied-after-retries", 9 * day, ago(8 * day), 4, true},
		{"old-applied-4", 7*day + time.Minute, ago(7*day + time.Minute), 1, true},
		{"old-applied-recently", 10 * day, ago(day), 1, false},
		{"old-pending", 30 * day, nil, 3, false},
		{"old-dead-letter", 30 * day, nil, pipeline.MaxEventAttempts, false},
		{"recent-applied", 3 * day, ago(3 * day), 1, false},
		{"within-pagerduty-retries", time.Hour, ago(time.Hour), 1, false},
		{"just-inside-retention", 7*day - time.Minute, ago(7*day - time.Minute), 1, false},
	}
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			var events []store.InboxEvent
			for _, r := range rows {
				events = append(events, store.InboxEvent{
					Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user", OwnerID: "u1",
					EventID: r.event, EventType: "incident.triggered", Event: "{}", ReceivedAt: now.Add(-r.received),
				})
			}
			if _, err := store.InsertInbox(ctx, st.Bun(), events); err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if _, err := st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).
					Set("applied_at = ?", r.applied).Set("attempts = ?", r.attempts).
					Where("event_id = ?", r.event).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i, exp := range []time.Duration{-time.Hour, -time.Second, time.Second, time.Hour} {
				if err := st.CreateOAuthState(ctx, &store.OAuthState{
					StateHash: fmt.Sprintf("h%d", i), Provider: "pagerduty", UserID: "u1", Verifier: []byte{1},
					RedirectURI: "http://x", CreatedAt: now.Add(-10 * time.Minute), ExpiresAt: now.Add(exp),
				}); err != nil {
					t.Fatal(err)
				}
			}

			// Batches of 2: the five prunable rows take three statements.
			res, err := retention.Prune(ctx, st, now, retention.Options{WebhookRetention: 7 * day, Batch: 2, Pause: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.InboxEvents != 5 || res.OAuthStates != 2 {
				t.Errorf("pruned %+v, want 5 inbox events and 2 OAuth states", res)
			}
			var left []string
			if err := st.Bun().NewSelect().Model((*store.InboxEvent)(nil)).Column("event_id").Scan(ctx, &left); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range rows {
				if !r.pruned {
					want = append(want, r.event)
				}
			}
			sort.Strings(left)
			sort.Strings(want)
			if fmt.Sprint(left) != fmt.Sprint(want) {
				t.Errorf("left %v\nwant %v", left, want)
			}
			var states []string
			if err := st.Bun().NewSelect().Model((*store.OAuthState)(nil)).Column("state_hash").Order("state_hash").Scan(ctx, &states); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(states) != "[h2 h3]" {
				t.Errorf("OAuth states left %v, want the two unexpired", states)
			}

			// A redelivery of a kept event is still recognised; a second
			// run finds nothing.
			ins, err := store.InsertInbox(ctx, st.Bun(), events[len(events)-2:len(events)-1])
			if err != nil || len(ins) != 0 {
				t.Fatalf("redelivery inserted %d rows (%v)", len(ins), err)
			}
			if res, err := retention.Prune(ctx, st, now, retention.Options{WebhookRetention: 7 * day}); err != nil || res != (retention.Result{}) {
				t.Fatalf("second run = %+v, %v", res, err)
			}
		})
	}
}

func TestPruneRefusesShortRetention(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	if _, err := retention.Prune(context.Background(), st, now, retention.Options{WebhookRetention: 47 * time.Hour}); err == nil {
		t.Fatal("a retention shorter than PagerDuty's 48 h of retries was accepted")
	}
}

// TestPruneKeepsIdsRising: when every row is old and applied, the newest
// is kept, so the next webhook's id is above every id given before (on
// SQLite a rowid table gives the largest id plus one: pruning every row
// would hand out ids again from 1, below the apply worker's last read).
func TestPruneKeepsIdsRising(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			record := func(id string) int64 {
				t.Helper()
				ins, err := store.InsertInbox(ctx, st.Bun(), []store.InboxEvent{{Provider: "pagerduty", ConnectionID: "c1", OwnerKind: "user",
					OwnerID: "u1", EventID: id, EventType: "incident.triggered", Event: "{}", ReceivedAt: now.Add(-30 * 24 * time.Hour)}})
				if err != nil || len(ins) != 1 {
					t.Fatalf("recording %s: %v %v", id, ins, err)
				}
				return ins[0].ID
			}
			var last int64
			for i := range 4 {
				last = record(fmt.Sprintf("old-%d", i))
			}
			if _, err := st.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).Set("applied_at = ?", ago(30*24*time.Hour)).
				Set("attempts = 1").Where("1 = 1").Exec(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := retention.Prune(ctx, st, now, retention.Options{WebhookRetention: 7 * 24 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if res.InboxEvents != 3 {
				t.Errorf("pruned %d inbox events, want 3 (all but the newest)", res.InboxEvents)
			}
			if next := record("new"); next <= last {
				t.Errorf("the next webhook's id is %d, not above %d, the largest given before", next, last)
			}
		})
	}
}
