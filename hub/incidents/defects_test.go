package incidents_test

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/uptrace/bun"
)

// Defects found with real clients (issue #9), each reproduced first.

// An incident that fires again after it resolved starts a new episode: its
// startedAt is the refire's time and resolvedAt clears.
func TestRefireAfterResolveMovesStartedAt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id, _ := apply(t, db, src1, event("r1", "incident.triggered", at(0), full("PRF", "triggered")))
		apply(t, db, src1, event("r2", "incident.resolved", at(3), full("PRF", "resolved")))
		apply(t, db, src1, event("r3", "incident.triggered", at(10), full("PRF", "triggered")))
		d := get(t, db, owner1, id)
		if d.Status != hub.IncidentInvestigating || d.ResolvedAt != nil || !d.StartedAt.Equal(at(10)) {
			t.Fatalf("after refire: status %s resolvedAt %v startedAt %v, want investigating, nil, %v", d.Status, d.ResolvedAt, d.StartedAt, at(10))
		}
		// An acknowledgement of the new episode does not move it again.
		apply(t, db, src1, event("r4", "incident.acknowledged", at(11), full("PRF", "acknowledged")))
		if d := get(t, db, owner1, id); !d.StartedAt.Equal(at(10)) {
			t.Fatalf("after ack: startedAt %v, want %v", d.StartedAt, at(10))
		}
	})
}

// A partial event about an incident the hub has never seen (custom fields,
// a note) keeps it out of the lists until its facts arrive.
func TestPlaceholderKeptOutOfLists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		id, _ := apply(t, db, src1, fieldsEvent("p1", "PPL", at(2), field("env", `"prod"`)))
		for _, f := range []incidents.Filter{{}, {Status: "investigating"}, {IncludeCorrelated: true}} {
			items, _, err := incidents.List(ctx, db, owner1, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 0 {
				t.Fatalf("List(%+v) shows the placeholder: %+v", f, items)
			}
		}
		if d := get(t, db, owner1, id); d.ID != id { // still readable by id
			t.Fatalf("Get placeholder: %+v", d)
		}
		apply(t, db, src1, event("p2", "incident.triggered", at(1), full("PPL", "triggered")))
		items, _, err := incidents.List(ctx, db, owner1, incidents.Filter{})
		if err != nil || len(items) != 1 || items[0].ID != id || items[0].Title == "" {
			t.Fatalf("after the full event: %v %+v", err, items)
		}
	})
}

// A correlated group is open while any member is: the parent alert
// resolving must not take the group (and its firing members) out of the
// open incidents.
func TestCorrelatedGroupOpenWhileAnyMemberOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		parent, _ := apply(t, db, src1, event("g1", "incident.triggered", at(0), full("PG1", "triggered")))
		c1, _ := apply(t, db, src1, event("g2", "incident.triggered", at(1), full("PG2", "triggered")))
		c2, _ := apply(t, db, src1, event("g3", "incident.triggered", at(2), full("PG3", "triggered")))
		// As the pipeline's correlation attaches them.
		if _, err := db.NewUpdate().Table("incidents").Set("parent_incident_id = ?", parent).
			Where("id IN (?)", bun.List([]string{c1, c2})).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		apply(t, db, src1, event("g4", "incident.resolved", at(5), full("PG1", "resolved")))

		list := func(f incidents.Filter) []hub.Incident {
			t.Helper()
			items, _, err := incidents.List(ctx, db, owner1, f)
			if err != nil {
				t.Fatal(err)
			}
			return items
		}
		items := list(incidents.Filter{})
		if len(items) != 1 || items[0].ID != parent || items[0].Status != hub.IncidentInvestigating || items[0].ResolvedAt != nil ||
			items[0].ProviderStatus != "resolved" {
			t.Fatalf("group with firing members: %+v", items)
		}
		if items := list(incidents.Filter{Status: "investigating"}); len(items) != 1 || items[0].ID != parent {
			t.Fatalf("open filter: %+v", items)
		}
		if items := list(incidents.Filter{Status: "resolved"}); len(items) != 0 {
			t.Fatalf("resolved filter lists an open group: %+v", items)
		}
		if d := get(t, db, owner1, parent); d.Status != hub.IncidentInvestigating {
			t.Fatalf("detail of the open group: %s", d.Status)
		}
		// Analyzed groups read analyzed.
		if _, err := db.NewUpdate().Table("incidents").Set("analyzed_at = ?", at(4)).Where("id = ?", parent).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if items := list(incidents.Filter{}); items[0].Status != hub.IncidentAnalyzed {
			t.Fatalf("analyzed group: %s", items[0].Status)
		}
		// The group resolves with its last member.
		apply(t, db, src1, event("g5", "incident.resolved", at(6), full("PG2", "resolved")))
		if items := list(incidents.Filter{}); items[0].Status == hub.IncidentResolved {
			t.Fatalf("resolved with a member still firing: %+v", items[0])
		}
		apply(t, db, src1, event("g6", "incident.resolved", at(7), full("PG3", "resolved")))
		items = list(incidents.Filter{})
		if len(items) != 1 || items[0].Status != hub.IncidentResolved || items[0].ResolvedAt == nil {
			t.Fatalf("all resolved: %+v", items)
		}
		if items := list(incidents.Filter{Status: "resolved"}); len(items) != 1 {
			t.Fatalf("resolved filter: %+v", items)
		}
	})
}

// An analysis's status survives the provider's later events while the
// incident stays open; a merged incident stays merged.
func TestAnalyzedAndMergedSurviveEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		a, _ := apply(t, db, src1, event("s1", "incident.triggered", at(0), full("PS1", "triggered")))
		m, _ := apply(t, db, src1, event("s2", "incident.triggered", at(0), full("PS2", "triggered")))
		for id, st := range map[string]string{a: hub.IncidentAnalyzed, m: hub.IncidentMerged} {
			if _, err := db.NewUpdate().Table("incidents").Set("status = ?", st).Where("id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		apply(t, db, src1, event("s3", "incident.acknowledged", at(1), full("PS1", "acknowledged")))
		apply(t, db, src1, event("s4", "incident.acknowledged", at(1), full("PS2", "acknowledged")))
		if d := get(t, db, owner1, a); d.Status != hub.IncidentAnalyzed || d.ProviderStatus != "acknowledged" {
			t.Fatalf("analyzed after ack: %s/%s", d.Status, d.ProviderStatus)
		}
		if d := get(t, db, owner1, m); d.Status != hub.IncidentMerged || d.ProviderStatus != "acknowledged" {
			t.Fatalf("merged after ack: %s/%s", d.Status, d.ProviderStatus)
		}
		apply(t, db, src1, event("s5", "incident.resolved", at(2), full("PS1", "resolved")))
		if d := get(t, db, owner1, a); d.Status != hub.IncidentResolved {
			t.Fatalf("analyzed then resolved: %s", d.Status)
		}
	})
}
