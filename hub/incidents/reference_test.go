package incidents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// applyReference is Apply as it was before ApplyBatch, kept verbatim (one
// event, two to four statements) as the reference ApplyBatch must match.
//
// It applies one event to the owner's incident, creating it when needed.
//
// Run it inside a transaction (db is normally a bun.Tx): it locks the
// incident's row first (an INSERT ... ON CONFLICT DO UPDATE ... RETURNING,
// which on PostgreSQL holds the row lock until the transaction ends), so
// concurrent workers applying events of one incident serialise on it.
// SQLite serialises writers anyway.
//
// Apply is idempotent: each event is recorded once per incident (by event
// id) and a replay returns changed == false. Events that arrive out of
// order never move an incident back: only a full incident event at least as
// new as the newest state already applied changes its state. Partial events
// (notes, custom-field updates, ...) never change state; when the incident
// is unknown they create a placeholder that the full event fills later.
//
// incidentID is "" for events that concern no incident (pings, service
// events, unknown types). changed reports whether the event was new, that
// is whether anything was recorded (at least its timeline entry).
func applyReference(ctx context.Context, db bun.IDB, src Source, ev sdk.Event) (incidentID string, changed bool, err error) {
	in := ev.Incident
	if in == nil {
		return "", false, nil
	}
	extID := strings.TrimSpace(in.ExternalID)
	if extID == "" {
		return "", false, nil
	}
	if src.Provider == "" || src.OwnerKind == "" || src.OwnerID == "" {
		return "", false, errors.New("incidents: source needs a provider and an owner")
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	at := eventTime(ev, now)

	// Insert the incident as this event describes it, or lock and read the
	// existing row (the no-op update takes the row lock on PostgreSQL).
	// The row is read into a fresh struct: scanning NULL into a set pointer
	// would zero its target instead of clearing the pointer.
	newID := newIncidentID()
	row := new(incidentRow)
	_, err = db.NewInsert().Model(newRow(src, extID, in, ev, at, now, newID)).
		On("CONFLICT (provider, owner_kind, owner_id, external_id) DO UPDATE").
		Set("external_id = EXCLUDED.external_id").
		Returning("*").
		Exec(ctx, row)
	if err != nil {
		return "", false, fmt.Errorf("upserting incident %s: %w", extID, err)
	}
	inserted := row.ID == newID

	res, err := db.NewInsert().Model(timelineRow(row.ID, ev, at, now)).
		On("CONFLICT (incident_id, event_id) DO NOTHING").
		Exec(ctx)
	if err != nil {
		return "", false, fmt.Errorf("recording event of incident %s: %w", extID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", false, fmt.Errorf("recording event of incident %s: %w", extID, err)
	} else if n == 0 {
		return row.ID, false, nil // already applied
	}

	if !inserted {
		if m := (&merger{r: row}); m.merge(in, ev, at) {
			row.UpdatedAt = now
			_, err := db.NewUpdate().Model(row).Column(updateColumns...).WherePK().Exec(ctx)
			if err != nil {
				return "", false, fmt.Errorf("updating incident %s: %w", extID, err)
			}
		}
	}

	if fields := fieldRows(row.ID, in, at); len(fields) > 0 {
		_, err := db.NewInsert().Model(&fields).
			On("CONFLICT (incident_id, name) DO UPDATE").
			Set("field_id = EXCLUDED.field_id").
			Set("namespace = EXCLUDED.namespace").
			Set("data_type = EXCLUDED.data_type").
			Set("field_type = EXCLUDED.field_type").
			Set("value_json = EXCLUDED.value_json").
			Set("set_at = EXCLUDED.set_at").
			Where("?TableAlias.set_at <= EXCLUDED.set_at").
			Exec(ctx)
		if err != nil {
			return "", false, fmt.Errorf("setting custom fields of incident %s: %w", extID, err)
		}
	}
	return row.ID, true, nil
}
