package incidents

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// processedRow records that the pipeline is done with an incident's
// processing (enrichment, correlation, analysis scheduling): it was
// processed, or handed to a job of its own after a failure. A retried
// chunk of incidents skips those it names.
type processedRow struct {
	bun.BaseModel `bun:"table:incident_processed,alias:ip"`
	IncidentID    string    `bun:"incident_id,pk"`
	ProcessedAt   time.Time `bun:"processed_at"`
}

// markProcessed inserts the mark only while the incident exists: one
// deleted meanwhile (retention, a merge) has nothing left to process.
const markProcessed = "INSERT INTO incident_processed (incident_id, processed_at) SELECT id, ? FROM incidents WHERE id = ? " +
	"ON CONFLICT (incident_id) DO NOTHING"

// MarkProcessed records incident id as done by the pipeline (again, or for
// an incident that no longer exists: no-op). Call it in the transaction
// that finishes the incident's processing.
func MarkProcessed(ctx context.Context, db bun.IDB, id string, at time.Time) error {
	var err error
	if ex := store.SQLiteConn(db); ex != nil {
		// A hot statement (one per new incident): arguments, kept compiled.
		_, err = ex.ExecContext(ctx, markProcessed, sqliteValue(db, reflect.ValueOf(at.UTC())), id)
	} else {
		_, err = db.NewRaw(markProcessed, at.UTC(), id).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("marking incident %s processed: %w", id, err)
	}
	return nil
}

// Processed returns which of ids are recorded as done by MarkProcessed.
func Processed(ctx context.Context, db bun.IDB, ids []string) (map[string]bool, error) {
	done := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return done, nil
	}
	var found []string
	if err := db.NewSelect().Model((*processedRow)(nil)).Column("incident_id").
		Where("incident_id IN (?)", bun.In(ids)).Scan(ctx, &found); err != nil {
		return nil, fmt.Errorf("loading processed incidents: %w", err)
	}
	for _, id := range found {
		done[id] = true
	}
	return done, nil
}
