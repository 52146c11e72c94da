package incidents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// Patch is a user's change to an incident; nil fields are left alone.
type Patch struct {
	// Status is one of the hub's incident statuses; resolved sets
	// resolvedAt and analyzed sets analyzedAt (when not set yet).
	Status *string
	// AuroraStatus is one of the Aurora* analysis statuses.
	AuroraStatus *string
	// Summary replaces the analysis summary.
	Summary *string
}

// Update applies p to one of the owner's incidents and bumps its
// updatedAt, and returns its provider. An unknown or another owner's
// incident is ENotFound "Incident not found".
func Update(ctx context.Context, db bun.IDB, owner hub.Owner, id string, p Patch) (provider string, err error) {
	now := time.Now().UTC()
	q := db.NewUpdate().Table("incidents").Set("updated_at = ?", now)
	if p.Status != nil {
		q = q.Set("status = ?", *p.Status)
		switch *p.Status {
		case hub.IncidentResolved:
			q = q.Set("resolved_at = COALESCE(resolved_at, ?)", now)
		case hub.IncidentAnalyzed:
			q = q.Set("analyzed_at = COALESCE(analyzed_at, ?)", now)
		}
	}
	if p.AuroraStatus != nil {
		q = q.Set("aurora_status = ?", *p.AuroraStatus)
	}
	if p.Summary != nil {
		q = q.Set("summary = ?", *p.Summary)
	}
	err = q.Where("id = ? AND owner_kind = ? AND owner_id = ?", id, owner.Kind(), owner.ID()).
		Returning("provider").Scan(ctx, &provider)
	if errors.Is(err, sql.ErrNoRows) {
		return "", hub.Errorf(hub.ENotFound, "Incident not found")
	}
	if err != nil {
		return "", fmt.Errorf("updating incident: %w", err)
	}
	if p.Status != nil && *p.Status == hub.IncidentResolved {
		// A user resolves the whole group: a parent reads open while any
		// attached incident is, so the attached ones are resolved with it.
		// One that fires again reopens the group, as a refire does.
		_, err = db.NewUpdate().Table("incidents").
			Set("status = ?", hub.IncidentResolved).Set("resolved_at = COALESCE(resolved_at, ?)", now).Set("updated_at = ?", now).
			Where("parent_incident_id = ? AND status IN (?)", id, bun.List([]string{hub.IncidentInvestigating, hub.IncidentAnalyzed})).
			Exec(ctx)
		if err != nil {
			return "", fmt.Errorf("resolving attached incidents: %w", err)
		}
	}
	return provider, nil
}
