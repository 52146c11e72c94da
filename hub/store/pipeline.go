package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Settings are a tenant's pipeline switches.
type Settings struct {
	bun.BaseModel `bun:"table:settings"`

	OwnerKind    string    `bun:"owner_kind,pk"`
	OwnerID      string    `bun:"owner_id,pk"`
	AutomatedRCA bool      `bun:"automated_rca"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

// Settings returns the tenant's settings (defaults when none are saved).
func (s *Store) Settings(ctx context.Context, ownerKind, ownerID string) (*Settings, error) {
	return TenantSettings(ctx, s.db, ownerKind, ownerID)
}

// TenantSettings returns the tenant's settings (defaults when none are
// saved), read through db (a transaction's, when the caller acts on them).
func TenantSettings(ctx context.Context, db bun.IDB, ownerKind, ownerID string) (*Settings, error) {
	st := &Settings{OwnerKind: ownerKind, OwnerID: ownerID, AutomatedRCA: true}
	q := db.NewSelect().Model(st).Where("owner_kind = ? AND owner_id = ?", ownerKind, ownerID)
	if _, err := scanOne(ctx, q, "loading settings"); err != nil {
		return nil, err
	}
	return st, nil
}

// SaveSettings stores the tenant's settings.
func (s *Store) SaveSettings(ctx context.Context, st *Settings) error {
	st.UpdatedAt = time.Now().UTC()
	return upsert(ctx, s.db, st, "owner_kind, owner_id", []string{"automated_rca", "updated_at"}, "saving settings")
}

// Enrichment records what gathering evidence for an incident achieved.
type Enrichment struct {
	bun.BaseModel `bun:"table:incident_enrichments"`

	IncidentID      string    `bun:"incident_id,pk"`
	Status          string    `bun:"status"` // complete, partial, failed, unsupported
	Notes           string    `bun:"notes"`
	RelatedServices string    `bun:"related_services"`
	Error           string    `bun:"error"`
	GatheredAt      time.Time `bun:"gathered_at"`
}

// Evidence is one stored piece of evidence of an incident.
type Evidence struct {
	bun.BaseModel `bun:"table:incident_evidence"`

	IncidentID  string     `bun:"incident_id,pk"`
	Kind        string     `bun:"kind,pk"`
	ExternalID  string     `bun:"external_id,pk"`
	Summary     string     `bun:"summary"`
	At          *time.Time `bun:"at"`
	Data        *string    `bun:"data"`
	DedupKey    string     `bun:"dedup_key"`
	ServiceID   string     `bun:"service_id"`
	ServiceName string     `bun:"service_name"`
}

// SaveEnrichment replaces the incident's evidence and enrichment record.
func SaveEnrichment(ctx context.Context, db bun.IDB, e *Enrichment, evidence []Evidence) error {
	if _, err := db.NewDelete().Model((*Evidence)(nil)).Where("incident_id = ?", e.IncidentID).Exec(ctx); err != nil {
		return fmt.Errorf("clearing evidence: %w", err)
	}
	if len(evidence) > 0 {
		if _, err := db.NewInsert().Model(&evidence).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("storing evidence: %w", err)
		}
	}
	return upsert(ctx, db, e, "incident_id", []string{"status", "notes", "related_services", "error", "gathered_at"}, "storing enrichment")
}

// IncidentEvidence returns the incident's enrichment record (nil when none)
// and its evidence, oldest first.
func IncidentEvidence(ctx context.Context, db bun.IDB, incidentIDs ...string) (map[string]*Enrichment, []Evidence, error) {
	if len(incidentIDs) == 0 {
		return map[string]*Enrichment{}, nil, nil
	}
	var enr []Enrichment
	if err := db.NewSelect().Model(&enr).Where("incident_id IN (?)", bun.List(incidentIDs)).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("loading enrichment: %w", err)
	}
	byID := make(map[string]*Enrichment, len(enr))
	for i := range enr {
		byID[enr[i].IncidentID] = &enr[i]
	}
	var ev []Evidence
	if err := db.NewSelect().Model(&ev).Where("incident_id IN (?)", bun.List(incidentIDs)).Order("at", "kind", "external_id").Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("loading evidence: %w", err)
	}
	return byID, ev, nil
}

// RCA statuses.
const (
	RCAQueued   = "queued"
	RCARunning  = "running"
	RCAComplete = "complete"
	RCAError    = "error"
)

// RCA is one root-cause analysis run of an incident.
type RCA struct {
	bun.BaseModel `bun:"table:incident_rca"`

	ID          string     `bun:"id,pk"`
	IncidentID  string     `bun:"incident_id"`
	Status      string     `bun:"status"`
	Reason      string     `bun:"reason"` // automatic, manual
	Analyzer    string     `bun:"analyzer"`
	Report      *string    `bun:"report"`
	Error       string     `bun:"error"`
	CreatedAt   time.Time  `bun:"created_at"`
	CompletedAt *time.Time `bun:"completed_at"`
}

// LatestRCA returns the incident's newest analysis, or nil.
func LatestRCA(ctx context.Context, db bun.IDB, incidentID string) (*RCA, error) {
	r := &RCA{}
	q := db.NewSelect().Model(r).Where("incident_id = ?", incidentID).Order("created_at DESC", "id DESC").Limit(1)
	if found, err := scanOne(ctx, q, "loading analysis"); !found {
		return nil, err
	}
	return r, nil
}

// InsertRCA records an analysis (normally queued).
func InsertRCA(ctx context.Context, db bun.IDB, r *RCA) error {
	if _, err := db.NewInsert().Model(r).Exec(ctx); err != nil {
		return fmt.Errorf("recording analysis: %w", err)
	}
	return nil
}

// StartRCA marks analysis id running.
func StartRCA(ctx context.Context, db bun.IDB, id string) error {
	if _, err := db.NewUpdate().Model((*RCA)(nil)).Set("status = ?", RCARunning).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("marking analysis running: %w", err)
	}
	return nil
}

// FailRCA ends analysis id at done with the error message msg.
func FailRCA(ctx context.Context, db bun.IDB, id string, done time.Time, msg string) error {
	if _, err := db.NewUpdate().Model((*RCA)(nil)).Set("completed_at = ?", done).
		Set("status = ?", RCAError).Set("error = ?", msg).
		Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("storing analysis failure: %w", err)
	}
	return nil
}

// CompleteRCA ends analysis id at done with the analyzer's report (JSON).
func CompleteRCA(ctx context.Context, db bun.IDB, id string, done time.Time, analyzer, report string) error {
	if _, err := db.NewUpdate().Model((*RCA)(nil)).Set("completed_at = ?", done).
		Set("status = ?", RCAComplete).Set("analyzer = ?", analyzer).Set("report = ?", report).
		Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("storing analysis: %w", err)
	}
	return nil
}

// DeadLetters returns the tenant's newest inbox events (at most limit)
// that are not applied after minAttempts attempts, newest first, without
// their event records.
func DeadLetters(ctx context.Context, db bun.IDB, ownerKind, ownerID string, minAttempts, limit int) ([]InboxEvent, error) {
	return deadInbox(ctx, db, minAttempts, limit, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("owner_kind = ? AND owner_id = ?", ownerKind, ownerID)
	})
}
