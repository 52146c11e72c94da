package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
)

// Aurora's incident JSON: what its frontend reads from /api/incidents
// (AURORA-INCIDENTS.md sections 2 and 3).

type auroraIncidentJSON struct {
	ID         string `json:"id"`
	SourceType string `json:"sourceType"`
	// SourceAlertID is the provider's incident number (an integer, as
	// Aurora sends it), null when the provider has none; ExternalID is the
	// provider's incident id.
	SourceAlertID        *int64          `json:"sourceAlertId"`
	ExternalID           string          `json:"externalId"`
	Status               string          `json:"status"`
	Severity             string          `json:"severity"`
	Alert                auroraAlertJSON `json:"alert"`
	AuroraStatus         string          `json:"auroraStatus"`
	Summary              string          `json:"summary"`
	ChatSessionID        *string         `json:"chatSessionId"`
	ActiveTab            string          `json:"activeTab"`
	StartedAt            string          `json:"startedAt"`
	AnalyzedAt           *string         `json:"analyzedAt"`
	ResolvedAt           *string         `json:"resolvedAt"`
	AlertFiredAt         *string         `json:"alertFiredAt"`
	CreatedAt            string          `json:"createdAt"`
	UpdatedAt            string          `json:"updatedAt"`
	CorrelatedAlertCount int             `json:"correlatedAlertCount"`
	AffectedServices     []string        `json:"affectedServices"`
	MergedIntoIncidentID *string         `json:"mergedIntoIncidentId,omitempty"`
	MergedIntoTitle      *string         `json:"mergedIntoTitle,omitempty"`
}

type auroraAlertJSON struct {
	Title     string `json:"title"`
	Service   string `json:"service"`
	Source    string `json:"source"`
	SourceURL string `json:"sourceUrl"`
	// Metadata is left out when empty, as Aurora does.
	Metadata map[string]any `json:"metadata,omitempty"`
	// RawPayload and TriggeredAt are sent by the detail only.
	RawPayload  *string `json:"rawPayload,omitempty"`
	TriggeredAt *string `json:"triggeredAt,omitempty"`
}

type auroraDetailJSON struct {
	auroraIncidentJSON
	CorrelatedAlerts  []auroraCorrelatedAlertJSON `json:"correlatedAlerts"`
	Suggestions       []auroraSuggestionJSON      `json:"suggestions"`
	StreamingThoughts []auroraThoughtJSON         `json:"streamingThoughts"`
	Citations         []auroraCitationJSON        `json:"citations"`
	ChatSessions      []struct{}                  `json:"chatSessions"`
	TokenUsage        *struct{}                   `json:"tokenUsage"`
}

type auroraCorrelatedAlertJSON struct {
	ID                  string         `json:"id"`
	SourceType          string         `json:"sourceType"`
	AlertTitle          string         `json:"alertTitle"`
	AlertService        string         `json:"alertService"`
	AlertSeverity       string         `json:"alertSeverity"`
	CorrelationStrategy string         `json:"correlationStrategy"`
	CorrelationScore    float64        `json:"correlationScore"`
	CorrelationDetails  map[string]any `json:"correlationDetails"`
	ReceivedAt          string         `json:"receivedAt"`
}

type auroraSuggestionJSON struct {
	ID                 string  `json:"id"`
	Title              string  `json:"title"`
	Description        string  `json:"description"`
	Type               string  `json:"type"`
	Risk               string  `json:"risk"`
	Command            *string `json:"command"`
	Rationale          *string `json:"rationale"`
	Undo               *string `json:"undo"`
	Summary            *string `json:"summary"`
	FilePath           *string `json:"filePath"`
	CreatedAt          string  `json:"createdAt"`
	ExecutedAt         *string `json:"executedAt"`
	ExecutionSessionID *string `json:"executionSessionId"`
	ExecutionStatus    *string `json:"executionStatus"`
}

type auroraThoughtJSON struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Content   string `json:"content"`
	Type      string `json:"type"`
	CreatedAt string `json:"createdAt"`
}

type auroraCitationJSON struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	ToolName   string `json:"toolName"`
	Command    string `json:"command"`
	Output     string `json:"output"`
	ExecutedAt string `json:"executedAt"`
	CreatedAt  string `json:"createdAt"`
}

// Aurora's enums (section 11): anything else is mapped to the default.
var (
	auroraStatuses       = []string{hub.IncidentInvestigating, hub.IncidentAnalyzed, hub.IncidentMerged, hub.IncidentResolved}
	auroraAuroraStatuses = []string{hub.AuroraIdle, hub.AuroraRunning, hub.AuroraSummarizing, hub.AuroraComplete, hub.AuroraError}
	auroraActiveTabs     = []string{"thoughts", "chat"}
)

