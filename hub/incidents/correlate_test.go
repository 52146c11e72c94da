package incidents_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

func onService(id, name string) func(*sdk.Incident) {
	return func(in *sdk.Incident) { in.Service = &sdk.Reference{ID: id, Summary: name} }
}

func withKey(key string) func(*sdk.Incident) {
	return func(in *sdk.Incident) { in.IncidentKey = key }
}

func facts(t testing.TB, db bun.IDB, id string) *incidents.Facts {
	t.Helper()
	f, err := incidents.LoadFacts(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ids(fs []incidents.Facts) []string {
	out := make([]string, len(fs))
	for i := range fs {
		out[i] = fs[i].ID
	}
	return out
}

// TestLoadFacts: the pipeline's narrow read has the columns it decides on;
// an unknown incident is sql.ErrNoRows.
func TestLoadFacts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		id, _ := apply(t, db, src1, event("e1", "incident.triggered", at(0), full("P1", "triggered", onService("S1", "checkout"))))
		f := facts(t, db, id)
		want := incidents.Facts{
			ID: id, Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1", ExternalID: "P1",
			Title: "Disk full on db-1", Status: hub.IncidentInvestigating, ServiceID: "S1", ServiceName: "checkout",
			IncidentKey: "key-P1", StartedAt: at(0), AffectedServices: []string{"checkout"},
		}
		f.StartedAt = f.StartedAt.UTC()
		if !reflect.DeepEqual(*f, want) {
			t.Fatalf("facts = %+v\nwant    %+v", *f, want)
		}
		if _, err := incidents.LoadFacts(context.Background(), db, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("unknown incident: %v", err)
		}
	})
}

// TestCandidates: only open incidents of the tenant that started earlier
// within the window; narrow keeps the same service or key, attached ones
// included, newest first; wide keeps top-level ones, oldest first.
func TestCandidates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		mk := func(ext string, src incidents.Source, min int, status string, mods ...func(*sdk.Incident)) string {
			id, _ := apply(t, db, src, event("e-"+ext, "incident."+status, at(min), full(ext, status, mods...)))
			return id
		}
		old := mk("OLD", src1, -120, "triggered", onService("S1", "checkout"))          // before the window
		same := mk("SAME", src1, -10, "triggered", onService("S1", "checkout"))         // same service
		keyed := mk("KEYED", src1, -8, "triggered", onService("S9", "x"), withKey("k")) // same key
		other := mk("OTHER", src1, -6, "triggered", onService("S2", "search"))          // another service
		child := mk("CHILD", src1, -4, "triggered", onService("S1", "checkout"))        // attached to same
		mk("DONE", src1, -3, "resolved", onService("S1", "checkout"))                   // resolved
		mk("THEIRS", src2, -2, "triggered", onService("S1", "checkout"))                // another tenant
		inc := mk("NEW", src1, 0, "triggered", onService("S1", "checkout"), withKey("k"))
		mk("LATER", src1, 1, "triggered", onService("S1", "checkout")) // started after inc
		if err := incidents.Attach(ctx, db, incidents.Attachment{IncidentID: child, ParentID: same, Parts: "{}", At: at(-1)}); err != nil {
			t.Fatal(err)
		}
		f := facts(t, db, inc)
		for _, tc := range []struct {
			name   string
			narrow bool
			want   []string
		}{
			{"narrow", true, []string{child, keyed, same}},
			{"wide", false, []string{same, keyed, other}},
		} {
			got, err := incidents.Candidates(ctx, db, f, at(-60), tc.narrow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Errorf("%s: candidates %v, want %v (old %s)", tc.name, ids(got), tc.want, old)
			}
		}
	})
}

