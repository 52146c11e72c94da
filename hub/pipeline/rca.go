package pipeline

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/rca"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// RCAArgs asks for one root-cause analysis of an incident.
type RCAArgs struct {
	IncidentID string `json:"incident_id"`
	RCAID      string `json:"rca_id"`
}

// Kind names the job in River.
func (RCAArgs) Kind() string { return "incident_rca" }

// InsertOpts runs analyses on the analysis queue.
func (RCAArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.QueueAnalysis} }

// RCAWorker runs an analysis and stores it as Aurora's incident page
// shows it: auroraStatus running, then each thought as the analyzer has it
// (updated_at bumped, so a polling page sees progress), then status
// analyzed with auroraStatus summarizing and analyzedAt, then the
// citations, suggestions and markdown summary with auroraStatus complete;
// a failure ends in auroraStatus error. A resolved or merged incident keeps
// its status. The report, the summary and the job's completion commit
// together, so an analysis interrupted by a crash runs again and one that
// finished never does.
type RCAWorker struct {
	river.WorkerDefaults[RCAArgs]
	Deps
	Analyzer rca.Analyzer
}

// Work implements river.Worker.
func (w *RCAWorker) Work(ctx context.Context, job *river.Job[RCAArgs]) error {
	inc, err := incidents.LoadFacts(ctx, w.Store.Bun(), job.Args.IncidentID)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	err = w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := store.StartRCA(ctx, tx, job.Args.RCAID); err != nil {
			return err
		}
		return incidents.RecordAnalysis(ctx, tx, inc.ID, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraRunning, At: now})
	})
	if err != nil {
		return err
	}
	w.publish(ctx, inc, hub.AuroraRunning)

	began := time.Now()
	in, err := w.input(ctx, inc)
	var report *rca.Report
	if err == nil {
		in.Think = w.thinker(ctx, inc.ID)
		report, err = w.Analyzer.Analyze(ctx, *in)
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopping: the job runs again
	}
	took, analysisErr := time.Since(began), err
	done := time.Now().UTC()
	if err != nil {
		w.Logger.Error("analysis failed", "incident", inc.ID, "error", err)
		err = w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := store.FailRCA(ctx, tx, job.Args.RCAID, done, truncate(err.Error(), 1000)); err != nil {
				return err
			}
			if err := incidents.RecordAnalysis(ctx, tx, inc.ID, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraError, Ended: true, At: done}); err != nil {
				return err
			}
			return jobs.CompleteTx(ctx, w.Store, tx.Tx, job)
		})
		if err != nil {
			return err
		}
		w.Metrics.Analysed(analyzerOf(w.Config.Analyzer, report), rcaOutcome(report, analysisErr), took)
		w.publish(ctx, inc, hub.AuroraError)
		return nil
	}

	// The analysis ended: summarizing while its findings are written.
	if err := incidents.RecordAnalysis(ctx, w.Store.Bun(), inc.ID, incidents.AnalysisUpdate{
		AuroraStatus: hub.AuroraSummarizing, Ended: true, AnalyzedAt: &done, At: done,
	}); err != nil {
		return err
	}
	w.publish(ctx, inc, hub.AuroraSummarizing)
	w.pause(ctx)

	citations := make([]hub.Citation, len(report.Citations))
	for i, c := range report.Citations {
		citations[i] = hub.Citation{Key: c.Key, ToolName: c.ToolName, Command: c.Command, Output: c.Output, ExecutedAt: c.ExecutedAt}
	}
	suggestions := make([]hub.Suggestion, len(report.Suggestions))
	for i, s := range report.Suggestions {
		suggestions[i] = hub.Suggestion{Title: s.Title, Description: s.Description, Type: s.Type, Risk: s.Risk, Command: s.Command, Rationale: s.Rationale}
	}
	summary := report.Markdown
	if summary == "" {
		summary = report.Summary
	}
	complete := time.Now().UTC()
	err = w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := store.CompleteRCA(ctx, tx, job.Args.RCAID, done, report.Analyzer, mustJSON(report)); err != nil {
			return err
		}
		if err := store.ReplaceFindings(ctx, tx, inc.ID, citations, suggestions); err != nil {
			return err
		}
		if err := incidents.RecordAnalysis(ctx, tx, inc.ID, incidents.AnalysisUpdate{
			AuroraStatus: hub.AuroraComplete, Summary: &summary, At: complete,
		}); err != nil {
			return err
		}
		return jobs.CompleteTx(ctx, w.Store, tx.Tx, job)
	})
	if err != nil {
		return err
	}
	w.Metrics.Analysed(analyzerOf(w.Config.Analyzer, report), rcaOutcome(report, analysisErr), took)
	w.Live.Publish(ctx, inc.OwnerKind, inc.OwnerID, live.Event{Type: live.RCAComplete, IncidentID: inc.ID, Source: inc.Provider})
	return nil
}

