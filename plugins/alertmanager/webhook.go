package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// HandleWebhook implements sdk.WebhookHandler for Alertmanager's webhook
// receiver (payload version 4). The Authorization header is checked against
// the connection's stored credentials before the body is read; each alert
// becomes one event.
func (*Provider) HandleWebhook(_ context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	if req == nil {
		return nil, sdk.Errorf(sdk.CodeInvalid, "Empty webhook request")
	}
	want := usableCredentials(req.Secrets)
	verified := false
	switch {
	case len(want) > 0:
		if !authenticate(header(req.Header, "Authorization"), want) {
			return nil, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: msgBadCredentials}
		}
		verified = true
	case !req.AllowUnsigned:
		return nil, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: msgNoCredentials}
	}
	events, err := parse(req.Body)
	if err != nil {
		return nil, err
	}
	return &sdk.WebhookResult{Verified: verified, Events: events}, nil
}

// header returns the first value of header name, in any case.
func header(h map[string][]string, name string) string {
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// message is Alertmanager's webhook payload (notify/webhook.Message). Every
// field decodes leniently: an odd type is an empty value, never an error.
type message struct {
	Version     flexString      `json:"version"`
	GroupKey    flexString      `json:"groupKey"`
	Status      flexString      `json:"status"`
	ExternalURL flexString      `json:"externalURL"`
	Alerts      json.RawMessage `json:"alerts"`
}

// alert is one alert of a payload (template.Alert).
type alert struct {
	Status       flexString `json:"status"`
	Labels       labelSet   `json:"labels"`
	Annotations  labelSet   `json:"annotations"`
	StartsAt     flexString `json:"startsAt"`
	EndsAt       flexString `json:"endsAt"`
	GeneratorURL flexString `json:"generatorURL"`
	Fingerprint  flexString `json:"fingerprint"`
}

func invalid(format string, args ...any) error { return sdk.Errorf(sdk.CodeInvalid, format, args...) }

// parse turns a payload into one event per alert, in order; an alert that
// repeats an earlier one's event ID is dropped.
func parse(body []byte) ([]sdk.Event, error) {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return nil, invalid("Empty webhook body")
	case body[0] != '{':
		return nil, invalid("Webhook body must be a JSON object")
	}
	var m message
	if json.Unmarshal(body, &m) != nil {
		return nil, invalid("Webhook body is not valid JSON")
	}
	switch v := strings.TrimSpace(string(m.Version)); v {
	case "4":
	case "":
		return nil, invalid(`Not an Alertmanager webhook: "version" is missing`)
	default:
		return nil, invalid(`Unsupported Alertmanager webhook version %q: this plugin reads version "4"`, v)
	}
	var raws []json.RawMessage
	if json.Unmarshal(m.Alerts, &raws) != nil {
		return nil, invalid(`"alerts" must be a list of alerts`)
	}
	if len(raws) == 0 {
		return nil, invalid(`No alerts in "alerts"`)
	}
	events := make([]sdk.Event, 0, len(raws))
	seen := make(map[string]bool, len(raws))
	for i, raw := range raws {
		ev, err := m.event(i, raw)
		if err != nil {
			return nil, err
		}
		if !seen[ev.ID] {
			seen[ev.ID] = true
			events = append(events, ev)
		}
	}
	return events, nil
}