// TestAttach: an incident joins a parent with the incidents that had
// joined it; counts, services and correlation records follow; attaching it
// again keeps the first record.
func TestAttach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		parent, _ := apply(t, db, src1, event("p", "incident.triggered", at(0), full("PP", "triggered", onService("S1", "checkout"))))
		inc, _ := apply(t, db, src1, event("i", "incident.triggered", at(1), full("PI", "triggered", onService("S2", "payments"))))
		child, _ := apply(t, db, src1, event("c", "incident.triggered", at(2), full("PC", "triggered", onService("S2", "payments"))))
		steps := []incidents.Attachment{
			{IncidentID: child, ParentID: inc, AffectedServices: []string{"payments"}, Score: 0.9, Parts: `{"sameService":1}`, At: at(3)},
			{IncidentID: inc, ParentID: parent, AffectedServices: []string{"checkout", "payments"}, Score: 0.7, Parts: `{"time":1}`, At: at(4)},
			{IncidentID: inc, ParentID: parent, AffectedServices: []string{"checkout", "payments"}, Score: 0.1, Parts: `{}`, At: at(5)},
		}
		for _, a := range steps {
			if err := incidents.Attach(ctx, db, a); err != nil {
				t.Fatal(err)
			}
		}
		p := get(t, db, owner1, parent)
		if p.CorrelatedAlertCount != 3 || !reflect.DeepEqual(p.AffectedServices, []string{"checkout", "payments"}) || !p.UpdatedAt.Equal(at(5)) {
			// 1+1 (inc and the child it brought), then 1 for the repeat.
			t.Errorf("parent: count %d services %v updated %v", p.CorrelatedAlertCount, p.AffectedServices, p.UpdatedAt)
		}
		for _, id := range []string{inc, child} {
			d := get(t, db, owner1, id)
			if d.ParentIncidentID == nil || *d.ParentIncidentID != parent || d.CorrelatedAlertCount != 0 {
				t.Errorf("%s: parent %v count %d", d.ExternalID, d.ParentIncidentID, d.CorrelatedAlertCount)
			}
		}
		for id, want := range map[string]incidents.Correlation{
			inc:   {IncidentID: inc, ParentIncidentID: parent, Score: 0.7, Parts: `{"time":1}`, CreatedAt: at(4)},
			child: {IncidentID: child, ParentIncidentID: parent, Score: 0.9, Parts: `{"sameService":1}`, CreatedAt: at(3)},
		} {
			c, err := incidents.CorrelationOf(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			if c == nil {
				t.Fatalf("no correlation of %s", id)
			}
			c.CreatedAt = c.CreatedAt.UTC()
			if *c != want {
				t.Errorf("correlation %+v, want %+v", *c, want)
			}
		}
		if c, err := incidents.CorrelationOf(ctx, db, parent); c != nil || err != nil {
			t.Errorf("parent's correlation: %+v %v", c, err)
		}
		children, err := incidents.ChildIDs(ctx, db, parent, 1)
		if err != nil || !reflect.DeepEqual(children, []string{inc}) {
			t.Errorf("ChildIDs(limit 1) = %v %v, want the earliest started", children, err)
		}
	})
}

// TestRecordAnalysis: the analysis's writes to its incident; an ended
// analysis makes an open incident analyzed and leaves a resolved one be.
func TestRecordAnalysis(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		open, _ := apply(t, db, src1, event("o", "incident.triggered", at(0), full("PO", "triggered")))
		resolved, _ := apply(t, db, src1, event("r", "incident.resolved", at(0), full("PR", "resolved")))
		summary, done := "It was the deploy.", at(10)
		for _, tc := range []struct {
			name       string
			id         string
			u          incidents.AnalysisUpdate
			wantStatus string
		}{
			{"running", open, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraRunning, At: at(1)}, hub.IncidentInvestigating},
			{"summarizing", open, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraSummarizing, Ended: true, AnalyzedAt: &done, At: done}, hub.IncidentAnalyzed},
			{"complete", open, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraComplete, Summary: &summary, At: at(11)}, hub.IncidentAnalyzed},
			{"resolved stays", resolved, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraError, Ended: true, At: at(12)}, hub.IncidentResolved},
		} {
			if err := incidents.RecordAnalysis(ctx, db, tc.id, tc.u); err != nil {
				t.Fatal(err)
			}
			d := get(t, db, owner1, tc.id)
			if d.Status != tc.wantStatus || d.AuroraStatus != tc.u.AuroraStatus || !d.UpdatedAt.Equal(tc.u.At) {
				t.Errorf("%s: status %s aurora %s updated %v", tc.name, d.Status, d.AuroraStatus, d.UpdatedAt)
			}
			if tc.u.AnalyzedAt != nil && !timePtrEq(d.AnalyzedAt, *tc.u.AnalyzedAt) {
				t.Errorf("%s: analyzedAt %v", tc.name, d.AnalyzedAt)
			}
			if tc.u.Summary != nil && (d.Summary == nil || *d.Summary != *tc.u.Summary) {
				t.Errorf("%s: summary %v", tc.name, d.Summary)
			}
		}
		if err := incidents.Touch(ctx, db, open, at(20)); err != nil {
			t.Fatal(err)
		}
		if d := get(t, db, owner1, open); !d.UpdatedAt.Equal(at(20)) || d.AuroraStatus != hub.AuroraComplete {
			t.Errorf("touched: updated %v aurora %s", d.UpdatedAt, d.AuroraStatus)
		}
	})
}

