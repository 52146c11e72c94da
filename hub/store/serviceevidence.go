package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// ServiceEvidence is service-level evidence (change events, dependencies)
// gathered for one incident of a connection's service, reused for the
// service's other incidents so a storm reads it once. Evidence, Notes and
// RelatedServices are JSON chosen by the pipeline.
type ServiceEvidence struct {
	bun.BaseModel `bun:"table:service_evidence"`

	ConnectionID string `bun:"connection_id,pk"`
	ServiceID    string `bun:"service_id,pk"`
	// GatheredUntil is the time the change events were read up to.
	GatheredUntil   time.Time `bun:"gathered_until"`
	GatheredAt      time.Time `bun:"gathered_at"`
	Evidence        string    `bun:"evidence"`
	Notes           string    `bun:"notes"`
	RelatedServices string    `bun:"related_services"`
}

// FreshServiceEvidence returns the service's evidence if it was read up to
// a time at or after triggered and no more than window after it (the
// incident's hour before triggering is then covered but for that much),
// or nil.
func FreshServiceEvidence(ctx context.Context, db bun.IDB, connectionID, serviceID string, triggered time.Time, window time.Duration) (*ServiceEvidence, error) {
	se := &ServiceEvidence{}
	q := db.NewSelect().Model(se).
		Where("connection_id = ? AND service_id = ?", connectionID, serviceID).
		Where("gathered_until >= ? AND gathered_until <= ?", triggered.UTC(), triggered.Add(window).UTC())
	if found, err := scanOne(ctx, q, "loading service evidence"); !found {
		return nil, err
	}
	return se, nil
}

// SaveServiceEvidence stores se unless the service's stored evidence was
// read up to a later time.
func SaveServiceEvidence(ctx context.Context, db bun.IDB, se *ServiceEvidence) error {
	se.GatheredUntil, se.GatheredAt = se.GatheredUntil.UTC(), se.GatheredAt.UTC()
	newer := func(q *bun.InsertQuery) *bun.InsertQuery {
		return q.Where("service_evidence.gathered_until < EXCLUDED.gathered_until")
	}
	return upsert(ctx, db, se, "connection_id, service_id",
		[]string{"gathered_until", "gathered_at", "evidence", "notes", "related_services"}, "storing service evidence", newer)
}

// correlationSignalKinds are the evidence correlation reads.
const correlationSignalKinds = "(kind = 'alert' AND dedup_key <> '') OR (kind = 'dependency' AND service_id <> '')"

// sqliteCorrelationSignals is CorrelationSignals' read on SQLite.
const sqliteCorrelationSignals = "SELECT incident_id, kind, external_id, dedup_key, service_id FROM incident_evidence" +
	" WHERE incident_id IN (SELECT value FROM json_each(?)) AND (" + correlationSignalKinds + ")"

// CorrelationSignals returns, of the incidents' evidence, only what
// correlation scores with: alerts with a dedup key and dependencies.
func CorrelationSignals(ctx context.Context, db bun.IDB, incidentIDs ...string) ([]Evidence, error) {
	if len(incidentIDs) == 0 {
		return nil, nil
	}
	var ev []Evidence
	var err error
	if SQLiteConn(db) != nil {
		// The ids as one JSON argument: one statement text whatever their
		// number, which SQLite keeps compiled (see Exec).
		ids, jerr := json.Marshal(incidentIDs)
		if jerr != nil {
			return nil, fmt.Errorf("encoding incident ids: %w", jerr)
		}
		err = Select(ctx, db, &ev, sqliteCorrelationSignals, string(ids))
	} else {
		err = db.NewSelect().Model(&ev).Column("incident_id", "kind", "external_id", "dedup_key", "service_id").
			Where("incident_id IN (?)", bun.List(incidentIDs)).
			Where(correlationSignalKinds).
			Scan(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("loading correlation evidence: %w", err)
	}
	return ev, nil
}