// analyzerOf names the analyzer that produced report (the configured one
// when there is no report).
func analyzerOf(configured string, report *rca.Report) string {
	if report != nil && report.Analyzer != "" {
		return report.Analyzer
	}
	return configured
}

// rcaOutcome is the metric's outcome of an analysis.
func rcaOutcome(report *rca.Report, err error) string {
	switch {
	case err != nil || report == nil:
		return metrics.RCAError
	case report.FallbackReason != "":
		return metrics.RCAFallback
	}
	return metrics.RCAComplete
}

func (w *RCAWorker) publish(ctx context.Context, inc *incidents.Facts, status string) {
	w.Live.Publish(ctx, inc.OwnerKind, inc.OwnerID, live.Event{Type: live.IncidentUpdate, IncidentID: inc.ID, Source: inc.Provider, Status: status})
}

// maxThoughts bounds the thoughts stored for one analysis (a chatty model
// streams many sentences); the rest are dropped.
const maxThoughts = 300

// thinker stores each thought of the analysis as it comes, in its own
// statement, so a page polling the incident sees one step before the next.
// A thought that cannot be stored is logged and the analysis goes on.
func (w *RCAWorker) thinker(ctx context.Context, incidentID string) func(rca.Thought) {
	n := 0
	return func(t rca.Thought) {
		if n++; n > maxThoughts || ctx.Err() != nil {
			return
		}
		th := hub.Thought{Content: t.Content, Type: t.Type, Timestamp: time.Now().UTC()}
		err := store.AppendThoughts(ctx, w.Store.Bun(), incidentID, []hub.Thought{th})
		if err == nil {
			err = incidents.Touch(ctx, w.Store.Bun(), incidentID, th.Timestamp)
		}
		if err != nil {
			w.Logger.Warn("storing an analysis thought failed", "incident", incidentID, "error", err)
			return
		}
		w.pause(ctx)
	}
}

// pause waits the configured step delay (HUB_RCA_STEP_DELAY), if any.
func (w *RCAWorker) pause(ctx context.Context) {
	if d := w.Config.RCAStepDelay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

func ownerOf(kind, id string) hub.Owner {
	if kind == "org" {
		return hub.Owner{OrgID: id}
	}
	return hub.Owner{UserID: id}
}

// input gathers what the analyzer reads: the incident, its evidence, what
// could not be gathered, and the incidents correlated into it.
func (w *RCAWorker) input(ctx context.Context, inc *incidents.Facts) (*rca.Input, error) {
	db := w.Store.Bun()
	owner := ownerOf(inc.OwnerKind, inc.OwnerID)
	detail, err := incidents.Get(ctx, db, owner, inc.ID)
	if err != nil {
		return nil, err
	}
	in := &rca.Input{Incident: *detail}
	enr, evidence, err := store.IncidentEvidence(ctx, db, inc.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range evidence {
		in.Evidence = append(in.Evidence, evidenceFromRow(e))
	}
	if r := enr[inc.ID]; r != nil {
		_ = json.Unmarshal([]byte(r.Notes), &in.Notes)
		if r.Error != "" {
			in.Notes = append(in.Notes, "enrichment "+r.Status+": "+r.Error)
		}
	} else {
		in.Notes = append(in.Notes, "no enrichment was gathered")
	}
	children, err := incidents.ChildIDs(ctx, db, inc.ID, 20)
	if err != nil {
		return nil, err
	}
	for _, id := range children {
		d, err := incidents.Get(ctx, db, owner, id)
		if err != nil {
			return nil, err
		}
		in.Correlated = append(in.Correlated, d.Incident)
	}
	return in, nil
}

func evidenceFromRow(e store.Evidence) sdk.Evidence {
	out := sdk.Evidence{Kind: e.Kind, ID: e.ExternalID, Summary: e.Summary, DedupKey: e.DedupKey}
	if e.At != nil {
		out.At = *e.At
	}
	if e.Data != nil {
		out.Data = []byte(*e.Data)
	}
	if e.ServiceID != "" || e.ServiceName != "" {
		out.Service = &sdk.Reference{ID: e.ServiceID, Summary: e.ServiceName}
	}
	return out
}
