// Package sdk is what a provider plugin for Aurora Hub is written with: the
// provider interfaces, the types they exchange with the hub, and Serve.
// The hub's side of the protocol is sdk/host; helpers for webhook
// providers are in sdk/webhook, and the test kit in sdk/sdktest.
//
// A provider implements Provider and any of the small capability interfaces
// (CredentialValidator, WebhookHandler, OAuthProvider, Provisioner, Enricher).
// Serve registers a gRPC service only for the capabilities the provider
// implements, so the hub asks "does this plugin do X" instead of guessing.
package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
)

// ProtocolVersion is the major version of the provider protocol this SDK
// speaks (the go-plugin protocol version negotiated at handshake).
const ProtocolVersion = protocol.Version

// Auth kinds.
const (
	AuthAPIToken = "api_token"
	AuthOAuth    = "oauth"
)

// Manifest is what a plugin declares about itself.
type Manifest struct {
	// Name is the URL segment the hub mounts the plugin at (/<name>); lower case.
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Version     string `json:"version"`
	// ProtocolVersion and Capabilities are filled in by Serve.
	ProtocolVersion   int      `json:"protocol_version"`
	Capabilities      []string `json:"capabilities"`
	AuthKinds         []string `json:"auth_kinds,omitempty"`
	WebhookEventTypes []string `json:"webhook_event_types,omitempty"`
	OAuthScopes       []string `json:"oauth_scopes,omitempty"`
	// ConfigKeys are the environment variables the hub passes to the plugin
	// process; nothing else of the hub's environment reaches it.
	ConfigKeys []string `json:"config_keys,omitempty"`
	// SetupInstructions are the steps a person follows in the provider to
	// send webhooks to the hub, one sentence each; the hub shows them with
	// "{webhook_url}" replaced by the connection's webhook URL.
	SetupInstructions []string `json:"setup_instructions,omitempty"`
	// WebhookSecretFormat says what the secret stored with PUT
	// /<name>/webhook-secret looks like, e.g. "hmac:<secret> or
	// bearer:<token>". Implement WebhookSecretValidator to check it.
	WebhookSecretFormat string `json:"webhook_secret_format,omitempty"`
	// ConnectWithoutCredentials: the provider only receives webhooks, so
	// the hub connects it without API credentials (no CredentialValidator
	// needed, and none to invent).
	ConnectWithoutCredentials bool `json:"connect_without_credentials,omitempty"`
}

// Has reports whether the manifest lists capability c.
func (m Manifest) Has(c string) bool {
	for _, x := range m.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Provider is implemented by every plugin.
type Provider interface {
	Manifest() Manifest
}

// CredentialValidator checks credentials against the provider's API.
type CredentialValidator interface {
	ValidateCredentials(ctx context.Context, creds Credentials) (*Validation, error)
}

// WebhookHandler verifies and parses an inbound webhook delivery. The hub
// sends deliveries concurrently and Serve splits a batch of them across the
// process's cores, so HandleWebhook is called from several goroutines at
// once: like every method of a plugin, it keeps no state between calls.
type WebhookHandler interface {
	HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResult, error)
}

// WebhookSecretValidator checks a webhook secret's format when it is stored
// (PUT /<name>/webhook-secret), so a typo is refused at once rather than
// showing up later as rejected deliveries. Return a CodeInvalid *Error
// whose message says what Manifest.WebhookSecretFormat expects.
type WebhookSecretValidator interface {
	ValidateWebhookSecret(ctx context.Context, secret string) error
}

// OAuthProvider describes the provider's OAuth 2.0 endpoints; the hub runs the flow.
type OAuthProvider interface {
	OAuthConfig(ctx context.Context) (*OAuthConfig, error)
}

// Provisioner manages webhook subscriptions in the provider.
type Provisioner interface {
	CreateWebhookSubscription(ctx context.Context, req *SubscriptionRequest) (*Subscription, error)
	DeleteWebhookSubscription(ctx context.Context, creds Credentials, id string) error
	PingWebhookSubscription(ctx context.Context, creds Credentials, id string) error
}

// Enricher gathers evidence about an incident.
type Enricher interface {
	Enrich(ctx context.Context, req *EnrichRequest) (*Enrichment, error)
}

// Credentials are handed to the plugin on every call that needs them.
type Credentials struct {
	Kind   string
	Token  string
	Scope  string
	Fields map[string]string
}

// String never shows the token, so credentials are safe to log by accident.
func (c Credentials) String() string { return "Credentials{" + c.Kind + ", token redacted}" }

// Identity is who the credentials act as in the provider. Nil pointers are
// unknown (account-level tokens have no user).
type Identity struct {
	UserID           *string
	UserEmail        *string
	UserName         *string
	UserRole         *string
	AccountSubdomain string
	AccountID        string
	AccountLevel     bool
}

// Validation is the outcome of a successful credential check.
type Validation struct {
	Identity Identity
	// Capabilities are what the credentials may do in the provider, by the
	// provider's own names (e.g. "can_read_incidents"). The hub stores and
	// shows them; it does not act on them.
	Capabilities map[string]bool
}

// WebhookRequest is one inbound delivery, exactly as received.
type WebhookRequest struct {
	Body []byte
	// Header holds the request headers with canonical names; read them
	// with Header.Get or sdk/webhook.Header.
	Header http.Header
	// Secrets are the connection's active signing secrets; any may match.
	Secrets []string
	// AllowUnsigned lets an unverifiable delivery through, marked unverified.
	AllowUnsigned bool
}

