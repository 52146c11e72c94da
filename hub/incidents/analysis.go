package incidents

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// analyzedStatus is an incident's status once an analysis ended: an open
// incident becomes analyzed, a resolved or merged one stays as it is.
var analyzedStatus = "CASE WHEN status IN ('" + hub.IncidentInvestigating + "', '" + hub.IncidentAnalyzed +
	"') THEN '" + hub.IncidentAnalyzed + "' ELSE status END"

// AnalysisUpdate is what an analysis's progress changes on its incident.
type AnalysisUpdate struct {
	// AuroraStatus is one of the hub.Aurora* statuses.
	AuroraStatus string
	// Ended: the analysis is over, so an open incident becomes analyzed
	// (a resolved or merged one keeps its status).
	Ended bool
	// AnalyzedAt and Summary are set when not nil.
	AnalyzedAt *time.Time
	Summary    *string
	// At is the incident's new updatedAt.
	At time.Time
}

// RecordAnalysis applies u to incident id, in one statement.
func RecordAnalysis(ctx context.Context, db bun.IDB, id string, u AnalysisUpdate) error {
	q := db.NewUpdate().Table("incidents")
	if u.Ended {
		q = q.Set("status = " + analyzedStatus)
	}
	q = q.Set("aurora_status = ?", u.AuroraStatus)
	if u.AnalyzedAt != nil {
		q = q.Set("analyzed_at = ?", *u.AnalyzedAt)
	}
	if u.Summary != nil {
		q = q.Set("summary = ?", *u.Summary)
	}
	if _, err := q.Set("updated_at = ?", u.At).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("updating incident %s's analysis status: %w", id, err)
	}
	return nil
}

// Touch sets incident id's updatedAt to at, so a page polling it sees that
// something about it (an analysis thought) changed.
func Touch(ctx context.Context, db bun.IDB, id string, at time.Time) error {
	if _, err := db.NewUpdate().Table("incidents").Set("updated_at = ?", at).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("marking incident updated: %w", err)
	}
	return nil
}

// ChildIDs returns the ids of the incidents attached to parentID, the
// earliest started first, at most limit.
func ChildIDs(ctx context.Context, db bun.IDB, parentID string, limit int) ([]string, error) {
	var ids []string
	if err := db.NewSelect().Table("incidents").Column("id").Where("parent_incident_id = ?", parentID).
		Order("started_at").Limit(int64(limit)).Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("loading correlated incidents: %w", err)
	}
	return ids, nil
}
