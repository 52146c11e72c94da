package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// The records an analysis leaves on an incident: its reasoning as it runs
// (thoughts), and the citations and suggestions of its final summary.

type thoughtRow struct {
	bun.BaseModel `bun:"table:incident_thoughts"`

	ID         int64     `bun:"id,pk,autoincrement"`
	IncidentID string    `bun:"incident_id"`
	Content    string    `bun:"content"`
	Type       string    `bun:"type"`
	Timestamp  time.Time `bun:"timestamp"`
	CreatedAt  time.Time `bun:"created_at"`
}

type citationRow struct {
	bun.BaseModel `bun:"table:incident_citations"`

	ID         int64     `bun:"id,pk,autoincrement"`
	IncidentID string    `bun:"incident_id"`
	Key        string    `bun:"citation_key"`
	ToolName   string    `bun:"tool_name"`
	Command    string    `bun:"command"`
	Output     string    `bun:"output"`
	ExecutedAt time.Time `bun:"executed_at"`
	CreatedAt  time.Time `bun:"created_at"`
}

type suggestionRow struct {
	bun.BaseModel `bun:"table:incident_suggestions"`

	ID          int64     `bun:"id,pk,autoincrement"`
	IncidentID  string    `bun:"incident_id"`
	Title       string    `bun:"title"`
	Description string    `bun:"description"`
	Type        string    `bun:"type"`
	Risk        string    `bun:"risk"`
	Command     string    `bun:"command"`
	Rationale   string    `bun:"rationale"`
	CreatedAt   time.Time `bun:"created_at"`
}

// AppendThoughts stores the next steps of an incident's running analysis.
// Thoughts get increasing ids in the order given. (The incident itself is
// hub/incidents's: the caller bumps its updatedAt with incidents.Touch so a
// page polling it sees progress.)
func AppendThoughts(ctx context.Context, db bun.IDB, incidentID string, thoughts []hub.Thought) error {
	if len(thoughts) == 0 {
		return nil
	}
	now := time.Now().UTC()
	rows := make([]thoughtRow, len(thoughts))
	for i, t := range thoughts {
		rows[i] = thoughtRow{IncidentID: incidentID, Content: t.Content, Type: t.Type, Timestamp: t.Timestamp.UTC(), CreatedAt: now}
		if rows[i].Type == "" {
			rows[i].Type = hub.ThoughtAnalysis
		}
		if rows[i].Timestamp.IsZero() {
			rows[i].Timestamp = now
		}
	}
	// One row at a time: a multi-row insert does not promise ids in the
	// order of its VALUES on every dialect, and the page orders by id.
	for i := range rows {
		if _, err := db.NewInsert().Model(&rows[i]).Exec(ctx); err != nil {
			return fmt.Errorf("storing analysis thought: %w", err)
		}
	}
	return nil
}

// Thoughts returns the incident's analysis thoughts, oldest first.
func Thoughts(ctx context.Context, db bun.IDB, incidentID string) ([]hub.Thought, error) {
	var rows []thoughtRow
	if err := db.NewSelect().Model(&rows).Where("incident_id = ?", incidentID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading analysis thoughts: %w", err)
	}
	out := make([]hub.Thought, len(rows))
	for i, r := range rows {
		out[i] = hub.Thought{ID: r.ID, IncidentID: r.IncidentID, Content: r.Content, Type: r.Type, Timestamp: r.Timestamp, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// ReplaceFindings stores the citations and suggestions of an incident's
// latest analysis in place of the previous analysis's.
func ReplaceFindings(ctx context.Context, db bun.IDB, incidentID string, citations []hub.Citation, suggestions []hub.Suggestion) error {
	now := time.Now().UTC()
	if _, err := db.NewDelete().Model((*citationRow)(nil)).Where("incident_id = ?", incidentID).Exec(ctx); err != nil {
		return fmt.Errorf("clearing citations: %w", err)
	}
	if _, err := db.NewDelete().Model((*suggestionRow)(nil)).Where("incident_id = ?", incidentID).Exec(ctx); err != nil {
		return fmt.Errorf("clearing suggestions: %w", err)
	}
	for _, c := range citations {
		r := citationRow{IncidentID: incidentID, Key: c.Key, ToolName: c.ToolName, Command: c.Command, Output: c.Output, ExecutedAt: c.ExecutedAt.UTC(), CreatedAt: now}
		if r.ExecutedAt.IsZero() {
			r.ExecutedAt = now
		}
		if _, err := db.NewInsert().Model(&r).Exec(ctx); err != nil {
			return fmt.Errorf("storing citation %s: %w", c.Key, err)
		}
	}
	for _, s := range suggestions {
		r := suggestionRow{IncidentID: incidentID, Title: s.Title, Description: s.Description, Type: s.Type, Risk: s.Risk, Command: s.Command, Rationale: s.Rationale, CreatedAt: now}
		if r.Type == "" {
			r.Type = hub.SuggestionDiagnostic
		}
		if r.Risk == "" {
			r.Risk = hub.RiskSafe
		}
		if _, err := db.NewInsert().Model(&r).Exec(ctx); err != nil {
			return fmt.Errorf("storing suggestion: %w", err)
		}
	}
	return nil
}

// Citations returns the incident's citations in insertion order.
func Citations(ctx context.Context, db bun.IDB, incidentID string) ([]hub.Citation, error) {
	var rows []citationRow
	if err := db.NewSelect().Model(&rows).Where("incident_id = ?", incidentID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading citations: %w", err)
	}
	out := make([]hub.Citation, len(rows))
	for i, r := range rows {
		out[i] = hub.Citation{ID: r.ID, IncidentID: r.IncidentID, Key: r.Key, ToolName: r.ToolName, Command: r.Command, Output: r.Output, ExecutedAt: r.ExecutedAt, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// Suggestions returns the incident's suggestions in insertion order.
func Suggestions(ctx context.Context, db bun.IDB, incidentID string) ([]hub.Suggestion, error) {
	var rows []suggestionRow
	if err := db.NewSelect().Model(&rows).Where("incident_id = ?", incidentID).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading suggestions: %w", err)
	}
	out := make([]hub.Suggestion, len(rows))
	for i, r := range rows {
		out[i] = hub.Suggestion{ID: r.ID, IncidentID: r.IncidentID, Title: r.Title, Description: r.Description, Type: r.Type, Risk: r.Risk, Command: r.Command, Rationale: r.Rationale, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