func oneOf(v string, set []string, def string) string {
	for _, s := range set {
		if v == s {
			return v
		}
	}
	return def
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func serviceName(in *hub.Incident) string {
	if in.Service != nil && in.Service.Summary != "" {
		return in.Service.Summary
	}
	return "unknown"
}

// auroraIncident maps an incident to Aurora's list object; fields (its
// custom fields) feed alert.metadata and may be nil.
func auroraIncident(in *hub.Incident, fields []hub.IncidentCustomField) auroraIncidentJSON {
	j := auroraIncidentJSON{
		ID: in.ID, SourceType: in.Provider, ExternalID: in.ExternalID,
		Status:   oneOf(in.Status, auroraStatuses, hub.IncidentInvestigating),
		Severity: orDefault(in.Severity, "unknown"),
		Alert: auroraAlertJSON{
			Title: orDefault(in.Title, "Untitled Incident"), Service: serviceName(in), Source: in.Provider,
			SourceURL: hub.SafeURL(in.HTMLURL), Metadata: auroraMetadata(in, fields),
		},
		AuroraStatus: oneOf(in.AuroraStatus, auroraAuroraStatuses, hub.AuroraIdle),
		ActiveTab:    "thoughts",
		StartedAt:    apiTime(in.StartedAt), AnalyzedAt: apiTimePtr(in.AnalyzedAt), ResolvedAt: apiTimePtr(in.ResolvedAt),
		CreatedAt: apiTime(in.CreatedAt), UpdatedAt: apiTime(in.UpdatedAt),
		CorrelatedAlertCount: in.CorrelatedAlertCount, AffectedServices: in.AffectedServices,
		MergedIntoIncidentID: in.MergedIntoIncidentID,
	}
	if in.Number != 0 {
		n := in.Number
		j.SourceAlertID = &n
	}
	if in.Summary != nil {
		j.Summary = *in.Summary
	}
	j.AlertFiredAt = auroraTime(in.AlertFiredAt)
	if j.AffectedServices == nil {
		j.AffectedServices = []string{}
	}
	return j
}

// auroraMetadata is alert.metadata: PagerDuty's keys (incidentId,
// incidentUrl, urgency, priority, incidentKey, customFields as {name:
// value}); for other providers alertUrl instead of incidentUrl, and custom
// fields in the labels and annotations namespaces (Alertmanager) as labels
// and annotations, with runbookUrl and dashboardUrl taken from them. Every
// URL is http(s) or left out.
func auroraMetadata(in *hub.Incident, fields []hub.IncidentCustomField) map[string]any {
	md := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			md[k] = v
		}
	}
	put("incidentId", in.ExternalID)
	if in.Provider == "pagerduty" {
		put("incidentUrl", hub.SafeURL(in.HTMLURL))
	} else {
		put("alertUrl", hub.SafeURL(in.HTMLURL))
	}
	put("urgency", in.Urgency)
	put("priority", in.Priority)
	put("incidentKey", in.IncidentKey)
	groups := map[string]map[string]any{}
	for _, f := range fields {
		var v any
		if json.Unmarshal(f.ValueJSON, &v) != nil || v == nil || v == "" {
			continue
		}
		key := "customFields"
		switch f.Namespace {
		case "labels", "annotations":
			key = f.Namespace
		}
		if groups[key] == nil {
			groups[key] = map[string]any{}
		}
		groups[key][f.Name] = v
	}
	for k, g := range groups {
		md[k] = g
	}
	for _, g := range []map[string]any{groups["annotations"], groups["customFields"]} {
		for _, k := range []string{"runbook_url", "runbook"} {
			if s, ok := g[k].(string); ok && md["runbookUrl"] == nil {
				put("runbookUrl", hub.SafeURL(s))
			}
		}
		for _, k := range []string{"dashboard_url", "dashboard", "grafana_url"} {
			if s, ok := g[k].(string); ok && md["dashboardUrl"] == nil {
				put("dashboardUrl", hub.SafeURL(s))
			}
		}
	}
	if len(md) == 0 {
		return nil
	}
	return md
}

