// Package incidents applies provider events to the hub's incidents and reads them back.
package incidents

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Source is where an event came from: the provider and the connection (and
// so the owner) that received it. Incidents belong to that owner.
type Source struct {
	Provider     string
	OwnerKind    string
	OwnerID      string
	ConnectionID string
}

// Provider statuses the hub understands: the SDK's exported vocabulary.
const (
	providerTriggered    = sdk.StatusTriggered
	providerAcknowledged = sdk.StatusAcknowledged
	providerResolved     = sdk.StatusResolved
)

// Apply applies one event to the owner's incident, creating it when needed:
// ApplyBatch with one item. incidentID is "" for events that concern no
// incident (pings, service events, unknown types). changed reports whether
// the event was new, that is whether anything was recorded (at least its
// timeline entry).
func Apply(ctx context.Context, db bun.IDB, src Source, ev sdk.Event) (incidentID string, changed bool, err error) {
	res, err := ApplyBatch(ctx, db, []Item{{Src: src, Event: ev}})
	if err != nil {
		return "", false, err
	}
	return res[0].IncidentID, res[0].Changed, nil
}

// updateColumns are the columns Apply owns; analysis and correlation
// columns (aurora_status, summary, ...) are left to their writers.
var updateColumns = []string{
	"incident_number", "title", "status", "severity", "provider_status", "urgency", "priority",
	"service_id", "service_name", "service_url", "escalation_policy", "assignees", "teams",
	"incident_key", "html_url", "resolve_reason", "state_at", "alert_fired_at", "started_at",
	"resolved_at", "affected_services", "updated_at",
}

func newIncidentID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

// eventTime is when the event happened, at the databases' common precision;
// an event without a time is taken as happening now.
func eventTime(ev sdk.Event, now time.Time) time.Time {
	if ev.OccurredAt.IsZero() {
		return now
	}
	return ev.OccurredAt.UTC().Truncate(time.Microsecond)
}

// newRow is the incident as first seen: a placeholder, filled by the event
// when it is a full incident.
func newRow(src Source, extID string, in *sdk.Incident, ev sdk.Event, at, now time.Time, id string) *incidentRow {
	r := &incidentRow{
		ID: id, Provider: src.Provider, OwnerKind: src.OwnerKind, OwnerID: src.OwnerID, ConnectionID: src.ConnectionID,
		ExternalID: extID, Status: hub.IncidentInvestigating, Severity: Severity("", ""),
		HTMLURL: strings.TrimSpace(in.HTMLURL), Assignees: "[]", Teams: "[]",
		AlertFiredAt: at, StartedAt: at, AuroraStatus: hub.AuroraIdle, AffectedServices: "[]",
		CreatedAt: now, UpdatedAt: now,
	}
	(&merger{r: r}).merge(in, ev, at)
	return r
}

// merger applies an event to a row and notes whether anything changed.
type merger struct {
	r       *incidentRow
	changed bool
}

func (m *merger) str(dst *string, v string) {
	if *dst != v {
		*dst, m.changed = v, true
	}
}

func (m *merger) strPtr(dst **string, v *string) {
	if (*dst == nil) != (v == nil) || (v != nil && **dst != *v) {
		*dst, m.changed = v, true
	}
}

func (m *merger) time(dst *time.Time, v time.Time) {
	if !dst.Equal(v) {
		*dst, m.changed = v, true
	}
}

func (m *merger) timePtr(dst **time.Time, v *time.Time) {
	if (*dst == nil) != (v == nil) || (v != nil && !(*dst).Equal(*v)) {
		*dst, m.changed = v, true
	}
}

func (m *merger) merge(in *sdk.Incident, ev sdk.Event, at time.Time) bool {
	r := m.r
	if at.Before(r.StartedAt) {
		m.time(&r.StartedAt, at)
	}
	if !in.CreatedAt.IsZero() {
		// The provider's creation time never changes, so any event may set it.
		m.time(&r.AlertFiredAt, in.CreatedAt.UTC().Truncate(time.Microsecond))
	}
	if r.HTMLURL == "" {
		m.str(&r.HTMLURL, strings.TrimSpace(in.HTMLURL))
	}
	if in.Partial {
		return m.changed
	}
	if r.StateAt != nil && at.Before(*r.StateAt) {
		// Older than the state already applied: only fill what is empty.
		if r.Title == "" {
			m.str(&r.Title, in.Title)
		}
		if r.Number == 0 && in.Number != 0 {
			r.Number, m.changed = in.Number, true
		}
		if r.IncidentKey == "" {
			m.str(&r.IncidentKey, in.IncidentKey)
		}
		if r.ServiceID == "" && r.ServiceName == "" && in.Service != nil {
			m.service(in.Service)
		}
		if r.EscalationPolicy == nil && in.EscalationPolicy != nil {
			m.strPtr(&r.EscalationPolicy, refText(in.EscalationPolicy))
		}
		return m.changed
	}

	stateAt := at
	m.timePtr(&r.StateAt, &stateAt)
	if ps := providerStatus(in.Status, ev.Type); ps != "" && r.Status == hub.IncidentMerged {
		// Merged into another incident by a user: the provider's status is
		// noted, the hub's stays merged.
		m.str(&r.ProviderStatus, ps)
	} else if ps != "" {
		wasResolved := r.Status == hub.IncidentResolved
		m.str(&r.ProviderStatus, ps)
		next := Status(ps)
		if next == hub.IncidentInvestigating && r.Status == hub.IncidentAnalyzed {
			next = hub.IncidentAnalyzed // still open, and its analysis stands
		}
		m.str(&r.Status, next)
		if r.Status == hub.IncidentResolved {
			if r.ResolvedAt == nil {
				m.timePtr(&r.ResolvedAt, &stateAt)
			}
		} else {
			m.timePtr(&r.ResolvedAt, nil)
			if wasResolved {
				// It fires again: a new episode starts now, so the
				// incident's duration counts from the refire.
				m.time(&r.StartedAt, stateAt)
			}
		}
	}
	if in.Title != "" {
		m.str(&r.Title, in.Title)
	}
	if in.Number != 0 && in.Number != r.Number {
		r.Number, m.changed = in.Number, true
	}
	if in.IncidentKey != "" {
		m.str(&r.IncidentKey, in.IncidentKey)
	}
	if u := strings.TrimSpace(in.HTMLURL); u != "" {
		m.str(&r.HTMLURL, u)
	}
	if in.Service != nil {
		m.service(in.Service)
	}
	if in.EscalationPolicy != nil {
		m.strPtr(&r.EscalationPolicy, refText(in.EscalationPolicy))
	}
	if in.Urgency != "" {
		m.str(&r.Urgency, strings.ToLower(strings.TrimSpace(in.Urgency)))
	}
	m.str(&r.Priority, strings.TrimSpace(in.Priority))
	m.str(&r.Severity, Severity(r.Priority, r.Urgency))
	m.str(&r.Assignees, refsText(in.Assignees))
	m.str(&r.Teams, refsText(in.Teams))
	m.str(&r.ResolveReason, in.ResolveReason)
	return m.changed
}

// service sets the incident's service and adds it to affectedServices.
func (m *merger) service(s *sdk.Reference) {
	r := m.r
	m.str(&r.ServiceID, strings.TrimSpace(s.ID))
	m.str(&r.ServiceName, strings.TrimSpace(s.Summary))
	m.str(&r.ServiceURL, strings.TrimSpace(s.HTMLURL))
	if r.ServiceName == "" {
		return
	}
	affected := decodeStrings(r.AffectedServices)
	for _, a := range affected {
		if a == r.ServiceName {
			return
		}
	}
	b, _ := json.Marshal(append(affected, r.ServiceName))
	m.str(&r.AffectedServices, string(b))
}

// providerStatus is the incident's provider status, from the incident or,
// when it carries none, from the event type.
func providerStatus(status, eventType string) string {
	if s := strings.ToLower(strings.TrimSpace(status)); s != "" {
		return s
	}
	switch eventType {
	case "incident.triggered", "incident.unacknowledged", "incident.reopened":
		return providerTriggered
	case "incident.acknowledged":
		return providerAcknowledged
	case "incident.resolved":
		return providerResolved
	}
	return ""
}

// Status maps a provider status to the hub's: resolved is resolved,
// anything else is investigating.
func Status(providerStatus string) string {
	if strings.EqualFold(strings.TrimSpace(providerStatus), providerResolved) {
		return hub.IncidentResolved
	}
	return hub.IncidentInvestigating
}

var severityNames = []struct {
	severity string
	names    []string
}{
	{hub.SeverityCritical, []string{"p1", "critical", "sev1"}},
	{hub.SeverityHigh, []string{"p2", "high", "sev2"}},
	{hub.SeverityMedium, []string{"p3", "medium", "sev3"}},
	{hub.SeverityLow, []string{"p4", "low", "sev4"}},
}

var sevSeparators = strings.NewReplacer("sev-", "sev", "sev_", "sev", "sev ", "sev")

// Severity maps a priority name (case-insensitive substring: p1, critical
// or sev1 is critical, and so on down to low) or, when there is no priority
// or it names none of these, the urgency (high is high, else medium).
func Severity(priority, urgency string) string {
	p := strings.ToLower(strings.TrimSpace(priority))
	if p != "" {
		p = sevSeparators.Replace(p)
		for _, s := range severityNames {
			for _, n := range s.names {
				if strings.Contains(p, n) {
					return s.severity
				}
			}
		}
	}
	if strings.EqualFold(strings.TrimSpace(urgency), "high") {
		return hub.SeverityHigh
	}
	return hub.SeverityMedium
}

func refText(r *sdk.Reference) *string {
	if r == nil {
		return nil
	}
	b, _ := json.Marshal(refJSON{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL})
	s := string(b)
	return &s
}

func refsText(rs []sdk.Reference) string {
	out := make([]refJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, refJSON{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// jsonText makes raw bytes storable as JSON text: valid JSON is kept as is
// (invalid UTF-8 replaced), anything else is stored as a JSON string.
func jsonText(b []byte) *string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !json.Valid([]byte(s)) {
		q, _ := json.Marshal(s)
		s = string(q)
	}
	return &s
}

// eventID is the provider's event id, or for an event without one a
// stable digest of its content, so that a replay is still recognised.
func eventID(ev sdk.Event) string {
	if id := strings.TrimSpace(ev.ID); id != "" {
		return id
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", ev.Type, ev.OccurredAt.UTC().Format(time.RFC3339Nano))
	h.Write(ev.Data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

func timelineRow(incidentID string, ev sdk.Event, at, now time.Time) *eventRow {
	r := &eventRow{
		IncidentID: incidentID, EventID: eventID(ev), EventType: strings.TrimSpace(ev.Type),
		OccurredAt: at, Data: jsonText(ev.Data), RecordedAt: now,
	}
	if ev.Agent != nil {
		r.Agent = refText(ev.Agent)
	}
	return r
}

// fieldRows are the custom field values an event sets, one per name: the
// full set first, then the changed ones (which win). A cleared field is
// stored as a "null" tombstone.
func fieldRows(incidentID string, in *sdk.Incident, at time.Time) []fieldRow {
	if !in.HasCustomFields && len(in.ChangedCustomFields) == 0 {
		return nil
	}
	var rows []fieldRow
	index := map[string]int{}
	for _, list := range [][]sdk.CustomField{in.CustomFields, in.ChangedCustomFields} {
		for _, f := range list {
			name := strings.TrimSpace(f.Name)
			if name == "" {
				name = strings.TrimSpace(f.ID)
			}
			if name == "" {
				continue
			}
			value := "null"
			if v := jsonText(f.ValueJSON); v != nil {
				value = *v
			}
			r := fieldRow{
				IncidentID: incidentID, Name: name, FieldID: f.ID, Namespace: f.Namespace,
				DataType: f.DataType, FieldType: f.FieldType, ValueJSON: value, SetAt: at,
			}
			if i, ok := index[name]; ok {
				rows[i] = r
			} else {
				index[name] = len(rows)
				rows = append(rows, r)
			}
		}
	}
	return rows
}