// event converts alert i of m.
func (m *message) event(i int, raw json.RawMessage) (sdk.Event, error) {
	var a alert
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &a) != nil {
		return sdk.Event{}, invalid("alerts[%d] is not an object", i)
	}
	status := strings.ToLower(strings.TrimSpace(string(a.Status)))
	if status == "" {
		status = strings.ToLower(strings.TrimSpace(string(m.Status)))
	}
	if status != "firing" && status != "resolved" {
		return sdk.Event{}, invalid(`alerts[%d]: status %q is neither "firing" nor "resolved"`, i, truncate(status, 40))
	}
	fp := strings.TrimSpace(string(a.Fingerprint))
	if fp == "" {
		fp = fingerprint(a.Labels)
	}
	startsAt, startsKey := parseTime(a.StartsAt)
	ev := sdk.Event{
		ID:           fp + ":" + status + ":" + startsKey,
		Type:         EventFiring,
		ResourceType: "incident",
		OccurredAt:   startsAt,
	}
	in := &sdk.Incident{
		ExternalID:      fp,
		Title:           truncate(firstOf(a.Annotations["summary"], a.Labels["alertname"], "Alert "+fp), maxTitle),
		Status:          "triggered",
		Priority:        priority(a.Labels["severity"]),
		Urgency:         "low",
		IncidentKey:     string(m.GroupKey),
		HTMLURL:         firstLink(string(a.GeneratorURL), string(m.ExternalURL)),
		CreatedAt:       startsAt,
		HasCustomFields: true,
		CustomFields:    append(fields("labels", a.Labels), fields("annotations", a.Annotations)...),
	}
	if in.Priority == "critical" {
		in.Urgency = "high"
	}
	if svc := firstOf(a.Labels["service"], a.Labels["job"]); svc != "" {
		in.Service = &sdk.Reference{ID: svc, Summary: svc}
	}
	if status == "resolved" {
		ev.Type, in.Status = EventResolved, "resolved"
		if endsAt, _ := parseTime(a.EndsAt); !endsAt.IsZero() {
			ev.OccurredAt = endsAt
		}
	}
	ev.Incident = in
	var data bytes.Buffer
	if json.Compact(&data, raw) == nil {
		ev.Data = data.Bytes()
	}
	return ev, nil
}

// parseTime reads an RFC 3339 timestamp; the key is its UTC form, or the
// text as sent when it does not parse, so event IDs stay stable either way.
// Alertmanager's "unset" (0001-01-01T00:00:00Z) is the zero time.
func parseTime(s flexString) (time.Time, string) {
	raw := strings.TrimSpace(string(s))
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil || t.IsZero() {
		return time.Time{}, truncate(raw, 64)
	}
	return t.UTC(), t.UTC().Format(time.RFC3339Nano)
}

// priorities map common severity label values to a priority name the hub's
// severity mapping understands (critical, high, medium, low).
var priorities = map[string]string{
	"critical": "critical", "crit": "critical", "page": "critical", "emergency": "critical",
	"fatal": "critical", "disaster": "critical", "p1": "critical", "sev1": "critical",
	"high": "high", "error": "high", "major": "high", "p2": "high", "sev2": "high",
	"warning": "medium", "warn": "medium", "medium": "medium", "average": "medium", "p3": "medium", "sev3": "medium",
	"low": "low", "info": "low", "informational": "low", "minor": "low", "notice": "low", "p4": "low", "sev4": "low",
}

// priority maps a severity label; unknown values have no priority.
func priority(severity string) string {
	return priorities[strings.ToLower(strings.TrimSpace(severity))]
}

// fields turns a label set into custom fields, sorted by name.
func fields(namespace string, set labelSet) []sdk.CustomField {
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]sdk.CustomField, 0, len(names))
	for _, k := range names {
		v, _ := json.Marshal(set[k])
		out = append(out, sdk.CustomField{
			ID: namespace + "." + k, Name: k, Namespace: namespace,
			DataType: "string", FieldType: "single_value", ValueJSON: v,
		})
	}
	return out
}

// fingerprint is Alertmanager's fingerprint of a label set (Prometheus'
// model.LabelsToSignature: FNV-1a over sorted name, 0xff, value, 0xff), for
// payloads that leave the fingerprint out.
func fingerprint(labels labelSet) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	h := fnv.New64a()
	for _, k := range names {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// maxTitle bounds an incident title, in bytes.
const maxTitle = 1024

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// firstLink is the first of urls that is an absolute http(s) URL: a
// generatorURL such as javascript:... gives way to the external URL (the
// hub shows only http and https links either way).
func firstLink(urls ...string) string {
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return u.String()
		}
	}
	return ""
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
