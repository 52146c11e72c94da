package incidents

import (
	"encoding/json"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// incidentRow is a row of incidents. JSON columns are kept as text so both
// dialects store exactly the same thing.
type incidentRow struct {
	bun.BaseModel `bun:"table:incidents,alias:i"`

	ID                   string     `bun:"id,pk"`
	Provider             string     `bun:"provider"`
	OwnerKind            string     `bun:"owner_kind"`
	OwnerID              string     `bun:"owner_id"`
	ConnectionID         string     `bun:"connection_id"`
	ExternalID           string     `bun:"external_id"`
	Number               int64      `bun:"incident_number"`
	Title                string     `bun:"title"`
	Status               string     `bun:"status"`
	Severity             string     `bun:"severity"`
	ProviderStatus       string     `bun:"provider_status"`
	Urgency              string     `bun:"urgency"`
	Priority             string     `bun:"priority"`
	ServiceID            string     `bun:"service_id"`
	ServiceName          string     `bun:"service_name"`
	ServiceURL           string     `bun:"service_url"`
	EscalationPolicy     *string    `bun:"escalation_policy"`
	Assignees            string     `bun:"assignees"`
	Teams                string     `bun:"teams"`
	IncidentKey          string     `bun:"incident_key"`
	HTMLURL              string     `bun:"html_url"`
	ResolveReason        string     `bun:"resolve_reason"`
	StateAt              *time.Time `bun:"state_at"`
	AlertFiredAt         time.Time  `bun:"alert_fired_at"`
	StartedAt            time.Time  `bun:"started_at"`
	ResolvedAt           *time.Time `bun:"resolved_at"`
	AuroraStatus         string     `bun:"aurora_status"`
	Summary              *string    `bun:"summary"`
	AnalyzedAt           *time.Time `bun:"analyzed_at"`
	CorrelatedAlertCount int        `bun:"correlated_alert_count"`
	AffectedServices     string     `bun:"affected_services"`
	ParentIncidentID     *string    `bun:"parent_incident_id"`
	MergedIntoIncidentID *string    `bun:"merged_into_incident_id"`
	CreatedAt            time.Time  `bun:"created_at"`
	UpdatedAt            time.Time  `bun:"updated_at"`

	// GroupOpen (read by List and Get only): the incident resolved but an
	// incident correlated into it is still open, so the group is open.
	GroupOpen bool `bun:"group_open,scanonly"`
}

// eventRow is a timeline entry: one provider event applied to an incident.
type eventRow struct {
	bun.BaseModel `bun:"table:incident_events,alias:e"`

	IncidentID string    `bun:"incident_id,pk"`
	EventID    string    `bun:"event_id,pk"`
	EventType  string    `bun:"event_type"`
	OccurredAt time.Time `bun:"occurred_at"`
	Agent      *string   `bun:"agent"`
	Data       *string   `bun:"data"`
	RecordedAt time.Time `bun:"recorded_at"`
}

// fieldRow is a custom field value; value_json "null" is a tombstone (the
// field was cleared) kept so that an older update cannot bring it back.
type fieldRow struct {
	bun.BaseModel `bun:"table:incident_custom_fields,alias:f"`

	IncidentID string    `bun:"incident_id,pk"`
	Name       string    `bun:"name,pk"`
	FieldID    string    `bun:"field_id"`
	Namespace  string    `bun:"namespace"`
	DataType   string    `bun:"data_type"`
	FieldType  string    `bun:"field_type"`
	ValueJSON  string    `bun:"value_json"`
	SetAt      time.Time `bun:"set_at"`
}

// refJSON is how references are stored in JSON columns.
type refJSON struct {
	ID      string `json:"id"`
	Type    string `json:"type,omitempty"`
	Summary string `json:"summary,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func decodeRef(s *string) *hub.Reference {
	if s == nil || *s == "" || *s == "null" {
		return nil
	}
	var r refJSON
	if json.Unmarshal([]byte(*s), &r) != nil {
		return nil
	}
	return &hub.Reference{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL}
}

// decodeRefs and decodeStrings read a JSON array column; "[]", the most
// common value (an incident without teams or other services), skips
// encoding/json.
func decodeRefs(s string) []hub.Reference {
	if s == "[]" {
		return []hub.Reference{}
	}
	var rs []refJSON
	if json.Unmarshal([]byte(s), &rs) != nil {
		return []hub.Reference{}
	}
	out := make([]hub.Reference, 0, len(rs))
	for _, r := range rs {
		out = append(out, hub.Reference{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL})
	}
	return out
}

func decodeStrings(s string) []string {
	if s == "[]" {
		return []string{}
	}
	var out []string
	if json.Unmarshal([]byte(s), &out) != nil || out == nil {
		return []string{}
	}
	return out
}

func (r *incidentRow) toDomain() hub.Incident {
	in := hub.Incident{
		ID: r.ID, Provider: r.Provider, OwnerKind: r.OwnerKind, OwnerID: r.OwnerID, ConnectionID: r.ConnectionID,
		ExternalID: r.ExternalID, Number: r.Number, Title: r.Title, Status: r.Status, Severity: r.Severity,
		ProviderStatus: r.ProviderStatus, Urgency: r.Urgency, Priority: r.Priority,
		EscalationPolicy: decodeRef(r.EscalationPolicy), Assignees: decodeRefs(r.Assignees), Teams: decodeRefs(r.Teams),
		IncidentKey: r.IncidentKey, HTMLURL: r.HTMLURL, ResolveReason: r.ResolveReason,
		AuroraStatus: r.AuroraStatus, Summary: r.Summary, CorrelatedAlertCount: r.CorrelatedAlertCount,
		AffectedServices: decodeStrings(r.AffectedServices), ParentIncidentID: r.ParentIncidentID,
		MergedIntoIncidentID: r.MergedIntoIncidentID,
		StartedAt:            utc(r.StartedAt), AlertFiredAt: utc(r.AlertFiredAt), AnalyzedAt: utcPtr(r.AnalyzedAt),
		ResolvedAt: utcPtr(r.ResolvedAt), StateAt: utcPtr(r.StateAt),
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
	if r.GroupOpen && r.Status == hub.IncidentResolved {
		in.Status, in.ResolvedAt = hub.IncidentInvestigating, nil
		if r.AnalyzedAt != nil {
			in.Status = hub.IncidentAnalyzed
		}
	}
	if r.ServiceID != "" || r.ServiceName != "" {
		in.Service = &hub.Reference{ID: r.ServiceID, Summary: r.ServiceName, HTMLURL: r.ServiceURL}
	}
	return in
}

func (r *eventRow) toDomain() hub.TimelineEntry {
	e := hub.TimelineEntry{EventID: r.EventID, Type: r.EventType, OccurredAt: utc(r.OccurredAt), Agent: decodeRef(r.Agent)}
	if r.Data != nil {
		e.Data = []byte(*r.Data)
	}
	return e
}

func (r *fieldRow) toDomain() hub.IncidentCustomField {
	return hub.IncidentCustomField{
		Name: r.Name, ID: r.FieldID, Namespace: r.Namespace, DataType: r.DataType, FieldType: r.FieldType,
		ValueJSON: []byte(r.ValueJSON), SetAt: utc(r.SetAt),
	}
}