// auroraDetail maps GET /api/incidents/{id}.
func auroraDetail(d *hub.IncidentDetail, attached []incidents.AttachedIncident, mergedIntoTitle *string,
	thoughts []hub.Thought, citations []hub.Citation, suggestions []hub.Suggestion) auroraDetailJSON {
	j := auroraDetailJSON{
		auroraIncidentJSON: auroraIncident(&d.Incident, d.CustomFields),
		CorrelatedAlerts:   correlatedAlerts(&d.Incident, attached),
		Suggestions:        make([]auroraSuggestionJSON, 0, len(suggestions)),
		StreamingThoughts:  make([]auroraThoughtJSON, 0, len(thoughts)),
		Citations:          auroraCitations(citations),
		ChatSessions:       []struct{}{},
	}
	j.MergedIntoTitle = mergedIntoTitle
	raw := rawPayload(d)
	j.Alert.RawPayload = &raw
	triggered := j.StartedAt
	if j.AlertFiredAt != nil {
		triggered = *j.AlertFiredAt
	}
	j.Alert.TriggeredAt = &triggered
	for _, t := range thoughts {
		j.StreamingThoughts = append(j.StreamingThoughts, auroraThoughtJSON{
			ID: strconv.FormatInt(t.ID, 10), Timestamp: apiTime(t.Timestamp), Content: t.Content,
			Type: orDefault(t.Type, hub.ThoughtAnalysis), CreatedAt: apiTime(t.CreatedAt),
		})
	}
	for _, s := range suggestions {
		j.Suggestions = append(j.Suggestions, auroraSuggestionJSON{
			ID: strconv.FormatInt(s.ID, 10), Title: s.Title, Description: s.Description,
			Type: orDefault(s.Type, hub.SuggestionDiagnostic), Risk: orDefault(s.Risk, hub.RiskSafe),
			Command: nonEmpty(s.Command), Rationale: nonEmpty(s.Rationale), CreatedAt: apiTime(s.CreatedAt),
		})
	}
	return j
}

// auroraCitations keeps the citations with numeric keys, in key order.
func auroraCitations(cs []hub.Citation) []auroraCitationJSON {
	type keyed struct {
		n int
		c hub.Citation
	}
	var ks []keyed
	for _, c := range cs {
		if n, err := strconv.Atoi(strings.TrimSpace(c.Key)); err == nil {
			ks = append(ks, keyed{n, c})
		}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].n < ks[j].n })
	out := make([]auroraCitationJSON, 0, len(ks))
	for _, k := range ks {
		out = append(out, auroraCitationJSON{
			ID: strconv.FormatInt(k.c.ID, 10), Key: strconv.Itoa(k.n), ToolName: orDefault(k.c.ToolName, "Unknown"),
			Command: k.c.Command, Output: k.c.Output, ExecutedAt: apiTime(k.c.ExecutedAt), CreatedAt: apiTime(k.c.CreatedAt),
		})
	}
	return out
}

// correlatedAlerts is the incident itself (strategy primary) followed by
// the incidents attached to it, oldest attachment first.
func correlatedAlerts(in *hub.Incident, attached []incidents.AttachedIncident) []auroraCorrelatedAlertJSON {
	out := make([]auroraCorrelatedAlertJSON, 0, 1+len(attached))
	out = append(out, auroraCorrelatedAlertJSON{
		ID: in.ID, SourceType: in.Provider, AlertTitle: in.Title, AlertService: serviceName(in),
		AlertSeverity: orDefault(in.Severity, "unknown"), CorrelationStrategy: "primary", CorrelationScore: 1,
		CorrelationDetails: map[string]any{}, ReceivedAt: apiTime(in.StartedAt),
	})
	for i := range attached {
		a := &attached[i]
		strategy, details := correlationOf(a.Parts, i+1)
		out = append(out, auroraCorrelatedAlertJSON{
			ID: a.ID, SourceType: a.Provider, AlertTitle: a.Title, AlertService: serviceName(&a.Incident),
			AlertSeverity: orDefault(a.Severity, "unknown"), CorrelationStrategy: strategy,
			CorrelationScore: math.Round(a.Score*1000) / 1000, CorrelationDetails: details, ReceivedAt: apiTime(a.AttachedAt),
		})
	}
	return out
}

// correlationOf turns a correlation's stored parts into Aurora's strategy
// and details: topology (same service, or dependency distance),
// time_window (time proximity) and similarity (title, or a shared
// deduplication key), each 0 to 1; the strategy is the strongest of them
// (manual for a user's merge). n is the alert's position among those
// attached.
func correlationOf(parts string, n int) (string, map[string]any) {
	var raw map[string]any
	if json.Unmarshal([]byte(parts), &raw) == nil {
		if from, ok := raw[incidents.MergedFromKey]; ok {
			return "manual", map[string]any{incidents.MergedFromKey: from}
		}
	}
	var p correlation.Parts
	_ = json.Unmarshal([]byte(parts), &p) // unknown parts score 0
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	topology := round(math.Max(p.SameService, p.Dependency))
	timeWindow := round(p.Time)
	similarity := round(math.Max(p.Title, p.SameKey))
	strategy, best := "topology", topology
	if timeWindow > best {
		strategy, best = "time_window", timeWindow
	}
	if similarity > best {
		strategy = "similarity"
	}
	return strategy, map[string]any{
		"topology": topology, "time_window": timeWindow, "similarity": similarity, "correlated_alert_count": n,
	}
}

