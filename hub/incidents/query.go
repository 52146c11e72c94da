package incidents

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// List limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Filter selects incidents. Empty fields do not filter.
type Filter struct {
	// Status is a comma-separated list of hub statuses (investigating,
	// analyzed, resolved, merged) and/or provider statuses (triggered,
	// acknowledged).
	Status string
	// Severity is a comma-separated list of severities.
	Severity string
	// Source is the provider (e.g. "pagerduty").
	Source string
	// Service is a service name (case-insensitive) or a provider service id.
	Service string
	// Since (inclusive) and Until (exclusive) bound startedAt.
	Since, Until time.Time
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Cursor is the nextCursor of the previous page.
	Cursor string
	// ExcludeMerged leaves out incidents merged into another.
	ExcludeMerged bool
	// IncludeCorrelated lists incidents attached to another by correlation
	// too; by default only the incidents they were attached to are listed,
	// so an alert storm is one incident.
	IncludeCorrelated bool
}

type cursor struct {
	StartedAt time.Time `json:"s"`
	ID        string    `json:"i"`
}

func encodeCursor(r *incidentRow) string {
	b, _ := json.Marshal(cursor{StartedAt: r.StartedAt.UTC(), ID: r.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || c.StartedAt.IsZero() {
		return cursor{}, hub.Errorf(hub.EInvalid, "Invalid cursor: pass the nextCursor of a previous page unchanged")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// A correlated group (a top-level incident and the incidents attached to it)
// is open while any member is: a parent whose own alert resolved while
// attached ones still fire reads as open (investigating, or analyzed when an
// analysis finished), without resolvedAt, and a status filter sees it so.
// Its providerStatus stays the parent alert's own.
const (
	groupOpenExpr = "(i.status = 'resolved' AND EXISTS (SELECT 1 FROM incidents c" +
		" WHERE c.parent_incident_id = i.id AND c.status NOT IN ('resolved', 'merged')))"
	groupStatusExpr = "(CASE WHEN " + groupOpenExpr + " THEN (CASE WHEN i.analyzed_at IS NULL" +
		" THEN 'investigating' ELSE 'analyzed' END) ELSE i.status END)"
)

// List returns the owner's incidents matching f, newest first (startedAt,
// then id, descending), and the cursor of the next page ("" on the last).
// Bad filters are *hub.Error EInvalid.
func List(ctx context.Context, db bun.IDB, owner hub.Owner, f Filter) (items []hub.Incident, nextCursor string, err error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, "", hub.Errorf(hub.EInvalid, "Invalid limit: must be between 1 and %d", MaxLimit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, "", hub.Errorf(hub.EInvalid, "Invalid time range: since must be before until")
	}

	// Room for the whole page: Bun appends row by row, by reflection.
	rows := make([]incidentRow, 0, limit+1)
	q, err := where(db.NewSelect().Model(&rows).ColumnExpr(listColumns(db)).ColumnExpr(groupOpenExpr+" AS group_open"), owner, f)
	if err != nil {
		return nil, "", err
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		// "started_at <= ?" repeats what the OR implies: with it the index
		// range starts at the cursor; without it PostgreSQL read the index
		// from the newest incident and filtered, so paging through a storm
		// grew with the square of its size (page 80 of 100 of 500: 32.5 ms
		// instead of 1.5 ms).
		q = q.Where("i.started_at <= ? AND (i.started_at < ? OR (i.started_at = ? AND i.id < ?))", c.StartedAt, c.StartedAt, c.StartedAt, c.ID)
	}

	if err := q.OrderExpr("i.started_at DESC, i.id DESC").Limit(int64(limit) + 1).Scan(ctx); err != nil {
		return nil, "", fmt.Errorf("listing incidents: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		nextCursor = encodeCursor(&rows[limit-1])
	}
	items = make([]hub.Incident, 0, len(rows))
	for i := range rows {
		items = append(items, rows[i].toDomain())
	}
	return items, nextCursor, nil
}

// where applies the owner and f's filters (not its cursor or limit) to q,
// a select of incidents aliased i.
func where(q *bun.SelectQuery, owner hub.Owner, f Filter) (*bun.SelectQuery, error) {
	q = q.Where("i.owner_kind = ? AND i.owner_id = ?", owner.Kind(), owner.ID()).
		// Placeholders (made from a partial event, no state yet) are not listed.
		Where("i.state_at IS NOT NULL")
	if f.ExcludeMerged {
		q = q.Where("i.status <> ?", hub.IncidentMerged)
	}

	if s := f.Status; strings.TrimSpace(s) != "" {
		var statuses, providerStatuses []string
		for _, v := range splitList(s) {
			switch v {
			case hub.IncidentInvestigating, hub.IncidentAnalyzed, hub.IncidentResolved, hub.IncidentMerged:
				statuses = append(statuses, v)
			case providerTriggered, providerAcknowledged:
				providerStatuses = append(providerStatuses, v)
			default:
				return nil, hub.Errorf(hub.EInvalid, "Invalid status %q: use investigating, analyzed, resolved, merged, triggered or acknowledged", v)
			}
		}
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			if len(statuses) > 0 {
				q = q.WhereOr(groupStatusExpr+" IN (?)", bun.List(statuses))
			}
			if len(providerStatuses) > 0 {
				q = q.WhereOr("i.provider_status IN (?)", bun.List(providerStatuses))
			}
			return q
		})
	}
	if s := f.Severity; strings.TrimSpace(s) != "" {
		sevs := splitList(s)
		for _, v := range sevs {
			switch v {
			case hub.SeverityCritical, hub.SeverityHigh, hub.SeverityMedium, hub.SeverityLow:
			default:
				return nil, hub.Errorf(hub.EInvalid, "Invalid severity %q: use critical, high, medium or low", v)
			}
		}
		q = q.Where("i.severity IN (?)", bun.List(sevs))
	}
	if s := strings.TrimSpace(f.Source); s != "" {
		q = q.Where("i.provider = ?", strings.ToLower(s))
	}
	if !f.IncludeCorrelated {
		q = q.Where("i.parent_incident_id IS NULL")
	}
	if s := strings.TrimSpace(f.Service); s != "" {
		q = q.Where("(LOWER(i.service_name) = ? OR i.service_id = ?)", strings.ToLower(s), s)
	}
	if !f.Since.IsZero() {
		q = q.Where("i.started_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("i.started_at < ?", f.Until.UTC())
	}
	return q, nil
}

// Count is the number of the owner's incidents matching f (its cursor and
// limit aside).
func Count(ctx context.Context, db bun.IDB, owner hub.Owner, f Filter) (int, error) {
	q, err := where(db.NewSelect().TableExpr("incidents AS i"), owner, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("counting incidents: %w", err)
	}
	return int(n), nil
}

// Get returns one of the owner's incidents with its timeline (oldest first)
// and custom fields (by name). Another owner's or an unknown incident is
// *hub.Error ENotFound.
func Get(ctx context.Context, db bun.IDB, owner hub.Owner, id string) (*hub.IncidentDetail, error) {
	var r incidentRow
	err := db.NewSelect().Model(&r).Column("i.*").ColumnExpr(groupOpenExpr+" AS group_open").
		Where("i.id = ? AND i.owner_kind = ? AND i.owner_id = ?", id, owner.Kind(), owner.ID()).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hub.Errorf(hub.ENotFound, "Incident not found")
	}
	if err != nil {
		return nil, fmt.Errorf("loading incident: %w", err)
	}
	var events []eventRow
	if err := db.NewSelect().Model(&events).Where("e.incident_id = ?", r.ID).
		OrderExpr("e.occurred_at ASC, e.recorded_at ASC, e.event_id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading incident timeline: %w", err)
	}
	var fields []fieldRow
	if err := db.NewSelect().Model(&fields).Where("f.incident_id = ? AND f.value_json <> 'null'", r.ID).
		OrderExpr("f.name ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading incident custom fields: %w", err)
	}
	d := &hub.IncidentDetail{
		Incident:     r.toDomain(),
		Timeline:     make([]hub.TimelineEntry, 0, len(events)),
		CustomFields: make([]hub.IncidentCustomField, 0, len(fields)),
	}
	for i := range events {
		d.Timeline = append(d.Timeline, events[i].toDomain())
	}
	for i := range fields {
		d.CustomFields = append(d.CustomFields, fields[i].toDomain())
	}
	return d, nil
}

// listColumns is the list's columns: i.* on PostgreSQL; on SQLite the same
// with each time column read as text. modernc's driver parses the text of
// a TIMESTAMP column itself, first trying Go's time.String layout, which
// never matches what Bun writes, so every time was parsed twice (a quarter
// of List's CPU in BenchmarkList); as text, Bun parses it once.
func listColumns(db bun.IDB) string {
	if db.Dialect().Name() != dialect.SQLite {
		return "i.*"
	}
	sqliteListOnce.Do(func() {
		t := db.Dialect().Tables().Get(reflect.TypeFor[incidentRow]())
		cols := make([]string, 0, len(t.Fields))
		for _, f := range t.Fields {
			if f.IndirectType == timeType {
				cols = append(cols, fmt.Sprintf("CAST(i.%s AS TEXT) AS %s", f.SQLName, f.SQLName))
			} else {
				cols = append(cols, "i."+string(f.SQLName))
			}
		}
		sqliteListCols = strings.Join(cols, ", ")
	})
	return sqliteListCols
}

var (
	sqliteListOnce sync.Once
	sqliteListCols string
)
