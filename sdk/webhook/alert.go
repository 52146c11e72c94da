package webhook

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Alert is a Prometheus-style alert as Alertmanager (template.Alert) and
// Grafana Alerting send it; Grafana adds the panel and dashboard links.
type Alert struct {
	Status       String `json:"status"`
	Labels       Labels `json:"labels"`
	Annotations  Labels `json:"annotations"`
	StartsAt     String `json:"startsAt"`
	EndsAt       String `json:"endsAt"`
	GeneratorURL String `json:"generatorURL"`
	PanelURL     String `json:"panelURL"`
	DashboardURL String `json:"dashboardURL"`
	Fingerprint  String `json:"fingerprint"`
}

// AlertGroup is what a notification says of all its alerts, and how they
// become events.
type AlertGroup struct {
	Status      string // the group's status, for alerts that have none
	GroupKey    string // becomes Incident.IncidentKey
	ExternalURL string // the last resort for Incident.HTMLURL
	// FiringType and ResolvedType are the Event.Type of each status.
	FiringType, ResolvedType string
	// TitlePrefix precedes the fingerprint in the title of an alert with no
	// summary annotation and no alertname label (default "Alert ").
	TitlePrefix string
}

// MaxTitle bounds an incident title, in bytes.
const MaxTitle = 1024

// Events turns alerts (raw JSON objects) into one event each, in order,
// dropping repeats of an event ID. An alert that is not an object, or whose
// status is neither "firing" nor "resolved", fails the delivery (CodeInvalid,
// naming alerts[i]). The incident is the alert's fingerprint (computed from
// its labels when absent); its severity comes from the "severity" label,
// its service from the "service" or "job" label; labels and annotations
// become custom fields.
func (g AlertGroup) Events(alerts []json.RawMessage) ([]sdk.Event, error) {
	events := make([]sdk.Event, 0, len(alerts))
	for i, raw := range alerts {
		var a Alert
		if DecodeObject(raw, &a) != nil {
			return nil, Invalid("alerts[%d] is not an object", i)
		}
		ev, err := g.event(&a)
		if err != nil {
			return nil, Invalid("alerts[%d]: %s", i, err)
		}
		ev.Data = Compact(raw)
		events = append(events, ev)
	}
	return Unique(events), nil
}

type statusError string

func (e statusError) Error() string { return string(e) }

func (g AlertGroup) event(a *Alert) (sdk.Event, error) {
	status := strings.ToLower(First(a.Status.Trimmed(), g.Status))
	if status != "firing" && status != "resolved" {
		return sdk.Event{}, statusError(`status "` + Text(status, 40) + `" is neither "firing" nor "resolved"`)
	}
	fp := First(a.Fingerprint.Trimmed(), Fingerprint(a.Labels))
	startsAt, startsKey := timeAndKey(a.StartsAt)
	severity := DefaultSeverities.Severity(a.Labels["severity"])
	prefix := g.TitlePrefix
	if prefix == "" {
		prefix = "Alert "
	}
	ev := sdk.Event{ID: fp + ":" + status + ":" + startsKey, Type: g.FiringType, ResourceType: sdk.ResourceIncident, OccurredAt: startsAt}
	in := &sdk.Incident{
		ExternalID:      fp,
		Title:           Text(First(a.Annotations["summary"], a.Labels["alertname"], prefix+fp), MaxTitle),
		Status:          sdk.StatusTriggered,
		Priority:        severity,
		Urgency:         Urgency(severity),
		IncidentKey:     g.GroupKey,
		HTMLURL:         Link(a.PanelURL.Trimmed(), a.DashboardURL.Trimmed(), a.GeneratorURL.Trimmed(), g.ExternalURL),
		CreatedAt:       startsAt,
		HasCustomFields: true,
		CustomFields:    append(Fields("labels", a.Labels), Fields("annotations", a.Annotations, a.Labels)...),
	}
	if svc := First(a.Labels["service"], a.Labels["job"]); svc != "" {
		in.Service = &sdk.Reference{ID: svc, Summary: svc}
	}
	if status == "resolved" {
		ev.Type, in.Status = g.ResolvedType, sdk.StatusResolved
		if endsAt, _ := timeAndKey(a.EndsAt); !endsAt.IsZero() {
			ev.OccurredAt = endsAt
		}
	}
	ev.Incident = in
	return ev, nil
}

// timeAndKey reads an RFC 3339 timestamp (what Prometheus-style alerts
// carry); the key is its UTC form, or the text as sent when it does not
// parse, so event IDs stay stable either way. Go's zero time, which
// Alertmanager and Grafana send for "unset", is the zero time.
func timeAndKey(s String) (time.Time, string) {
	t, err := time.Parse(time.RFC3339Nano, s.Trimmed())
	if err != nil || t.IsZero() {
		return time.Time{}, Text(s.Trimmed(), 64)
	}
	return t.UTC(), t.UTC().Format(time.RFC3339Nano)
}
