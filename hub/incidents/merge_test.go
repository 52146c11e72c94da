package incidents_test

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// TestMergeMovesAttachedAndKeepsCounts: merging an incident that had
// alerts of its own, and that was itself attached elsewhere, leaves every
// parent top-level and every count equal to what is attached to it.
func TestMergeMovesAttachedAndKeepsCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		svc := func(name string) func(*sdk.Incident) {
			return func(in *sdk.Incident) { in.Service = &sdk.Reference{ID: "S-" + name, Summary: name} }
		}
		target, _ := apply(t, db, src1, event("t", "incident.triggered", at(0), full("PT", "triggered", svc("checkout"))))
		old, _ := apply(t, db, src1, event("o", "incident.triggered", at(1), full("PO", "triggered", svc("search"))))
		source, _ := apply(t, db, src1, event("s", "incident.triggered", at(2), full("PS", "triggered", svc("payments"))))
		child, _ := apply(t, db, src1, event("c", "incident.triggered", at(3), full("PC", "triggered", svc("payments"))))
		// The pipeline had attached source to old, and child to source.
		attach := func(id, parent string, count int) {
			if _, err := db.NewUpdate().Table("incidents").Set("parent_incident_id = ?", parent).Where("id = ?", id).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := db.NewUpdate().Table("incidents").Set("correlated_alert_count = ?", count).Where("id = ?", parent).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := db.NewInsert().Model(&map[string]any{"incident_id": id, "parent_incident_id": parent, "score": 0.7, "parts": `{"sameService":1}`, "created_at": at(5)}).
				TableExpr("incident_correlations").Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		attach(source, old, 1)
		attach(child, source, 1)

		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			p, err := incidents.Merge(ctx, tx, owner1, target, source)
			if p != "pagerduty" {
				t.Errorf("provider = %q", p)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			status, parent string
			count          int
		}{
			target: {hub.IncidentInvestigating, "", 2},
			old:    {hub.IncidentInvestigating, "", 0},
			source: {hub.IncidentMerged, target, 0},
			child:  {hub.IncidentInvestigating, target, 0},
		}
		for id, w := range want {
			d := get(t, db, owner1, id)
			parent := ""
			if d.ParentIncidentID != nil {
				parent = *d.ParentIncidentID
			}
			if d.Status != w.status || parent != w.parent || d.CorrelatedAlertCount != w.count {
				t.Errorf("%s: status %s parent %q count %d, want %+v", d.ExternalID, d.Status, parent, d.CorrelatedAlertCount, w)
			}
		}
		if d := get(t, db, owner1, source); d.MergedIntoIncidentID == nil || *d.MergedIntoIncidentID != target || d.AuroraStatus != hub.AuroraComplete || d.Summary != nil {
			t.Errorf("source after merge: %+v", d.Incident)
		}
		if d := get(t, db, owner1, target); len(d.AffectedServices) != 2 || d.AffectedServices[0] != "checkout" || d.AffectedServices[1] != "payments" {
			t.Errorf("target services = %v", d.AffectedServices)
		}
		att, err := incidents.Attached(ctx, db, target)
		if err != nil {
			t.Fatal(err)
		}
		if len(att) != 2 || att[0].ID != child || att[1].ID != source || att[1].Parts != `{"merged_from_incident":"`+source+`"}` || att[1].Score != 1 {
			t.Errorf("attached = %+v", att)
		}
		// Another tenant cannot merge them.
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			_, err := incidents.Merge(ctx, tx, owner2, target, old)
			return err
		})
		if e, ok := err.(*hub.Error); !ok || e.Code != hub.ENotFound {
			t.Errorf("other tenant's merge: %v", err)
		}
	})
}
