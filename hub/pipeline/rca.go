package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
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

// RCAWorker runs an analysis and stores its report; the report, the
// incident's summary and the job's completion commit together, so an
// analysis interrupted by a crash runs again and one that finished never does.
type RCAWorker struct {
	river.WorkerDefaults[RCAArgs]
	Deps
	Analyzer rca.Analyzer
}

// Work implements river.Worker.
func (w *RCAWorker) Work(ctx context.Context, job *river.Job[RCAArgs]) error {
	inc, err := loadFacts(ctx, w.Store.DB, job.Args.IncidentID)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	err = w.Store.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewUpdate().Model((*store.RCA)(nil)).Set("status = ?", store.RCARunning).Where("id = ?", job.Args.RCAID).Exec(ctx); err != nil {
			return fmt.Errorf("marking analysis running: %w", err)
		}
		_, err := tx.NewUpdate().Table("incidents").Set("aurora_status = ?", hub.AuroraRunning).Set("updated_at = ?", now).Where("id = ?", inc.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return err
	}
	w.Live.Publish(ctx, inc.OwnerKind, inc.OwnerID, live.Event{Type: live.IncidentUpdate, IncidentID: inc.ID, Source: inc.Provider, Status: hub.AuroraRunning})

	began := time.Now()
	in, err := w.input(ctx, inc)
	var report *rca.Report
	if err == nil {
		report, err = w.Analyzer.Analyze(ctx, *in)
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopping: the job runs again
	}
	took, analysisErr := time.Since(began), err
	done := time.Now().UTC()
	err = w.Store.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewUpdate().Model((*store.RCA)(nil)).Set("completed_at = ?", done).Where("id = ?", job.Args.RCAID)
		iq := tx.NewUpdate().Table("incidents").Set("updated_at = ?", done).Where("id = ?", inc.ID)
		if err != nil {
			w.Logger.Error("analysis failed", "incident", inc.ID, "error", err)
			q = q.Set("status = ?", store.RCAError).Set("error = ?", truncate(err.Error(), 1000))
			iq = iq.Set("aurora_status = ?", hub.AuroraError)
		} else {
			q = q.Set("status = ?", store.RCAComplete).Set("analyzer = ?", report.Analyzer).Set("report = ?", mustJSON(report))
			iq = iq.Set("aurora_status = ?", hub.AuroraComplete).Set("summary = ?", report.Summary).Set("analyzed_at = ?", done)
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("storing analysis: %w", err)
		}
		if _, err := iq.Exec(ctx); err != nil {
			return fmt.Errorf("updating incident: %w", err)
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

func ownerOf(kind, id string) hub.Owner {
	if kind == "org" {
		return hub.Owner{OrgID: id}
	}
	return hub.Owner{UserID: id}
}

// input gathers what the analyzer reads: the incident, its evidence, what
// could not be gathered, and the incidents correlated into it.
func (w *RCAWorker) input(ctx context.Context, inc *incidentFacts) (*rca.Input, error) {
	db := w.Store.DB
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
	var children []string
	if err := db.NewSelect().Table("incidents").Column("id").Where("parent_incident_id = ?", inc.ID).Order("started_at").Limit(20).Scan(ctx, &children); err != nil {
		return nil, fmt.Errorf("loading correlated incidents: %w", err)
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
