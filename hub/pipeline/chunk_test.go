package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"
)

// failingAnalyzer never completes an analysis (the test only looks at
// what processing scheduled).
type failingAnalyzer struct{}

func (failingAnalyzer) Analyze(context.Context, rca.Input) (*rca.Report, error) {
	return nil, fmt.Errorf("not in this test")
}

// TestProcessIncidentsChunk: a chunk's job processes its incidents in
// order, skips one already marked processed (a retried or rescued chunk),
// and hands one it cannot process to a process_incident job of its own
// while still processing the incidents after it. With a run time of 1 ns
// each run processes one incident and snoozes: the same outcome, no
// attempt spent.
func TestProcessIncidentsChunk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		runFor time.Duration
	}{{"one run", 0}, {"a run per incident", time.Nanosecond}} {
		for _, driver := range storetest.Backends(t) {
			t.Run(tc.name+"/"+driver, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st := storetest.Open(t, driver)
				log := hclog.NewNullLogger()
				src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}
				titles := []string{"Disk full on db-1", "Certificate expired for api", "Queue backlog in billing"}
				var ids []string
				err := st.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					for i, title := range titles {
						id, _, err := incidents.Apply(ctx, tx, src, sdk.Event{ID: fmt.Sprintf("e%d", i), Type: "incident.triggered", OccurredAt: time.Now().UTC(),
							Incident: &sdk.Incident{ExternalID: fmt.Sprintf("P%d", i), Title: title, Status: "triggered",
								Service: &sdk.Reference{ID: fmt.Sprintf("S%d", i), Summary: fmt.Sprintf("svc-%d", i)}}})
						if err != nil {
							return err
						}
						ids = append(ids, id)
					}
					// The first was processed by an earlier run of the chunk.
					return incidents.MarkProcessed(ctx, tx, ids[0], time.Now())
				})
				if err != nil {
					t.Fatal(err)
				}

				deps := pipeline.Deps{Store: st, Live: live.New(st, false, log), Logger: log,
					Plugins: pluginhost.New(pluginhost.Options{Logger: log})}
				jc := pipelineJobs(t, st, deps, pipeline.WorkerOptions{
					Wakeups: pipeline.NewWakeups(st.Driver), Analyzer: failingAnalyzer{}, RunFor: tc.runFor,
				})
				chunk := []string{ids[0], "no-such-incident", ids[1], ids[2]}
				ins, err := jc.Insert(ctx, pipeline.ProcessIncidentsArgs{IncidentIDs: chunk}, nil)
				if err != nil {
					t.Fatal(err)
				}
				runJobs(t, jc)
				deadline := time.Now().Add(20 * time.Second)
				for {
					j, err := jc.JobGet(ctx, ins.Job.ID)
					if err != nil {
						t.Fatal(err)
					}
					if j.State == rivertype.JobStateCompleted {
						if j.Attempt != 1 {
							t.Fatalf("chunk completed after %d attempts, want 1: %v", j.Attempt, j.Errors)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("chunk job %s after 20 s (errors %v), want completed", j.State, j.Errors)
					}
					time.Sleep(25 * time.Millisecond)
				}

				done, err := incidents.Processed(ctx, st.Bun(), chunk)
				if err != nil {
					t.Fatal(err)
				}
				enriched, _, err := store.IncidentEvidence(ctx, st.Bun(), ids...)
				if err != nil {
					t.Fatal(err)
				}
				for i, id := range ids {
					if !done[id] {
						t.Errorf("incident %d not marked processed", i)
					}
					// Skipped: the earlier run that marked it did the work.
					if want := i > 0; (enriched[id] != nil) != want {
						t.Errorf("incident %d: enrichment recorded %v, want %v", i, enriched[id] != nil, want)
					}
				}
				if done["no-such-incident"] {
					t.Error("a missing incident is marked processed")
				}
				// The one that failed is retried in a job of its own.
				own, err := jc.JobList(ctx, river.NewJobListParams().Kinds(pipeline.ProcessIncidentArgs{}.Kind()))
				if err != nil {
					t.Fatal(err)
				}
				var args pipeline.ProcessIncidentArgs
				if len(own.Jobs) == 1 {
					_ = json.Unmarshal(own.Jobs[0].EncodedArgs, &args)
				}
				if len(own.Jobs) != 1 || args.IncidentID != "no-such-incident" {
					t.Fatalf("%d process_incident jobs (the first for %q), want one for no-such-incident", len(own.Jobs), args.IncidentID)
				}
			})
		}
	}
}
