package incidents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// MaxAttached bounds how many attached incidents Attached returns.
const MaxAttached = 1000

// AttachedIncident is an incident attached to another, by correlation or
// by a user's merge, with why it was attached.
type AttachedIncident struct {
	hub.Incident
	// Score is the correlation score (1 for a merge); Parts its components
	// as stored (JSON object text, "{}" when unknown).
	Score float64
	Parts string
	// AttachedAt is when it was attached (its creation time when unknown).
	AttachedAt time.Time
}

// correlationRow is a row of incident_correlations.
type correlationRow struct {
	bun.BaseModel `bun:"table:incident_correlations,alias:c"`

	IncidentID       string    `bun:"incident_id,pk"`
	ParentIncidentID string    `bun:"parent_incident_id"`
	Score            float64   `bun:"score"`
	Parts            string    `bun:"parts"`
	CreatedAt        time.Time `bun:"created_at"`
}

// Attached returns the incidents attached to parentID (at most
// MaxAttached), oldest attachment first, in two queries.
func Attached(ctx context.Context, db bun.IDB, parentID string) ([]AttachedIncident, error) {
	var rows []incidentRow
	err := db.NewSelect().Model(&rows).Where("i.parent_incident_id = ?", parentID).
		OrderExpr("i.created_at ASC, i.id ASC").Limit(MaxAttached).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading attached incidents: %w", err)
	}
	if len(rows) == 0 {
		return []AttachedIncident{}, nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var corrs []correlationRow
	if err := db.NewSelect().Model(&corrs).Where("c.incident_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading correlations: %w", err)
	}
	byID := make(map[string]*correlationRow, len(corrs))
	for i := range corrs {
		byID[corrs[i].IncidentID] = &corrs[i]
	}
	out := make([]AttachedIncident, 0, len(rows))
	for i := range rows {
		a := AttachedIncident{Incident: rows[i].toDomain(), Parts: "{}", AttachedAt: utc(rows[i].CreatedAt)}
		if c := byID[rows[i].ID]; c != nil {
			a.Score, a.Parts, a.AttachedAt = c.Score, c.Parts, utc(c.CreatedAt)
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AttachedAt.Before(out[j].AttachedAt) })
	return out, nil
}

// RecentLimit bounds RecentUnlinked.
const RecentLimit = 10

// RecentUnlinked returns the owner's newest incidents (at most RecentLimit)
// still investigating, created at or after since, attached to no other,
// leaving out exclude: the candidates a user may merge into an incident.
func RecentUnlinked(ctx context.Context, db bun.IDB, owner hub.Owner, since time.Time, exclude string) ([]hub.Incident, error) {
	var rows []incidentRow
	q := db.NewSelect().Model(&rows).
		Where("i.owner_kind = ? AND i.owner_id = ?", owner.Kind(), owner.ID()).
		Where("i.state_at IS NOT NULL").
		Where("i.status = ?", hub.IncidentInvestigating).
		Where("i.parent_incident_id IS NULL").
		Where("i.created_at >= ?", since.UTC())
	if exclude != "" {
		q = q.Where("i.id <> ?", exclude)
	}
	if err := q.OrderExpr("i.created_at DESC, i.id DESC").Limit(RecentLimit).Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing recent incidents: %w", err)
	}
	out := make([]hub.Incident, 0, len(rows))
	for i := range rows {
		out = append(out, rows[i].toDomain())
	}
	return out, nil
}

// Titles returns the titles of the owner's incidents among ids, by id.
func Titles(ctx context.Context, db bun.IDB, owner hub.Owner, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID    string `bun:"id"`
		Title string `bun:"title"`
	}
	err := db.NewSelect().TableExpr("incidents AS i").Column("i.id", "i.title").
		Where("i.owner_kind = ? AND i.owner_id = ?", owner.Kind(), owner.ID()).
		Where("i.id IN (?)", bun.List(ids)).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("loading incident titles: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = r.Title
	}
	return out, nil
}

// Brief is what a route needs to know of an incident to act on it.
type Brief struct {
	ID, Provider, Title, Status, AuroraStatus string
}

// Lookup returns one of the owner's incidents in brief; an unknown or
// another owner's incident is ENotFound "Incident not found".
func Lookup(ctx context.Context, db bun.IDB, owner hub.Owner, id string) (*Brief, error) {
	b := &Brief{}
	err := db.NewSelect().TableExpr("incidents AS i").
		Column("i.id", "i.provider", "i.title", "i.status", "i.aurora_status").
		Where("i.id = ? AND i.owner_kind = ? AND i.owner_id = ?", id, owner.Kind(), owner.ID()).
		Scan(ctx, &b.ID, &b.Provider, &b.Title, &b.Status, &b.AuroraStatus)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "Incident not found")
	}
	if err != nil {
		return nil, fmt.Errorf("loading incident: %w", err)
	}
	return b, nil
}
