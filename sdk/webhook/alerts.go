package webhook

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Severities maps the severity words monitoring tools use (lower case) to
// the SDK's severities; Severity looks a word up.
type Severities map[string]string

// DefaultSeverities covers Prometheus, Grafana, Zabbix and PagerDuty-style
// words. Copy and extend it for a provider's own.
var DefaultSeverities = Severities{
	"critical": sdk.SeverityCritical, "crit": sdk.SeverityCritical, "page": sdk.SeverityCritical,
	"emergency": sdk.SeverityCritical, "fatal": sdk.SeverityCritical, "disaster": sdk.SeverityCritical,
	"p1": sdk.SeverityCritical, "sev1": sdk.SeverityCritical,
	"high": sdk.SeverityHigh, "error": sdk.SeverityHigh, "major": sdk.SeverityHigh, "p2": sdk.SeverityHigh, "sev2": sdk.SeverityHigh,
	"warning": sdk.SeverityMedium, "warn": sdk.SeverityMedium, "medium": sdk.SeverityMedium, "average": sdk.SeverityMedium,
	"p3": sdk.SeverityMedium, "sev3": sdk.SeverityMedium,
	"low": sdk.SeverityLow, "info": sdk.SeverityLow, "informational": sdk.SeverityLow, "minor": sdk.SeverityLow,
	"notice": sdk.SeverityLow, "p4": sdk.SeverityLow, "sev4": sdk.SeverityLow,
}

// Severity maps word (any case, trimmed); unknown words give "".
func (s Severities) Severity(word string) string { return s[strings.ToLower(strings.TrimSpace(word))] }

// Urgency is the urgency of a severity: high for critical, else low.
func Urgency(severity string) string {
	if severity == sdk.SeverityCritical {
		return sdk.UrgencyHigh
	}
	return sdk.UrgencyLow
}

// Fields turns a label set into custom fields (ID "<namespace>.<name>",
// string values), sorted by name. The hub keys an incident's custom fields
// by name, so a name already taken by another set (an annotation named like
// a label) is named "<namespace>.<name>" instead of replacing the other.
func Fields(namespace string, set map[string]string, taken ...map[string]string) []sdk.CustomField {
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]sdk.CustomField, 0, len(names))
	for _, k := range names {
		v, _ := json.Marshal(set[k])
		name := k
		for _, t := range taken {
			if _, ok := t[k]; ok {
				name = namespace + "." + k
			}
		}
		out = append(out, sdk.CustomField{
			ID: namespace + "." + k, Name: name, Namespace: namespace,
			DataType: "string", FieldType: "single_value", ValueJSON: v,
		})
	}
	return out
}

// Fingerprint is Prometheus' fingerprint of a label set
// (model.LabelsToSignature: FNV-1a over sorted name, 0xff, value, 0xff), as
// Alertmanager and Grafana compute it, for payloads that leave it out.
func Fingerprint(labels map[string]string) string {
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

// Unique drops every event whose ID an earlier event of the same delivery
// already had, keeping order (the hub deduplicates across deliveries; a
// delivery that lists one alert twice must not count it twice).
func Unique(events []sdk.Event) []sdk.Event {
	seen := make(map[string]bool, len(events))
	out := events[:0]
	for _, ev := range events {
		if !seen[ev.ID] {
			seen[ev.ID] = true
			out = append(out, ev)
		}
	}
	return out
}
