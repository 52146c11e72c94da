package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// steppedAnalyzer thinks steps thoughts, each only after the test let the
// previous one go, then returns report (or err).
type steppedAnalyzer struct {
	steps   int
	thought chan int      // the step just reported
	next    chan struct{} // go on
	report  *rca.Report
	err     error
}

func (a *steppedAnalyzer) Analyze(ctx context.Context, in rca.Input) (*rca.Report, error) {
	for i := 0; i < a.steps; i++ {
		in.Think(rca.Thought{Content: "step", Type: hub.ThoughtAnalysis})
		a.thought <- i
		select {
		case <-a.next:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return a.report, a.err
}

type rcaRig struct {
	st *store.Store
	jc *jobs.Client
	id string
	// queued is the incident's updated_at when its analysis was enqueued:
	// read before the job could run, so the first thought must move it.
	queued time.Time
}

func startRCA(t *testing.T, driver string, an rca.Analyzer, status string) *rcaRig {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, driver)
	src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}
	var id string
	err := st.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id, _, err = incidents.Apply(ctx, tx, src, sdk.Event{ID: "e1", Type: "incident.triggered", OccurredAt: time.Now().UTC(),
			Incident: &sdk.Incident{ExternalID: "P1", Title: "Payments down", Status: status}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deps := testDeps(st)
	deps.Config = config.Pipeline{RCAStepDelay: 300 * time.Millisecond}
	jc := pipelineJobs(t, st, deps, pipeline.WorkerOptions{Analyzer: an})
	runJobs(t, jc)
	r := &rcaRig{st: st, jc: jc, id: id}
	r.queued = r.incident(t).UpdatedAt
	err = st.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := pipeline.EnqueueRCA(ctx, tx, jc, id, "manual", 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rcaRig) incident(t *testing.T) *hub.IncidentDetail {
	t.Helper()
	d, err := incidents.Get(context.Background(), r.st.Bun(), hub.Owner{UserID: "u1"}, r.id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (r *rcaRig) waitAurora(t *testing.T, want string) *hub.IncidentDetail {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := r.incident(t)
		if d.AuroraStatus == want {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("auroraStatus %s, want %s", d.AuroraStatus, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRCALifecycle: each thought is stored (and updated_at bumped) before
// the analysis goes on; then analyzed/summarizing, then complete with the
// markdown summary, citations and suggestions.
func TestRCALifecycle(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			an := &steppedAnalyzer{steps: 3, thought: make(chan int), next: make(chan struct{}), report: &rca.Report{
				Summary: "Deploy broke it.", Markdown: "Deploy broke it. [1]", Analyzer: rca.AnalyzerBuiltin,
				Citations:   []rca.Citation{{Key: "1", ToolName: "pagerduty", Command: "GET /services/S/change_events", Output: "Deploy v2"}},
				Suggestions: []rca.Suggestion{{Title: "Roll back v2", Type: hub.SuggestionMitigation, Risk: hub.RiskMedium, Command: "kubectl rollout undo deploy/api"}},
			}}
			r := startRCA(t, driver, an, "triggered")
			ctx := context.Background()
			prev := r.queued
			for i := 0; i < an.steps; i++ {
				select {
				case <-an.thought:
				case <-time.After(20 * time.Second):
					t.Fatal("the analysis did not start")
				}
				d := r.incident(t)
				th, err := store.Thoughts(ctx, r.st.Bun(), r.id)
				if err != nil {
					t.Fatal(err)
				}
				if d.AuroraStatus != hub.AuroraRunning || len(th) != i+1 || !d.UpdatedAt.After(prev) {
					t.Fatalf("step %d: auroraStatus %s, %d thoughts, updatedAt %v after %v", i, d.AuroraStatus, len(th), d.UpdatedAt, prev)
				}
				if i > 0 && th[i].ID <= th[i-1].ID {
					t.Fatalf("thought ids do not grow: %+v", th)
				}
				prev = d.UpdatedAt
				an.next <- struct{}{}
			}
			d := r.waitAurora(t, hub.AuroraSummarizing)
			if d.Status != hub.IncidentAnalyzed || d.AnalyzedAt == nil {
				t.Fatalf("summarizing: status %s analyzedAt %v", d.Status, d.AnalyzedAt)
			}
			d = r.waitAurora(t, hub.AuroraComplete)
			if d.Status != hub.IncidentAnalyzed || d.Summary == nil || *d.Summary != "Deploy broke it. [1]" || !d.UpdatedAt.After(prev) {
				t.Fatalf("complete: %+v", d.Incident)
			}
			cits, _ := store.Citations(ctx, r.st.Bun(), r.id)
			sugs, _ := store.Suggestions(ctx, r.st.Bun(), r.id)
			if len(cits) != 1 || cits[0].Key != "1" || cits[0].ToolName != "pagerduty" || len(sugs) != 1 ||
				sugs[0].Type != hub.SuggestionMitigation || sugs[0].Command == "" {
				t.Fatalf("findings: %+v %+v", cits, sugs)
			}
		})
	}
}

// TestRCAFailureAndResolved: a failed analysis ends in error with status
// analyzed; an incident resolved meanwhile stays resolved.
func TestRCAFailureAndResolved(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			failing := &steppedAnalyzer{err: errors.New("model exploded")}
			r := startRCA(t, driver, failing, "triggered")
			if d := r.waitAurora(t, hub.AuroraError); d.Status != hub.IncidentAnalyzed {
				t.Fatalf("failed analysis: status %s", d.Status)
			}
			ok := &steppedAnalyzer{report: &rca.Report{Summary: "s", Markdown: "s", Analyzer: rca.AnalyzerBuiltin}}
			r = startRCA(t, driver, ok, "resolved")
			if d := r.waitAurora(t, hub.AuroraComplete); d.Status != hub.IncidentResolved || d.AnalyzedAt == nil {
				t.Fatalf("resolved incident analysed: status %s", d.Status)
			}
		})
	}
}
