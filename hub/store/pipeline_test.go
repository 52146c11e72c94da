package store_test

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// TestRCARuns: an analysis run as the RCA worker records it, queued,
// running, then failed or complete; LatestRCA reads the newest.
func TestRCARuns(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			created := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
			done := created.Add(30 * time.Second)
			for _, tc := range []struct {
				name   string
				finish func(id string) error
				want   store.RCA
			}{
				{"failed", func(id string) error { return store.FailRCA(ctx, s.Bun(), id, done, "model exploded") },
					store.RCA{Status: store.RCAError, Error: "model exploded"}},
				{"complete", func(id string) error { return store.CompleteRCA(ctx, s.Bun(), id, done, "builtin", `{"summary":"s"}`) },
					store.RCA{Status: store.RCAComplete, Analyzer: "builtin"}},
			} {
				id := "rca-" + tc.name
				var incidentID string
				err := s.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					var err error
					incidentID, _, err = incidents.Apply(ctx, tx, incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"},
						sdk.Event{ID: "e-" + tc.name, Type: "incident.triggered", OccurredAt: created, Incident: &sdk.Incident{ExternalID: "P-" + tc.name, Title: "t", Status: "triggered"}})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				r := &store.RCA{ID: id, IncidentID: incidentID, Status: store.RCAQueued, Reason: "manual", CreatedAt: created}
				if err := store.InsertRCA(ctx, s.Bun(), r); err != nil {
					t.Fatal(err)
				}
				if err := store.StartRCA(ctx, s.Bun(), id); err != nil {
					t.Fatal(err)
				}
				if got, err := store.LatestRCA(ctx, s.Bun(), r.IncidentID); err != nil || got.Status != store.RCARunning {
					t.Fatalf("%s: started: %+v %v", tc.name, got, err)
				}
				if err := tc.finish(id); err != nil {
					t.Fatal(err)
				}
				got, err := store.LatestRCA(ctx, s.Bun(), r.IncidentID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tc.want.Status || got.Error != tc.want.Error || got.Analyzer != tc.want.Analyzer ||
					got.CompletedAt == nil || !got.CompletedAt.Equal(done) || (tc.want.Status == store.RCAComplete) != (got.Report != nil) {
					t.Errorf("%s: %+v", tc.name, got)
				}
			}
		})
	}
}

// TestTenantSettings: defaults when none are saved, else what was saved.
func TestTenantSettings(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			if err := s.SaveSettings(ctx, &store.Settings{OwnerKind: "org", OwnerID: "o1", AutomatedRCA: false}); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				kind, id string
				want     bool
			}{{"org", "o1", false}, {"org", "o2", true}, {"user", "o1", true}} {
				st, err := store.TenantSettings(ctx, s.Bun(), tc.kind, tc.id)
				if err != nil || st.AutomatedRCA != tc.want {
					t.Errorf("%s/%s: %+v %v, want automated %v", tc.kind, tc.id, st, err, tc.want)
				}
			}
		})
	}
}

// TestDeadLetters: only the tenant's unapplied events that used their
// attempts, newest first, at most limit.
func TestDeadLetters(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			now := time.Now().UTC()
			ev := func(owner, eventID string) store.InboxEvent {
				return store.InboxEvent{Provider: "pagerduty", ConnectionID: "c-" + owner, OwnerKind: "org", OwnerID: owner,
					EventID: eventID, EventType: "incident.triggered", Event: "{}", ReceivedAt: now}
			}
			rows, err := store.InsertInbox(ctx, s.Bun(), []store.InboxEvent{
				ev("o1", "dead-1"), ev("o1", "dead-2"), ev("o1", "dead-3"), ev("o1", "retrying"), ev("o1", "applied"), ev("o2", "theirs"),
			})
			if err != nil || len(rows) != 6 {
				t.Fatalf("inbox: %d rows, %v", len(rows), err)
			}
			byEvent := map[string]int64{}
			for _, r := range rows {
				byEvent[r.EventID] = r.ID
			}
			set := func(eventID string, attempts int, applied bool) {
				q := s.Bun().NewUpdate().Model((*store.InboxEvent)(nil)).Set("attempts = ?", attempts).Where("id = ?", byEvent[eventID])
				if applied {
					q = q.Set("applied_at = ?", now)
				}
				if _, err := q.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"dead-1", "dead-2", "dead-3", "theirs"} {
				set(id, 10, false)
			}
			set("retrying", 9, false)
			set("applied", 10, true)
			got, err := store.DeadLetters(ctx, s.Bun(), "org", "o1", 10, 2)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range got {
				names = append(names, r.EventID)
			}
			if want := []string{"dead-3", "dead-2"}; !reflect.DeepEqual(names, want) {
				t.Errorf("dead letters %v, want %v", names, want)
			}
		})
	}
}

// TestCorrelationSignals: of the incidents' evidence, only alerts with a
// dedup key and dependencies with a service, for as many incidents as
// asked (on SQLite the ids travel as one JSON argument).
func TestCorrelationSignals(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, driver)
			at := time.Now().UTC().Truncate(time.Second)
			var ids []string
			for i, ext := range []string{"PSIG1", "PSIG2", "PSIG3"} {
				var id string
				err := s.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					var err error
					id, _, err = incidents.Apply(ctx, tx, incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"},
						sdk.Event{ID: "e-" + ext, Type: "incident.triggered", OccurredAt: at, Incident: &sdk.Incident{ExternalID: ext, Title: "t", Status: "triggered"}})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
				evidence := []store.Evidence{
					{IncidentID: id, Kind: "alert", ExternalID: "A1", DedupKey: "dedup-" + ext},
					{IncidentID: id, Kind: "alert", ExternalID: "A2"},
					{IncidentID: id, Kind: "dependency", ExternalID: "D1", ServiceID: "SVC" + ext},
					{IncidentID: id, Kind: "dependency", ExternalID: "D2"},
					{IncidentID: id, Kind: "log_entry", ExternalID: "L1", DedupKey: "not-an-alert", ServiceID: "S"},
				}
				rec := &store.Enrichment{IncidentID: id, Status: "complete", Notes: "[]", RelatedServices: "[]", GatheredAt: at.Add(time.Duration(i) * time.Second)}
				if err := store.SaveEnrichment(ctx, s.Bun(), rec, evidence); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name string
				ids  []string
				want []string
			}{
				{"none", nil, nil},
				{"one", ids[:1], []string{"PSIG1 alert A1", "PSIG1 dependency D1"}},
				{"two of three, and an unknown id", []string{ids[0], "no-such-incident", ids[2]},
					[]string{"PSIG1 alert A1", "PSIG1 dependency D1", "PSIG3 alert A1", "PSIG3 dependency D1"}},
			} {
				got, err := store.CorrelationSignals(ctx, s.Bun(), tc.ids...)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				ext := map[string]string{ids[0]: "PSIG1", ids[1]: "PSIG2", ids[2]: "PSIG3"}
				var rows []string
				for _, e := range got {
					rows = append(rows, ext[e.IncidentID]+" "+e.Kind+" "+e.ExternalID)
				}
				sort.Strings(rows)
				if !reflect.DeepEqual(rows, tc.want) {
					t.Errorf("%s: %v, want %v", tc.name, rows, tc.want)
				}
			}
		})
	}
}
