package incidents_test

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// TestApplyBatchOpened: an incident is reported opened once, by the batch
// that gives it its first state, whether it was unknown or a placeholder.
func TestApplyBatchOpened(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u-opened", ConnectionID: "c1"}
		tests := []struct {
			name   string
			events []sdk.Event
			opened int
		}{
			{"new incident", []sdk.Event{event("o1", "incident.triggered", at(0), full("PO1", "triggered"))}, 1},
			{"known incident", []sdk.Event{event("o2", "incident.acknowledged", at(1), full("PO1", "acknowledged"))}, 0},
			{"replay", []sdk.Event{event("o1", "incident.triggered", at(0), full("PO1", "triggered"))}, 0},
			{"placeholder only", []sdk.Event{fieldsEvent("o3", "PO2", at(2), field("region", "eu"))}, 0},
			{"placeholder filled", []sdk.Event{event("o4", "incident.triggered", at(1), full("PO2", "triggered"))}, 1},
			{"new and placeholder in one batch", []sdk.Event{
				fieldsEvent("o5", "PO3", at(3), field("region", "us")),
				event("o6", "incident.triggered", at(3), full("PO3", "triggered")),
				event("o7", "incident.triggered", at(3), full("PO4", "triggered")),
			}, 2},
		}
		for _, tt := range tests {
			items := make([]incidents.Item, len(tt.events))
			for i, ev := range tt.events {
				items[i] = incidents.Item{Src: src, Event: ev}
			}
			var opened []string
			err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var err error
				_, opened, err = incidents.ApplyBatchOpened(ctx, tx, items)
				return err
			})
			if err != nil || len(opened) != tt.opened {
				t.Fatalf("%s: opened %v, %v; want %d", tt.name, opened, err, tt.opened)
			}
		}
	})
}

// TestApplyBatchLifecycleResolved: an incident is reported resolved once,
// by the batch that resolves it; a replay or an older event does not count.
func TestApplyBatchLifecycleResolved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u-resolved", ConnectionID: "c1"}
		tests := []struct {
			name             string
			events           []sdk.Event
			opened, resolved int
		}{
			{"triggered", []sdk.Event{event("r1", "incident.triggered", at(0), full("PR1", "triggered"))}, 1, 0},
			{"resolved", []sdk.Event{event("r2", "incident.resolved", at(2), full("PR1", "resolved"))}, 0, 1},
			{"replayed resolve", []sdk.Event{event("r2", "incident.resolved", at(2), full("PR1", "resolved"))}, 0, 0},
			{"older acknowledge", []sdk.Event{event("r3", "incident.acknowledged", at(1), full("PR1", "acknowledged"))}, 0, 0},
			{"opened and resolved in one batch", []sdk.Event{
				event("r4", "incident.triggered", at(3), full("PR2", "triggered")),
				event("r5", "incident.resolved", at(4), full("PR2", "resolved")),
			}, 1, 1},
		}
		for _, tt := range tests {
			items := make([]incidents.Item, len(tt.events))
			for i, ev := range tt.events {
				items[i] = incidents.Item{Src: src, Event: ev}
			}
			var lc incidents.Lifecycle
			err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var err error
				_, lc, err = incidents.ApplyBatchLifecycle(ctx, tx, items)
				return err
			})
			if err != nil || len(lc.Opened) != tt.opened || len(lc.Resolved) != tt.resolved {
				t.Fatalf("%s: %+v, %v; want opened %d, resolved %d", tt.name, lc, err, tt.opened, tt.resolved)
			}
		}
	})
}
