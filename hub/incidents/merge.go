package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// MergedFromKey is the key of a manual merge's correlation parts: the
// merged incident's id. Automatic correlations never have it.
const MergedFromKey = "merged_from_incident"

// Merge attaches the owner's incident sourceID to targetID as a user's
// decision: the source becomes merged (its analysis complete, its summary
// cleared) and an alert of the target, recorded as a manual correlation
// with score 1; incidents attached to the source move to the target. Run
// it in a transaction. It returns the target's provider. Errors are
// *hub.Error with the frontend's messages.
func Merge(ctx context.Context, tx bun.IDB, owner hub.Owner, targetID, sourceID string) (string, error) {
	if tx.Dialect().Name() == dialect.PG {
		// The same lock as the pipeline's correlation: one tenant's
		// attachments are decided one at a time, so parents stay top-level.
		if err := LockCorrelation(ctx, tx, owner.Kind(), owner.ID()); err != nil {
			return "", err
		}
	}
	load := func(id, notFound string) (*incidentRow, error) {
		r := &incidentRow{}
		err := tx.NewSelect().Model(r).
			Where("i.id = ? AND i.owner_kind = ? AND i.owner_id = ?", id, owner.Kind(), owner.ID()).
			Where("i.state_at IS NOT NULL").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, hub.Errorf(hub.ENotFound, "%s", notFound)
		}
		if err != nil {
			return nil, fmt.Errorf("loading incident: %w", err)
		}
		return r, nil
	}
	src, err := load(sourceID, "Source incident not found")
	if err != nil {
		return "", err
	}
	if src.Status == hub.IncidentMerged {
		return "", hub.Errorf(hub.EInvalid, "Source incident is already merged into another incident")
	}
	dst, err := load(targetID, "Target incident not found")
	if err != nil {
		return "", err
	}
	if dst.Status == hub.IncidentMerged {
		return "", hub.Errorf(hub.EInvalid, "Cannot merge into an incident that is already merged")
	}
	if dst.ParentIncidentID != nil {
		return "", hub.Errorf(hub.EInvalid, "Cannot merge into an incident that is itself attached to another incident")
	}

	now := time.Now().UTC()
	// The source's own attached incidents move to the target.
	n, err := moveAttached(ctx, tx, src.ID, dst.ID, now)
	if err != nil {
		return "", err
	}
	parts, _ := json.Marshal(map[string]string{MergedFromKey: src.ID})
	if _, err := tx.NewInsert().Model(&correlationRow{
		IncidentID: src.ID, ParentIncidentID: dst.ID, Score: 1, Parts: string(parts), CreatedAt: now,
	}).On("CONFLICT (incident_id) DO UPDATE").
		Set("parent_incident_id = EXCLUDED.parent_incident_id").Set("score = EXCLUDED.score").
		Set("parts = EXCLUDED.parts").Set("created_at = EXCLUDED.created_at").Exec(ctx); err != nil {
		return "", fmt.Errorf("recording the merge: %w", err)
	}
	if _, err := tx.NewUpdate().Table("incidents").
		Set("status = ?", hub.IncidentMerged).Set("aurora_status = ?", hub.AuroraComplete).Set("summary = NULL").
		Set("merged_into_incident_id = ?", dst.ID).Set("parent_incident_id = ?", dst.ID).
		Set("correlated_alert_count = 0").Set("updated_at = ?", now).
		Where("id = ?", src.ID).Exec(ctx); err != nil {
		return "", fmt.Errorf("marking the source merged: %w", err)
	}
	if old := src.ParentIncidentID; old != nil && *old != dst.ID {
		// It was attached elsewhere by correlation: it leaves that parent.
		if _, err := tx.NewUpdate().Table("incidents").
			Set("correlated_alert_count = CASE WHEN correlated_alert_count > 0 THEN correlated_alert_count - 1 ELSE 0 END").
			Set("updated_at = ?", now).Where("id = ?", *old).Exec(ctx); err != nil {
			return "", fmt.Errorf("detaching from the previous parent: %w", err)
		}
	}
	added := n
	if src.ParentIncidentID == nil || *src.ParentIncidentID != dst.ID {
		added++
	}
	services := decodeStrings(dst.AffectedServices)
	for _, s := range append([]string{dst.ServiceName, src.ServiceName}, decodeStrings(src.AffectedServices)...) {
		if s != "" && !containsString(services, s) {
			services = append(services, s)
		}
	}
	sort.Strings(services)
	svcJSON, _ := json.Marshal(services)
	if _, err := tx.NewUpdate().Table("incidents").
		Set("correlated_alert_count = correlated_alert_count + ?", added).
		Set("affected_services = ?", string(svcJSON)).
		Set("updated_at = ?", now).Where("id = ?", dst.ID).Exec(ctx); err != nil {
		return "", fmt.Errorf("updating the target incident: %w", err)
	}
	return dst.Provider, nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
