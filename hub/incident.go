package hub

import (
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Incident statuses: the hub's own, provider-neutral lifecycle.
const (
	IncidentInvestigating = "investigating"
	// IncidentAnalyzed: an analysis finished; the incident is still open.
	IncidentAnalyzed = "analyzed"
	IncidentResolved = "resolved"
	// IncidentMerged: a user merged it into another incident
	// (MergedIntoIncidentID); lists leave it out.
	IncidentMerged = "merged"
)

// Incident severities: the SDK's vocabulary, which providers name in an
// incident's priority; the hub ranks incidents by them.
const (
	SeverityCritical = sdk.SeverityCritical
	SeverityHigh     = sdk.SeverityHigh
	SeverityMedium   = sdk.SeverityMedium
	SeverityLow      = sdk.SeverityLow
)

// Aurora analysis statuses of an incident.
const (
	AuroraIdle    = "idle"
	AuroraRunning = "running"
	// AuroraSummarizing: the analysis ended; its summary, citations and
	// suggestions are being written.
	AuroraSummarizing = "summarizing"
	AuroraComplete    = "complete"
	AuroraError       = "error"
)

// Reference points at an object in a provider (a service, a user, a team...).
type Reference struct {
	ID      string
	Type    string
	Summary string
	HTMLURL string
}

// Incident is a provider incident as the hub keeps it, scoped to the owner
// of the connection that received it.
type Incident struct {
	ID           string
	Provider     string // the contract's sourceType and alert.source
	OwnerKind    string
	OwnerID      string
	ConnectionID string
	// ExternalID is the provider's incident id (the contract's sourceAlertId).
	ExternalID string
	Number     int64
	Title      string
	// Status is IncidentInvestigating or IncidentResolved; ProviderStatus
	// is the provider's own (triggered, acknowledged, resolved).
	Status           string
	Severity         string
	ProviderStatus   string
	Urgency          string
	Priority         string
	Service          *Reference
	EscalationPolicy *Reference
	Assignees        []Reference
	Teams            []Reference
	IncidentKey      string
	HTMLURL          string
	ResolveReason    string

	AuroraStatus         string
	Summary              *string
	CorrelatedAlertCount int
	AffectedServices     []string
	ParentIncidentID     *string
	// MergedIntoIncidentID is set when Status is IncidentMerged.
	MergedIntoIncidentID *string

	// StartedAt is when the hub first saw the incident (the earliest event
	// time); AlertFiredAt is the provider's creation time.
	StartedAt    time.Time
	AlertFiredAt time.Time
	AnalyzedAt   *time.Time
	ResolvedAt   *time.Time
	// StateAt is the time of the newest state-bearing event applied; nil
	// while the incident is a placeholder made from a partial event.
	StateAt   *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IncidentDetail is an incident with its timeline and custom fields.
type IncidentDetail struct {
	Incident
	// Timeline is oldest first.
	Timeline []TimelineEntry
	// CustomFields are the fields currently set, by name.
	CustomFields []IncidentCustomField
}

// TimelineEntry is one provider event applied to an incident.
type TimelineEntry struct {
	EventID    string
	Type       string
	OccurredAt time.Time
	Agent      *Reference
	// Data is the event's raw data object (JSON), nil when it had none.
	Data []byte
}

// IncidentCustomField is one custom field value of an incident.
type IncidentCustomField struct {
	Name      string
	ID        string
	Namespace string
	DataType  string
	FieldType string
	// ValueJSON is the value as JSON (string, number, boolean or array).
	ValueJSON []byte
	SetAt     time.Time
}
