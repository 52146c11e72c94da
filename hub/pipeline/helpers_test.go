package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/riverqueue/river"
)

// pipelineJobs adds River's tables to st and returns a job client (not yet
// started) running the pipeline's workers with deps and o, polling often.
func pipelineJobs(t *testing.T, st *store.Store, deps pipeline.Deps, o pipeline.WorkerOptions) *jobs.Client {
	t.Helper()
	if err := jobs.Migrate(context.Background(), st, deps.Logger); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	pipeline.AddWorkers(workers, deps, o)
	jc, err := jobs.New(st, jobs.Options{Workers: workers, Logger: deps.Logger, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return jc
}

// runJobs starts jc and stops it when the test ends.
func runJobs(t *testing.T, jc *jobs.Client) {
	t.Helper()
	if err := jc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		jc.Stop(ctx)
	})
}