// TestAttachBatchWritesWhatAttachWould: the same attachments made one by
// one (Attach) for one tenant and gathered (AttachBatch) for another end
// with the same parents, counts, affected services, parents' update times
// and correlation records; nothing shows before Flush; an incident that
// others joined in the batch, or before it, takes them along when it joins
// a parent itself.
func TestAttachBatchWritesWhatAttachWould(t *testing.T) {
	type step struct {
		child, parent string // external ids
		flushBefore   bool   // Flush before this Add
		// before the batch began: attached one by one for both tenants
		before bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a storm's children of one parent", []step{{"A", "P", false, false}, {"B", "P", false, false}, {"C", "P", false, false}}},
		{"two parents", []step{{"A", "P", false, false}, {"B", "Q", false, false}, {"C", "P", false, false}, {"X", "Q", false, false}}},
		{"a parent of the batch joins another", []step{{"A", "X", false, false}, {"B", "X", false, false}, {"X", "P", false, false}, {"C", "P", false, false}}},
		{"a parent of an earlier flush joins another", []step{{"A", "X", false, false}, {"B", "X", false, false}, {"C", "P", true, false}, {"X", "P", false, false}}},
		{"parents of before the batch join others", []step{{"A", "X", false, true}, {"B", "Q", false, true}, {"C", "X", false, false},
			{"X", "P", false, false}, {"Q", "P", false, false}}},
	}
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				ids := map[incidents.Source]map[string]string{}
				for _, src := range []incidents.Source{src1, src2} {
					ids[src] = map[string]string{}
					for i, ext := range []string{"P", "Q", "X", "A", "B", "C"} {
						ids[src][ext], _ = apply(t, db, src, event(tc.name+src.OwnerID+ext, "incident.triggered", at(i),
							full(tc.name+ext, "triggered", onService("S"+ext, "svc-"+ext))))
					}
				}
				attachment := func(src incidents.Source, i int, s step, noneAttached bool) incidents.Attachment {
					return incidents.Attachment{IncidentID: ids[src][s.child], ParentID: ids[src][s.parent],
						AffectedServices: []string{"svc-" + s.parent, "svc-" + s.child}, Score: float64(i) / 10,
						Parts: `{"step":` + strconv.Itoa(i) + `}`, At: at(10 + i), NoneAttached: noneAttached}
				}
				// One by one, knowing (as the pipeline does) whether the
				// incident has others attached.
				hasChildren := map[string]bool{}
				for i, s := range tc.steps {
					if err := incidents.Attach(ctx, db, attachment(src1, i, s, !hasChildren[s.child])); err != nil {
						t.Fatal(err)
					}
					hasChildren[s.parent] = true
				}
				// Gathered, each incident's children read when the batch began.
				hadChildren := map[string]bool{}
				for i, s := range tc.steps {
					if s.before {
						if err := incidents.Attach(ctx, db, attachment(src2, i, s, !hadChildren[s.child])); err != nil {
							t.Fatal(err)
						}
						hadChildren[s.parent] = true
					}
				}
				err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					var b incidents.AttachBatch
					for i, s := range tc.steps {
						if s.before {
							continue
						}
						if s.flushBefore {
							if err := b.Flush(ctx, tx); err != nil {
								return err
							}
						}
						if err := b.Add(ctx, tx, attachment(src2, i, s, !hadChildren[s.child])); err != nil {
							return err
						}
						if i == 0 {
							if c, _ := incidents.CorrelationOf(ctx, tx, ids[src2][s.child]); c != nil {
								t.Errorf("an attachment shows before Flush")
							}
						}
					}
					return b.Flush(ctx, tx)
				})
				if err != nil {
					t.Fatal(err)
				}
				for ext := range ids[src1] {
					one, two := get(t, db, owner1, ids[src1][ext]), get(t, db, owner2, ids[src2][ext])
					parentExt := func(src incidents.Source, p *string) string {
						for e, id := range ids[src] {
							if p != nil && *p == id {
								return e
							}
						}
						return ""
					}
					if parentExt(src1, one.ParentIncidentID) != parentExt(src2, two.ParentIncidentID) ||
						one.CorrelatedAlertCount != two.CorrelatedAlertCount || !reflect.DeepEqual(one.AffectedServices, two.AffectedServices) {
						t.Errorf("%s: one by one parent %q count %d services %v; gathered parent %q count %d services %v", ext,
							parentExt(src1, one.ParentIncidentID), one.CorrelatedAlertCount, one.AffectedServices,
							parentExt(src2, two.ParentIncidentID), two.CorrelatedAlertCount, two.AffectedServices)
					}
					// A parent's update time is its last attachment's (a
					// child's is its parent's last in the batch, by design).
					if one.ParentIncidentID == nil && one.CorrelatedAlertCount > 0 && !one.UpdatedAt.Equal(two.UpdatedAt) {
						t.Errorf("%s: updated one by one at %v, gathered at %v", ext, one.UpdatedAt, two.UpdatedAt)
					}
					c1, err1 := incidents.CorrelationOf(ctx, db, ids[src1][ext])
					c2, err2 := incidents.CorrelationOf(ctx, db, ids[src2][ext])
					if err1 != nil || err2 != nil || (c1 == nil) != (c2 == nil) ||
						(c1 != nil && (c1.Score != c2.Score || c1.Parts != c2.Parts || !c1.CreatedAt.Equal(c2.CreatedAt) ||
							parentExt(src1, &c1.ParentIncidentID) != parentExt(src2, &c2.ParentIncidentID))) {
						t.Errorf("%s: correlation one by one %+v %v; gathered %+v %v", ext, c1, err1, c2, err2)
					}
				}
			})
		}
	})
}
