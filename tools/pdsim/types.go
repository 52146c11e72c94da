package pdsim

import (
	"net/http"
	"net/url"
	"time"
)

// User roles known to PagerDuty (user.role).
const (
	RoleOwner                = "owner"
	RoleAdmin                = "admin"
	RoleUser                 = "user"
	RoleLimitedUser          = "limited_user"
	RoleObserver             = "observer"
	RoleRestrictedAccess     = "restricted_access"
	RoleReadOnlyUser         = "read_only_user"
	RoleReadOnlyLimitedUser  = "read_only_limited_user"
	defaultEscalationMinutes = 30
)

// Abilities the simulator checks. The names of the Event Intelligence
// abilities are the simulator's own: PagerDuty does not document them.
const (
	AbilityRelatedIncidents = "related_incidents"
	AbilityPastIncidents    = "past_incidents"
)

// DefaultAbilities is the ability set of a new Sim (see Sim.SetAbilities).
var DefaultAbilities = []string{"teams", "read_only_users", "service_support_hours", "urgencies", "custom_fields", "coordinated_responding"}

// User is a PagerDuty user. Role defaults to "user", TimeZone to "UTC".
type User struct {
	ID          string
	Name        string
	Email       string
	Role        string
	TimeZone    string
	JobTitle    string
	Color       string
	Description string
	TeamIDs     []string
}

// APIKey is a REST API key. An empty UserID makes it an account-level key;
// ReadOnly keys may only make GET calls.
type APIKey struct {
	Token       string
	UserID      string
	ReadOnly    bool
	Description string
}

// Team is a PagerDuty team.
type Team struct {
	ID          string
	Name        string
	Description string
}

// Service is a technical service. Status defaults to "active".
type Service struct {
	ID                 string
	Name               string
	Description        string
	Status             string
	EscalationPolicyID string
	TeamIDs            []string
	CreatedAt          time.Time
}

// EscalationPolicy has one rule whose targets are UserIDs, in order; the
// first user is assigned to new incidents that use the policy.
type EscalationPolicy struct {
	ID                       string
	Name                     string
	Description              string
	UserIDs                  []string
	TeamIDs                  []string
	NumLoops                 int
	EscalationDelayInMinutes int
}

// Priority is an incident priority such as "P1".
type Priority struct {
	ID          string
	Name        string
	Description string
}

// ConferenceBridge is an incident's conference bridge.
type ConferenceBridge struct {
	ConferenceNumber string `json:"conference_number,omitempty"`
	ConferenceURL    string `json:"conference_url,omitempty"`
}

// Incident is an incident as seeded with Sim.AddIncident. Zero fields get
// defaults: ID generated, Number next free, Status "triggered", Urgency
// "high", EscalationPolicyID from the service, CreatedAt now, IncidentType
// "incident_default", AssigneeIDs the policy's first user while unresolved.
type Incident struct {
	ID                 string
	Number             int
	Title              string
	Description        string
	Status             string
	Urgency            string
	ServiceID          string
	EscalationPolicyID string
	AssigneeIDs        []string
	TeamIDs            []string
	PriorityID         string
	IncidentKey        string
	IncidentType       string
	CreatedAt          time.Time
	ResolveReason      string
	ConferenceBridge   *ConferenceBridge
}

// Alert is an alert of an incident (GET /incidents/{id}/alerts). Status
// defaults to "triggered", Severity to "critical", ServiceID to the
// incident's service, CreatedAt to now.
type Alert struct {
	ID         string
	IncidentID string
	AlertKey   string
	Status     string
	Summary    string
	Severity   string
	ServiceID  string
	Suppressed bool
	CreatedAt  time.Time
	// Body parts, rendered as body.contexts, body.details, body.cef_details.
	Contexts   []map[string]any
	Details    map[string]any
	CEFDetails map[string]any
}

// LogEntry is an incident log entry. The sim writes trigger, acknowledge,
// unacknowledge, resolve and annotate entries itself; AddLogEntry adds more.
// AgentType is a reference type such as "user_reference" or
// "service_reference" (default: service_reference of the incident's service).
type LogEntry struct {
	ID         string
	IncidentID string
	Type       string
	Summary    string
	CreatedAt  time.Time
	AgentID    string
	AgentType  string
	Channel    map[string]any
}

// Link is a change event link.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// ChangeEvent is a change event (GET /services/{id}/change_events).
type ChangeEvent struct {
	ID            string
	Summary       string
	Source        string
	Timestamp     time.Time
	ServiceIDs    []string
	IntegrationID string
	CustomDetails map[string]any
	Links         []Link
}

