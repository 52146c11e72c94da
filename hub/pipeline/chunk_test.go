package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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
// each run processes one incident and hands the rest to a job in its
// place: the same outcome, no attempt spent.
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
				ids := openIncidents(t, st, "Disk full on db-1", "Certificate expired for api", "Queue backlog in billing")
				// The first was processed by an earlier run of the chunk.
				if err := incidents.MarkProcessed(ctx, st.Bun(), ids[0], time.Now()); err != nil {
					t.Fatal(err)
				}

				jc := pipelineJobs(t, st, testDeps(st), pipeline.WorkerOptions{
					Wakeups: pipeline.NewWakeups(st.Driver), Analyzer: failingAnalyzer{}, RunFor: tc.runFor,
				})
				chunk := []string{ids[0], "no-such-incident", ids[1], ids[2]}
				ins, err := jc.Insert(ctx, pipeline.ProcessIncidentsArgs{IncidentIDs: chunk}, nil)
				if err != nil {
					t.Fatal(err)
				}
				runJobs(t, jc)
				if ins.Job.Attempt > 1 {
					t.Fatal("the chunk's job was tried before it ran")
				}
				waitChunksDone(t, jc)

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

// waitChunksDone waits until every process_incidents job completed, each
// at its first attempt.
func waitChunksDone(t *testing.T, jc *jobs.Client) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := jc.JobList(ctx, river.NewJobListParams().Kinds(pipeline.ProcessIncidentsArgs{}.Kind()).First(1000))
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, j := range res.Jobs {
			if j.State != rivertype.JobStateCompleted {
				left++
			} else if j.Attempt != 1 {
				t.Fatalf("a chunk completed after %d attempts, want 1: %v", j.Attempt, j.Errors)
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunk jobs left after 20 s", left)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestChunkKeepsItsPlaceInLine: a chunk's job that used its run time
// leaves the rest of its incidents in its place in line, ahead of chunks
// enqueued after it. A snoozed job went behind all of them: in a storm the
// first chunk's parents waited behind thousands of children.
func TestChunkKeepsItsPlaceInLine(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			ids := openIncidents(t, st, "Disk full", "Certificate expired", "Queue backlog", "Node not ready", "Slow queries", "Packet loss")
			deps := testDeps(st)
			if err := jobs.Migrate(ctx, st, deps.Logger); err != nil {
				t.Fatal(err)
			}
			workers := river.NewWorkers()
			pipeline.AddWorkers(workers, deps, pipeline.WorkerOptions{
				Wakeups: pipeline.NewWakeups(st.Driver), Analyzer: failingAnalyzer{}, RunFor: time.Nanosecond,
			})
			// One worker in the analysis queue (as on SQLite): the order it
			// takes jobs in is the order chunks are processed.
			jc, err := jobs.New(st, jobs.Options{Workers: workers, Logger: deps.Logger, PollInterval: 50 * time.Millisecond, MaxWorkers: 2})
			if err != nil {
				t.Fatal(err)
			}
			// Two chunks, the first enqueued first; one run per incident.
			for _, chunk := range [][]string{ids[:3], ids[3:]} {
				if _, err := jc.Insert(ctx, pipeline.ProcessIncidentsArgs{IncidentIDs: chunk}, nil); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			runJobs(t, jc)
			waitChunksDone(t, jc)
			var order []string
			if err := st.Bun().NewSelect().Table("incident_processed").Column("incident_id").
				OrderExpr("processed_at, incident_id").Scan(ctx, &order); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(order, ids) {
				t.Errorf("processed in the order %v, want %v (the first chunk's, then the second's)", order, ids)
			}
		})
	}
}

// openIncidents opens one triggered incident per title, each of its own
// service, and returns their ids in order.
func openIncidents(t *testing.T, st *store.Store, titles ...string) []string {
	t.Helper()
	specs := make([]opened, len(titles))
	for i, title := range titles {
		specs[i] = opened{at: time.Now().UTC(), service: fmt.Sprintf("S%d", i), title: title}
	}
	return openAll(t, st, incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}, specs)
}
