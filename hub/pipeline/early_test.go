package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/riverqueue/river"
)

// startEarly runs the default queue's pipeline workers (apply, early
// correlation) on a new store; the chunks' process_incidents jobs only
// snooze, as when the provider's API budget is spent.
func startEarly(t *testing.T, driver string) (*store.Store, *jobs.Client) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, driver)
	deps := earlyDeps(st)
	log := deps.Logger
	wakeups := pipeline.NewWakeups(st.Driver)
	if err := jobs.Migrate(ctx, st, log); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &pipeline.ApplyEventsWorker{Deps: deps, Wakeups: wakeups})
	river.AddWorker(workers, &pipeline.CorrelateIncidentsWorker{Deps: deps, Wakeups: wakeups})
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[pipeline.ProcessIncidentsArgs]) error {
		return river.JobSnooze(time.Hour)
	}))
	client, err := jobs.New(st, jobs.Options{Workers: workers, Logger: log, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runJobs(t, client)
	return st, client
}

// earlyDeps are the pipeline's dependencies for early correlation on st:
// a 15-minute window, threshold 0.6, no log.
func earlyDeps(st *store.Store) pipeline.Deps {
	deps := testDeps(st)
	deps.Config = config.Pipeline{CorrelationWindow: 15 * time.Minute, CorrelationThreshold: 0.6}
	return deps
}

// triggered is an inbox row of a PagerDuty incident.triggered event.
func triggered(t *testing.T, ext, service, title string, at time.Time) store.InboxEvent {
	t.Helper()
	enc, err := store.EncodeInboxEvent(&sdk.Event{ID: "ev-" + ext, Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
		Incident: &sdk.Incident{ExternalID: ext, Title: title, Status: "triggered", Urgency: "high",
			CreatedAt: at, Service: &sdk.Reference{ID: service, Summary: "svc-" + service}}})
	if err != nil {
		t.Fatal(err)
	}
	return store.InboxEvent{Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u1", EventID: "ev-" + ext,
		EventType: "incident.triggered", Verified: true, Event: enc, ReceivedAt: time.Now().UTC()}
}

// TestStormIsCorrelatedWhileEnrichmentWaits: a storm's incidents are
// correlated as they are applied, not at the pace of enrichment. While the
// chunk's processing waits on the provider's API budget, the incidents of
// a service join its first one, an incident of another service stays on
// its own, and nothing is marked processed. Before the correlate_incidents
// job, they stayed top-level until their process_incidents job ran.
func TestStormIsCorrelatedWhileEnrichmentWaits(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st, client := startEarly(t, driver)
			deadline := time.Now().Add(20 * time.Second)

			at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
			storm := []struct{ ext, service, title string }{
				{"PSTORM0", "SDB", "Connection errors on postgres-primary"},
				{"PSTORM1", "SDB", "Connection errors on postgres-primary"},
				{"PSTORM2", "SDB", "Replication lag on postgres-primary"},
				{"PSTORM3", "SDB", "Connection errors on postgres-primary"},
				{"POTHER", "SWEB", "Certificate expired for www"},
				{"PSTORM4", "SDB", "Disk almost full on postgres-primary"},
				{"PSTORM5", "SDB", "Connection errors on postgres-primary"},
			}
			rows := make([]store.InboxEvent, len(storm))
			for i, x := range storm {
				rows[i] = triggered(t, x.ext, x.service, x.title, at.Add(time.Duration(i)*time.Second))
			}
			if _, err := store.InsertInbox(ctx, st.Bun(), rows); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
				t.Fatal(err)
			}

			type incident struct {
				ExternalID string  `bun:"external_id"`
				ID         string  `bun:"id"`
				Parent     *string `bun:"parent_incident_id"`
			}
			var got []incident
			for {
				got = got[:0]
				if err := st.Bun().NewSelect().Table("incidents").Column("external_id", "id", "parent_incident_id").Scan(ctx, &got); err != nil {
					t.Fatal(err)
				}
				attached := 0
				for _, g := range got {
					if g.Parent != nil {
						attached++
					}
				}
				if len(got) == len(storm) && attached == 5 {
					break
				}
				if time.Now().After(deadline) {
					var errs []string
					_ = st.Bun().NewSelect().Table("river_job").ColumnExpr("kind || ' ' || state || ' ' || coalesce(CAST(errors AS TEXT), '')").Scan(ctx, &errs)
					t.Fatalf("incidents %+v: want the 5 later SDB incidents attached while enrichment waits; jobs %v", got, errs)
				}
				time.Sleep(25 * time.Millisecond)
			}
			byExt := map[string]incident{}
			for _, g := range got {
				byExt[g.ExternalID] = g
			}
			parent := byExt["PSTORM0"].ID
			for _, ext := range []string{"PSTORM1", "PSTORM2", "PSTORM3", "PSTORM4", "PSTORM5"} {
				if p := byExt[ext].Parent; p == nil || *p != parent {
					t.Errorf("%s: parent %v, want PSTORM0 (%s)", ext, p, parent)
				}
			}
			for _, ext := range []string{"PSTORM0", "POTHER"} {
				if p := byExt[ext].Parent; p != nil {
					t.Errorf("%s: parent %s, want none", ext, *p)
				}
			}
			var processed, waiting int
			if err := st.Bun().NewSelect().Table("incident_processed").ColumnExpr("count(*)").Scan(ctx, &processed); err != nil {
				t.Fatal(err)
			}
			if err := st.Bun().NewSelect().Table("river_job").ColumnExpr("count(*)").
				Where("kind = 'process_incidents' AND state <> 'completed'").Scan(ctx, &waiting); err != nil {
				t.Fatal(err)
			}
			if processed != 0 || waiting == 0 {
				t.Errorf("%d incidents processed, %d process_incidents jobs waiting: want the correlation done with none processed and the processing still waiting", processed, waiting)
			}
		})
	}
}

// TestEarlyCorrelationIsBatched: the apply worker enqueues the early
// correlation of what its transactions opened in jobs of up to
// CorrelateBatch incidents (one per 8-event transaction kept early
// correlation waiting on River's fetches), and every opened incident is in
// exactly one.
func TestEarlyCorrelationIsBatched(t *testing.T) {
	tests := []struct {
		name      string
		incidents int
		wantJobs  int
	}{
		{name: "one job for a few", incidents: 5, wantJobs: 1},
		{name: "a storm in several jobs", incidents: 2*pipeline.CorrelateBatch + 44, wantJobs: 3},
	}
	for _, driver := range storetest.Backends(t) {
		for _, tt := range tests {
			t.Run(driver+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				st, client := startEarly(t, driver)
				at := time.Now().UTC().Add(-time.Minute)
				rows := make([]store.InboxEvent, tt.incidents)
				for i := range rows {
					rows[i] = triggered(t, fmt.Sprintf("PB%04d", i), fmt.Sprintf("S%d", i%7), "CPU hot", at.Add(time.Duration(i)*time.Millisecond))
				}
				if _, err := store.InsertInbox(ctx, st.Bun(), rows); err != nil {
					t.Fatal(err)
				}
				if _, err := client.Insert(ctx, pipeline.ApplyEventsArgs{}, nil); err != nil {
					t.Fatal(err)
				}
				var args []string
				deadline := time.Now().Add(20 * time.Second)
				for {
					args = args[:0]
					var pending int
					if err := st.Bun().NewSelect().Table("webhook_inbox").ColumnExpr("count(*)").Where("applied_at IS NULL").Scan(ctx, &pending); err != nil {
						t.Fatal(err)
					}
					if err := st.Bun().NewSelect().Table("river_job").ColumnExpr(argsText(driver)).Where("kind = 'correlate_incidents'").Scan(ctx, &args); err != nil {
						t.Fatal(err)
					}
					if pending == 0 && len(args) >= tt.wantJobs {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d events pending, %d correlate_incidents jobs", pending, len(args))
					}
					time.Sleep(25 * time.Millisecond)
				}
				seen := map[string]int{}
				for _, a := range args {
					var job pipeline.CorrelateIncidentsArgs
					if err := json.Unmarshal([]byte(a), &job); err != nil {
						t.Fatal(err)
					}
					if len(job.IncidentIDs) > pipeline.CorrelateBatch {
						t.Errorf("a job of %d incidents, want at most %d", len(job.IncidentIDs), pipeline.CorrelateBatch)
					}
					for _, id := range job.IncidentIDs {
						seen[id]++
					}
				}
				var ids []string
				if err := st.Bun().NewSelect().Table("incidents").Column("id").Scan(ctx, &ids); err != nil {
					t.Fatal(err)
				}
				for _, id := range ids {
					if seen[id] != 1 {
						t.Errorf("incident %s in %d correlate_incidents jobs, want 1", id, seen[id])
					}
				}
				if len(ids) != tt.incidents || len(args) != tt.wantJobs {
					t.Errorf("%d incidents in %d jobs, want %d in %d", len(ids), len(args), tt.incidents, tt.wantJobs)
				}
			})
		}
	}
}

// argsText is a River job's args as JSON text (River's SQLite driver stores
// them as JSONB).
func argsText(driver string) string {
	if driver == "sqlite" {
		return "json(args)"
	}
	return "args::text"
}
