package pdsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Webhook header names and values PagerDuty uses for V3 webhooks.
const (
	HeaderSignature    = "X-PagerDuty-Signature"
	HeaderWebhookID    = "X-Webhook-Id"
	HeaderSubscription = "X-Webhook-Subscription"
	UserAgentV3        = "PagerDuty-Webhook/V3.0"
	UserAgentV2        = "PagerDuty-Webhook/V2.0"
)

// EventTypes are the V3 webhook event types a subscription may name.
var EventTypes = []string{
	"incident.acknowledged", "incident.annotated", "incident.conference_bridge.updated",
	"incident.custom_field_values.updated", "incident.delegated", "incident.escalated",
	"incident.incident_type.changed", "incident.priority_updated", "incident.reassigned",
	"incident.reopened", "incident.resolved", "incident.responder.added", "incident.responder.replied",
	"incident.role.assigned", "incident.service_updated", "incident.status_update_published",
	"incident.task.completed", "incident.task.created", "incident.task.updated",
	"incident.triggered", "incident.unacknowledged",
	"incident.action_invocation.created", "incident.action_invocation.terminated", "incident.action_invocation.updated",
	"incident.workflow.started", "incident.workflow.completed",
	"service.created", "service.custom_field_values.updated", "service.deleted", "service.updated",
}