// HeaderValue returns the first value of header name (canonical form).
func (r *WebhookRequest) HeaderValue(name string) string {
	if v := r.Header[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// WebhookResult is a verified, parsed delivery.
type WebhookResult struct {
	// Verified: a stored secret authenticated the delivery. False only when
	// the request allowed unsigned deliveries and none was configured.
	Verified bool
	// DeliveryID is the provider's ID of this delivery, when it sends one;
	// the hub drops a delivery whose ID it has already seen for the
	// connection (redelivery). Leave it empty when the provider sends none.
	DeliveryID string
	// SubscriptionID is the provider's webhook subscription, when known.
	SubscriptionID string
	// Events in the order they happened; each is applied to its incident.
	Events []Event
}

// Event is one provider-neutral event parsed from a webhook.
type Event struct {
	// ID is stable for the same event across redeliveries (the hub
	// deduplicates on it): never random, never the time of receipt.
	ID string
	// Type is the event kind: one of the Event* constants, or the
	// provider's own kind (kept on the timeline as sent).
	Type string
	// ResourceType is ResourceIncident for events about an incident.
	ResourceType string
	// OccurredAt is when it happened in the provider (zero: unknown).
	OccurredAt time.Time
	// Agent is who or what caused the event, when known.
	Agent *Reference
	// Incident is the incident the event concerns; nil for events about
	// nothing the hub tracks (pings, service changes).
	Incident *Incident
	// Data is the event's raw data object (JSON).
	Data json.RawMessage
}

// Reference points at an object in the provider.
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type,omitempty"`
	Summary string `json:"summary,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

// Incident is a provider incident as an event describes it.
type Incident struct {
	// ExternalID is the provider's ID of the incident (or alert); events
	// with the same ExternalID update the same hub incident.
	ExternalID string
	Number     int64
	Title      string
	// Status is one of StatusTriggered, StatusAcknowledged, StatusResolved;
	// empty means "take it from Event.Type".
	Status string
	// Urgency is UrgencyHigh or UrgencyLow (or empty).
	Urgency string
	// Priority is the provider's priority name; the hub reads a severity
	// from it (see the Severity* constants), else from Urgency.
	Priority string
	// Service is what the incident affects; correlation across providers
	// matches incidents on the service's ID or name.
	Service          *Reference
	EscalationPolicy *Reference
	Assignees        []Reference
	Teams            []Reference
	IncidentKey      string
	HTMLURL          string
	CreatedAt        time.Time
	ResolveReason    string
	// HasCustomFields tells an empty CustomFields from an absent one: set
	// it when CustomFields is the complete set (the hub replaces the stored
	// fields with it, clearing the others); leave it false when the event
	// says nothing about custom fields.
	HasCustomFields     bool
	CustomFields        []CustomField
	ChangedCustomFields []CustomField
	// Partial: the event carries only some fields (ExternalID and what
	// else is set); the hub updates those and keeps the rest as stored.
	// Without it, empty fields overwrite stored ones.
	Partial bool
}

// CustomField is one custom field value; ValueJSON "null" means cleared.
type CustomField struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	DataType  string `json:"data_type,omitempty"`
	FieldType string `json:"field_type,omitempty"`
	ValueJSON []byte `json:"value"`
}

// OAuthConfig is the provider's OAuth 2.0 endpoints and defaults.
type OAuthConfig struct {
	AuthURL       string
	TokenURL      string
	RevokeURL     string
	DefaultScopes []string
	RequirePKCE   bool
}

// SubscriptionRequest asks the provider to send webhooks to URL.
type SubscriptionRequest struct {
	Credentials Credentials
	URL         string
	Events      []string
	ScopeType   string
	ScopeID     string
	Description string
}

// Subscription is a created webhook subscription.
type Subscription struct {
	ID     string
	Secret string
	Events []string
	URL    string
}

// EnrichRequest asks for evidence about one incident.
type EnrichRequest struct {
	Credentials Credentials
	IncidentID  string
	ServiceID   string
	TriggeredAt time.Time
	// Sections (protocol 1.2) names the parts to gather (Section*); empty
	// means all. A provider ignores names it does not know.
	Sections []string
}

// Wants reports whether the request asks for section s.
func (r *EnrichRequest) Wants(s string) bool {
	if len(r.Sections) == 0 {
		return true
	}
	for _, x := range r.Sections {
		if x == s {
			return true
		}
	}
	return false
}

// Enrichment sections (EnrichRequest.Sections, Enrichment.Sections).
// Service-level sections are the same for every incident of a service at
// one time, so the hub gathers them once per service and window.
const (
	SectionAlerts           = "alerts"
	SectionLogEntries       = "log_entries"
	SectionCustomFields     = "custom_fields"
	SectionRelatedIncidents = "related_incidents"
	SectionPastIncidents    = "past_incidents"
	SectionChangeEvents     = "change_events" // service-level
	SectionDependencies     = "dependencies"  // service-level
)

// Enrichment is the evidence gathered for an incident.
type Enrichment struct {
	Evidence        []Evidence
	Notes           []string
	RelatedServices []Reference
	// Sections (protocol 1.2) are the parts this answer covers; empty from
	// a provider before 1.2, which gathers everything.
	Sections []string
	// APICalls (protocol 1.2) is how many requests were made to the
	// provider's API; 0 when unknown.
	APICalls int
}

// Evidence kinds (Evidence.Kind). A provider may use others; the hub's
// correlation and analysis understand these.
const (
	EvidenceAlert           = "alert"
	EvidenceLogEntry        = "log_entry"
	EvidenceChangeEvent     = "change_event"
	EvidenceDependency      = "dependency"
	EvidenceCustomField     = "custom_field"
	EvidenceRelatedIncident = "related_incident"
	EvidencePastIncident    = "past_incident"
)

// Evidence is one piece of what the provider knows about an incident.
type Evidence struct {
	Kind     string
	ID       string
	Summary  string
	At       time.Time
	Data     []byte
	DedupKey string
	Service  *Reference
}