// ServiceDependency relates a supporting service to a dependent one. The
// types default to "technical_service_reference"; use
// "business_service_reference" for business services.
type ServiceDependency struct {
	ID                    string
	SupportingServiceID   string
	SupportingServiceType string
	DependentServiceID    string
	DependentServiceType  string
}

// CustomFieldValue is an incident custom field with its value; it is used by
// the REST API (GET /incidents/{id}/custom_fields/values) and by
// incident.custom_field_values.updated webhooks. Value may be a string,
// number, bool, []any or nil (cleared). Type defaults to "field_value".
type CustomFieldValue struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	Description string `json:"description,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	DataType    string `json:"data_type"`
	FieldType   string `json:"field_type"`
	Value       any    `json:"value"`
}

// Relationship explains why two incidents are related.
type Relationship struct {
	Type     string         `json:"type"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// RelatedIncident is an entry of GET /incidents/{id}/related_incidents.
type RelatedIncident struct {
	IncidentID    string
	Relationships []Relationship
}

// PastIncident is an entry of GET /incidents/{id}/past_incidents.
type PastIncident struct {
	IncidentID string
	Score      float64
}

// Header is a custom header of a webhook subscription.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// WebhookSubscription is a V3 webhook subscription. FilterType is
// account_reference (default), service_reference or team_reference.
// Secrets sign deliveries (one v1= signature each); when empty a secret is
// generated. Inactive subscriptions receive nothing.
type WebhookSubscription struct {
	ID            string
	URL           string
	Events        []string
	FilterType    string
	FilterID      string
	Description   string
	Inactive      bool
	CustomHeaders []Header
	Secrets       []string
	// TemporarilyDisabled is reported by Sim.WebhookSubscriptions: set after
	// 3 consecutive dropped webhooks, cleared by POST .../enable.
	TemporarilyDisabled bool
}

// OAuthApp is an OAuth client. An empty RedirectURIs accepts any redirect
// URI at /oauth/authorize (the token request must still repeat it). Scopes,
// when set, are the scopes the app may request and the default grant
// (otherwise "openid write"). RequirePKCE rejects authorize requests without
// an S256 code_challenge. An empty ClientSecret makes a public client.
type OAuthApp struct {
	ClientID     string
	ClientSecret string
	Name         string
	RedirectURIs []string
	Scopes       []string
	RequirePKCE  bool
}

// OAuthDecision is what the simulated user answers at /oauth/authorize.
type OAuthDecision int

const (
	// Approve redirects with a code.
	Approve OAuthDecision = iota
	// Deny redirects with error=access_denied.
	Deny
)

// TokenStats counts requests handled by /oauth/token (requests answered by
// an injected Fault are not counted; see Requests for those).
type TokenStats struct {
	Total             int
	AuthorizationCode int
	RefreshToken      int
	ClientCredentials int
	// Errors counts token requests that were answered with an error.
	Errors int
}

// Fault is an injected answer: the next Times requests (0 = every request
// until ClearFaults) whose method equals Method (empty = any) and whose path
// equals Path (a trailing * matches a prefix; empty = any) get Status,
// Header and Body instead of the real answer, after an optional Delay.
// Content-Type is guessed from Body when Header does not set it; Status 0
// means 500. Faults apply before authentication, to every path including
// /oauth/authorize and /oauth/token.
type Fault struct {
	Method string
	Path   string
	Status int
	Header http.Header
	Body   string
	Times  int
	Delay  time.Duration
}

// RecordedRequest is a request the sim received.
type RecordedRequest struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
	At       time.Time
	// Status is the HTTP status the sim answered.
	Status int

	seq uint64
}

// DeliveryAttempt is one POST of a webhook.
type DeliveryAttempt struct {
	At         time.Time
	StatusCode int
	// ResponseBody is the start (up to 4 KiB) of the receiver's answer.
	ResponseBody string
	Err          string
	Duration     time.Duration
}

// Delivery is one webhook (one event to one subscription) with its attempts.
type Delivery struct {
	WebhookID      string
	SubscriptionID string
	URL            string
	EventID        string
	EventType      string
	Body           []byte
	Header         http.Header
	Attempts       []DeliveryAttempt
	Delivered      bool
	// Dropped is set when the sim gave up (a non-retryable answer, or
	// retries exhausted); Skipped when the subscription was disabled.
	Dropped bool
	Skipped bool
	Err     string
}