// Event is a V3 webhook event; Body wraps it as {"event": ...}.
type Event struct {
	ID           string `json:"id"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	OccurredAt   string `json:"occurred_at"`
	Agent        any    `json:"agent"`
	Client       any    `json:"client"`
	Data         any    `json:"data"`
}

// FormatOccurredAt renders a time as occurred_at does (UTC, milliseconds).
func FormatOccurredAt(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// NewEvent builds a V3 event with a fresh UUID id, occurred_at now and
// resource_type taken from the event type's prefix ("incident", "service",
// "pagey"); agent and client are null until set with WithAgent/WithClient.
func NewEvent(eventType string, data any) Event {
	rt := eventType
	if i := strings.IndexByte(eventType, '.'); i > 0 {
		rt = eventType[:i]
	}
	return Event{
		ID: newUUID(), EventType: eventType, ResourceType: rt,
		OccurredAt: FormatOccurredAt(time.Now()), Data: data,
	}
}

// WithAgent returns e with agent set (e.g. a user_reference Reference).
func (e Event) WithAgent(agent any) Event {
	if r, ok := agent.(Reference); ok && r.ID == "" {
		agent = nil
	}
	e.Agent = agent
	return e
}

// WithClient returns e with client set (e.g. map{"name": "Monitoring"}).
func (e Event) WithClient(client any) Event { e.Client = client; return e }

// At returns e with occurred_at set to t.
func (e Event) At(t time.Time) Event { e.OccurredAt = FormatOccurredAt(t); return e }

// Body returns the webhook body {"event": {...}}. Data that cannot be
// encoded is sent as null.
func (e Event) Body() []byte {
	b, err := json.Marshal(map[string]any{"event": e})
	if err != nil {
		e.Data = nil
		b, _ = json.Marshal(map[string]any{"event": e})
	}
	return b
}

// IncidentTypeRef is the incident_type object of webhook incidents.
type IncidentTypeRef struct {
	Name string `json:"name"`
}

// WebhookIncident is the incident object of V3 incident webhooks.
type WebhookIncident struct {
	ID               string            `json:"id"`
	Type             string            `json:"type"`
	Self             string            `json:"self"`
	HTMLURL          string            `json:"html_url"`
	Number           int               `json:"number"`
	Status           string            `json:"status"`
	IncidentKey      string            `json:"incident_key"`
	CreatedAt        string            `json:"created_at"`
	Title            string            `json:"title"`
	Service          *Reference        `json:"service"`
	Assignees        []Reference       `json:"assignees"`
	EscalationPolicy *Reference        `json:"escalation_policy"`
	Teams            []Reference       `json:"teams"`
	Priority         *Reference        `json:"priority"`
	Urgency          string            `json:"urgency"`
	ConferenceBridge *ConferenceBridge `json:"conference_bridge"`
	ResolveReason    *string           `json:"resolve_reason"`
	IncidentType     *IncidentTypeRef  `json:"incident_type,omitempty"`
	ReopenedAt       string            `json:"reopened_at,omitempty"`
}

// DemoSubdomain is used by the pure builders when they invent links.
const DemoSubdomain = "acme"

// IncidentEvent builds an incident event (incident.triggered, ...). Empty
// fields of inc get defaults: type "incident", self/html_url links,
// status "triggered", urgency "high", created_at now, empty lists.
func IncidentEvent(eventType string, inc WebhookIncident) Event {
	if inc.ID == "" {
		inc.ID = newPDID()
	}
	if inc.Type == "" {
		inc.Type = "incident"
	}
	if inc.Self == "" {
		inc.Self = DefaultBaseURL + "/incidents/" + inc.ID
	}
	if inc.HTMLURL == "" {
		inc.HTMLURL = htmlURL(DemoSubdomain, "/incidents/"+inc.ID)
	}
	if inc.Number == 0 {
		inc.Number = 1
	}
	if inc.Status == "" {
		inc.Status = "triggered"
	}
	if inc.Urgency == "" {
		inc.Urgency = "high"
	}
	if inc.CreatedAt == "" {
		inc.CreatedAt = ts(time.Now())
	}
	if inc.Assignees == nil {
		inc.Assignees = []Reference{}
	}
	if inc.Teams == nil {
		inc.Teams = []Reference{}
	}
	if inc.IncidentType == nil {
		inc.IncidentType = &IncidentTypeRef{Name: "incident_default"}
	}
	return NewEvent(eventType, inc)
}

// FieldValuesData is the data of incident.custom_field_values.updated.
type FieldValuesData struct {
	Type                string             `json:"type"`
	Incident            map[string]any     `json:"incident"`
	CustomFields        []CustomFieldValue `json:"custom_fields"`
	ChangedCustomFields []CustomFieldValue `json:"changed_custom_fields"`
}

// CustomFieldValuesEvent builds incident.custom_field_values.updated: all is
// the full current set, changed the changed fields (Value nil = cleared).
// incident.Summary "" is sent as null, as PagerDuty sometimes does.
func CustomFieldValuesEvent(incident Reference, all, changed []CustomFieldValue) Event {
	if incident.Type == "" {
		incident.Type = "incident_reference"
	}
	if incident.Self == "" && incident.ID != "" {
		incident.Self = DefaultBaseURL + "/incidents/" + incident.ID
	}
	if incident.HTMLURL == "" && incident.ID != "" {
		incident.HTMLURL = htmlURL(DemoSubdomain, "/incidents/"+incident.ID)
	}
	ref := map[string]any{
		"id": incident.ID, "type": incident.Type, "self": incident.Self,
		"html_url": incident.HTMLURL, "summary": nilIfEmpty(incident.Summary),
	}
	return NewEvent("incident.custom_field_values.updated", FieldValuesData{
		Type: "incident_field_values", Incident: ref,
		CustomFields: webhookFields(all), ChangedCustomFields: webhookFields(changed),
	})
}

// webhookFields renders fields as webhooks do: namespace set, no display
// name or description.
func webhookFields(fields []CustomFieldValue) []CustomFieldValue {
	out := make([]CustomFieldValue, 0, len(fields))
	for _, f := range normalizeFields(fields) {
		if f.Namespace == "" {
			f.Namespace = "incidents"
		}
		f.DisplayName, f.Description = "", ""
		out = append(out, f)
	}
	return out
}

// PingEvent builds the pagey.ping test event.
func PingEvent() Event {
	return NewEvent("pagey.ping", map[string]any{"message": "Hello from your friend Pagey!", "type": "ping"})
}

// WebhookService is the service object of V3 service events.
type WebhookService struct {
	ID               string      `json:"id"`
	Type             string      `json:"type"`
	Self             string      `json:"self"`
	HTMLURL          string      `json:"html_url"`
	Summary          string      `json:"summary"`
	Name             string      `json:"name"`
	Description      string      `json:"description"`
	Status           string      `json:"status"`
	EscalationPolicy *Reference  `json:"escalation_policy"`
	Teams            []Reference `json:"teams"`
}

// ServiceEvent builds a service event (service.updated, ...); empty
// fields of svc get defaults.
func ServiceEvent(eventType string, svc WebhookService) Event {
	if svc.ID == "" {
		svc.ID = newPDID()
	}
	if svc.Type == "" {
		svc.Type = "service"
	}
	if svc.Self == "" {
		svc.Self = DefaultBaseURL + "/services/" + svc.ID
	}
	if svc.HTMLURL == "" {
		svc.HTMLURL = htmlURL(DemoSubdomain, "/service-directory/"+svc.ID)
	}
	if svc.Summary == "" {
		svc.Summary = svc.Name
	}
	if svc.Status == "" {
		svc.Status = "active"
	}
	if svc.Teams == nil {
		svc.Teams = []Reference{}
	}
	return NewEvent(eventType, svc)
}

// NoteEvent builds incident.annotated for a note on incident.
func NoteEvent(incident Reference, noteID, content string) Event {
	if incident.Type == "" {
		incident.Type = "incident_reference"
	}
	return NewEvent("incident.annotated", map[string]any{
		"incident": incident, "id": noteID, "content": content, "trimmed": false, "type": "incident_note",
	})
}

// Sign returns the X-PagerDuty-Signature value for one secret:
// "v1=" + lowercase hex HMAC-SHA256(key = secret, message = body).
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// SignatureHeader returns one v1= signature per secret, comma-separated.
func SignatureHeader(body []byte, secrets ...string) string {
	parts := make([]string, 0, len(secrets))
	for _, s := range secrets {
		parts = append(parts, Sign(s, body))
	}
	return strings.Join(parts, ",")
}

// NewWebhookRequest builds a POST of body to url with the headers of a
// PagerDuty V3 webhook: Content-Type, User-Agent, X-Webhook-Id (random),
// X-Webhook-Subscription (random), and X-PagerDuty-Signature with one v1=
// entry per secret (omitted when there is none). Callers may overwrite any
// header afterwards.
func NewWebhookRequest(ctx context.Context, url string, body []byte, secrets ...string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgentV3)
	req.Header.Set(HeaderWebhookID, newUUID())
	req.Header.Set(HeaderSubscription, newPDID())
	if len(secrets) > 0 {
		req.Header.Set(HeaderSignature, SignatureHeader(body, secrets...))
	}
	return req, nil
}

// V2Body returns a legacy V2 webhook body ({"messages": [...]}, items with
// "event": "incident.trigger" and an incident with incident_number). V2
// webhooks carry no signature; PagerDuty sent them with UserAgentV2.
func V2Body() []byte {
	msg := map[string]any{
		"id":         "bb8b8fe0-e8d5-11e2-9c1e-22000afd16cf",
		"event":      "incident.trigger",
		"created_on": "2024-01-01T10:00:00Z",
		"incident": map[string]any{
			"id": "PIJ90N7", "incident_number": 1, "title": "The server is on fire.",
			"created_at": "2024-01-01T10:00:00Z", "status": "triggered", "incident_key": "server-on-fire",
			"html_url": htmlURL(DemoSubdomain, "/incidents/PIJ90N7"),
			"self":     DefaultBaseURL + "/incidents/PIJ90N7", "urgency": "high",
			"service": map[string]any{
				"id": "PSVC001", "type": "service_reference", "summary": "payments-api", "name": "payments-api",
				"self": DefaultBaseURL + "/services/PSVC001", "html_url": htmlURL(DemoSubdomain, "/services/PSVC001"),
			},
			"assignments": []any{}, "acknowledgements": []any{},
		},
		"webhook": map[string]any{
			"endpoint_url": "https://example.com/webhooks", "name": "Legacy V2 webhook",
			"type": "webhook", "id": "PWEBHK1",
		},
		"log_entries": []any{},
	}
	b, _ := json.Marshal(map[string]any{"messages": []any{msg}})
	return b
}

// V1Body returns a legacy V1 webhook body ({"messages": [...]}, items with
// "type": "incident.trigger" and data.incident).
func V1Body() []byte {
	msg := map[string]any{
		"id":         "bb8b8fe0-e8d5-11e2-9c1e-22000afd16cf",
		"type":       "incident.trigger",
		"created_on": "2024-01-01T10:00:00Z",
		"data": map[string]any{
			"incident": map[string]any{
				"id": "PIJ90N7", "incident_number": 1, "created_on": "2024-01-01T10:00:00Z",
				"status":       "triggered",
				"html_url":     htmlURL(DemoSubdomain, "/incidents/PIJ90N7"),
				"incident_key": "server-on-fire",
				"service": map[string]any{
					"id": "PSVC001", "name": "payments-api",
					"html_url": htmlURL(DemoSubdomain, "/services/PSVC001"), "deleted_at": nil,
				},
				"escalation_policy":        map[string]any{"id": "PEPOL01", "name": "Default", "deleted_at": nil},
				"assigned_to_user":         nil,
				"assigned_to":              []any{},
				"trigger_summary_data":     map[string]any{"subject": "The server is on fire."},
				"trigger_details_html_url": htmlURL(DemoSubdomain, "/incidents/PIJ90N7/log_entries/Q1"),
				"last_status_change_on":    "2024-01-01T10:00:00Z",
				"last_status_change_by":    nil,
				"number_of_escalations":    0,
				"urgency":                  "high",
			},
		},
	}
	b, _ := json.Marshal(map[string]any{"messages": []any{msg}})
	return b
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }
