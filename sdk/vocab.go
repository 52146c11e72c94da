package sdk

// The vocabularies below are what the hub understands in an Event. A
// provider maps its own words onto them; anything else is kept as sent but
// the hub cannot reason about it.

// Incident statuses (Incident.Status). The hub treats StatusResolved as
// closed and every other status as open. An empty status is taken from the
// event kind (Event.Type), so a partial update may leave it out.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Urgencies (Incident.Urgency): how soon a person must act. The hub falls
// back on the urgency for the severity when Incident.Priority names none.
const (
	UrgencyHigh = "high"
	UrgencyLow  = "low"
)

// Severities: the names Incident.Priority should use so the hub ranks an
// incident without guessing. The hub also recognises P1..P4 and SEV1..SEV4
// inside a priority's name (see sdk/webhook.Severities for a lookup table of
// the words monitoring tools use).
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// Event kinds (Event.Type). The hub derives an incident's status from these
// when Incident.Status is empty; other kinds (a provider's own, such as
// "alert.firing") are recorded on the incident's timeline as sent.
const (
	EventIncidentTriggered      = "incident.triggered"
	EventIncidentAcknowledged   = "incident.acknowledged"
	EventIncidentUnacknowledged = "incident.unacknowledged"
	EventIncidentReopened       = "incident.reopened"
	EventIncidentResolved       = "incident.resolved"
)

// ResourceIncident is Event.ResourceType for an event about an incident.
const ResourceIncident = "incident"

// StatusOfEvent is the incident status an event kind implies, or "" when
// the kind says nothing about the status.
func StatusOfEvent(eventType string) string {
	switch eventType {
	case EventIncidentTriggered, EventIncidentUnacknowledged, EventIncidentReopened:
		return StatusTriggered
	case EventIncidentAcknowledged:
		return StatusAcknowledged
	case EventIncidentResolved:
		return StatusResolved
	}
	return ""
}
