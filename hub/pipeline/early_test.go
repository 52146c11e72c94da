package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
)

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
			st := storetest.Open(t, driver)
			log := hclog.NewNullLogger()
			deps := pipeline.Deps{Store: st, Live: live.New(st, false, log), Logger: log, Metrics: metrics.New(metrics.Options{}),
				Plugins: pluginhost.New(pluginhost.Options{Logger: log})}
			wakeups := pipeline.NewWakeups(st.Driver)
			// The chunk's process_incidents job (enrichment, in the analysis
			// queue) only snoozes, as when the provider's API budget is spent.
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
			for i, s := range storm {
				enc, err := store.EncodeInboxEvent(sdk.Event{ID: "ev-" + s.ext, Type: "incident.triggered", ResourceType: "incident", OccurredAt: at,
					Incident: &sdk.Incident{ExternalID: s.ext, Title: s.title, Status: "triggered", Urgency: "high",
						CreatedAt: at.Add(time.Duration(i) * time.Second), Service: &sdk.Reference{ID: s.service, Summary: "svc-" + s.service}}})
				if err != nil {
					t.Fatal(err)
				}
				rows[i] = store.InboxEvent{Provider: "pagerduty", ConnectionID: "conn-1", OwnerKind: "user", OwnerID: "u1", EventID: "ev-" + s.ext,
					EventType: "incident.triggered", Verified: true, Event: enc, ReceivedAt: time.Now().UTC()}
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
					t.Fatalf("incidents %+v: want the 5 later SDB incidents attached while enrichment waits", got)
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