// rawPayload is alert.rawPayload: pretty-printed, ASCII-escaped JSON, ""
// when the incident kept no event data. For PagerDuty it is the V3 body of
// the incident.triggered event (else the newest event with data), with the
// incident's custom fields merged in as Aurora does; for other providers
// the newest event's data.
func rawPayload(d *hub.IncidentDetail) string {
	var pick *hub.TimelineEntry
	for i := len(d.Timeline) - 1; i >= 0; i-- {
		e := &d.Timeline[i]
		if len(e.Data) == 0 || !json.Valid(e.Data) {
			continue
		}
		if pick == nil {
			pick = e
		}
		if d.Provider == "pagerduty" && e.Type == "incident.triggered" {
			pick = e
		}
	}
	if pick == nil {
		return ""
	}
	doc := []byte(pick.Data)
	if d.Provider == "pagerduty" {
		doc = pagerDutyBody(pick, d.CustomFields)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return ""
	}
	return asciiJSON(b.Bytes())
}

// pagerDutyBody rebuilds the V3 webhook body of a PagerDuty event from what
// the hub keeps: the envelope with the event's data object, custom fields
// as event.custom_fields {name: field} and event.data.customFields
// {name: value}.
func pagerDutyBody(e *hub.TimelineEntry, fields []hub.IncidentCustomField) []byte {
	type field struct {
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name"`
		Namespace string          `json:"namespace,omitempty"`
		DataType  string          `json:"data_type,omitempty"`
		FieldType string          `json:"field_type,omitempty"`
		Value     json.RawMessage `json:"value"`
	}
	type event struct {
		ID           string                     `json:"id,omitempty"`
		EventType    string                     `json:"event_type"`
		ResourceType string                     `json:"resource_type"`
		OccurredAt   string                     `json:"occurred_at"`
		Agent        *refJSON                   `json:"agent"`
		Data         json.RawMessage            `json:"data"`
		CustomFields map[string]field           `json:"custom_fields,omitempty"`
		values       map[string]json.RawMessage // merged into data
	}
	ev := event{ID: e.EventID, EventType: e.Type, ResourceType: "incident", OccurredAt: apiTime(e.OccurredAt),
		Agent: refOf(e.Agent), Data: json.RawMessage(e.Data)}
	if len(fields) > 0 {
		ev.CustomFields = map[string]field{}
		ev.values = map[string]json.RawMessage{}
		for _, f := range fields {
			if !json.Valid(f.ValueJSON) {
				continue
			}
			ev.CustomFields[f.Name] = field{ID: f.ID, Name: f.Name, Namespace: f.Namespace, DataType: f.DataType, FieldType: f.FieldType, Value: f.ValueJSON}
			ev.values[f.Name] = f.ValueJSON
		}
		if data, ok := withKey(ev.Data, "customFields", ev.values); ok {
			ev.Data = data
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"event": ev}); err != nil {
		return e.Data
	}
	return b.Bytes()
}

// withKey returns the JSON object obj with key set to v, keeping the order
// of obj's other keys; false when obj is not an object.
func withKey(obj json.RawMessage, key string, v any) (json.RawMessage, bool) {
	t := bytes.TrimSpace(obj)
	var m map[string]json.RawMessage
	if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m) != nil {
		return nil, false
	}
	val, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	if _, exists := m[key]; exists {
		m[key] = val
		out, err := json.Marshal(m)
		return out, err == nil
	}
	k, _ := json.Marshal(key)
	var b bytes.Buffer
	b.Write(t[:len(t)-1])
	if len(m) > 0 {
		b.WriteByte(',')
	}
	b.Write(k)
	b.WriteByte(':')
	b.Write(val)
	b.WriteByte('}')
	return b.Bytes(), true
}

// asciiJSON escapes every non-ASCII character of JSON text as \uXXXX, as
// Python's json.dumps does by default.
func asciiJSON(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out.String()
}

// auroraTime formats an optional time for Aurora (null when zero).
func auroraTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return apiTimePtr(&t)
}
