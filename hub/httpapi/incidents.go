package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"
)

// incidentJSON is the contract's incident object, plus the provider's own
// status, urgency, priority and number.
type incidentJSON struct {
	ID                   string    `json:"id"`
	SourceType           string    `json:"sourceType"`
	SourceAlertID        string    `json:"sourceAlertId"`
	Status               string    `json:"status"`
	Severity             string    `json:"severity"`
	Alert                alertJSON `json:"alert"`
	AuroraStatus         string    `json:"auroraStatus"`
	Summary              *string   `json:"summary"`
	StartedAt            string    `json:"startedAt"`
	AnalyzedAt           *string   `json:"analyzedAt"`
	ResolvedAt           *string   `json:"resolvedAt"`
	AlertFiredAt         string    `json:"alertFiredAt"`
	CorrelatedAlertCount int       `json:"correlatedAlertCount"`
	AffectedServices     []string  `json:"affectedServices"`
	ParentIncidentID     *string   `json:"parentIncidentId"`
	ProviderStatus       *string   `json:"providerStatus"`
	Urgency              *string   `json:"urgency"`
	Priority             *string   `json:"priority"`
	IncidentNumber       *int64    `json:"incidentNumber"`
	UpdatedAt            string    `json:"updatedAt"`
}

type alertJSON struct {
	Title     string            `json:"title"`
	Service   string            `json:"service"`
	Source    string            `json:"source"`
	SourceURL string            `json:"sourceUrl"`
	Metadata  alertMetadataJSON `json:"metadata"`
}

// alertMetadataJSON is alert.metadata: the provider's fields that are set,
// in the alphabetical order encoding/json gave the map it replaces (a
// struct encodes without sorting keys or boxing values).
type alertMetadataJSON struct {
	EscalationPolicy string `json:"escalationPolicy,omitempty"`
	IncidentKey      string `json:"incidentKey,omitempty"`
	IncidentNumber   int64  `json:"incidentNumber,omitempty"`
	Priority         string `json:"priority,omitempty"`
	ProviderStatus   string `json:"providerStatus,omitempty"`
	ServiceID        string `json:"serviceId,omitempty"`
	Urgency          string `json:"urgency,omitempty"`
}

// incidentDetailJSON is GET /incidents/:id: the incident with its timeline,
// custom fields and the provider's details.
type incidentDetailJSON struct {
	incidentJSON
	Timeline         []timelineJSON             `json:"timeline"`
	CustomFields     map[string]customFieldJSON `json:"customFields"`
	Assignees        []refJSON                  `json:"assignees"`
	Teams            []refJSON                  `json:"teams"`
	EscalationPolicy *refJSON                   `json:"escalationPolicy"`
	IncidentKey      *string                    `json:"incidentKey"`
	ResolveReason    *string                    `json:"resolveReason"`
	Links            []linkJSON                 `json:"links"`
}

type timelineJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	OccurredAt string          `json:"occurredAt"`
	Agent      *refJSON        `json:"agent"`
	Data       json.RawMessage `json:"data"`
}

type customFieldJSON struct {
	Value     json.RawMessage `json:"value"`
	ID        string          `json:"id"`
	DataType  string          `json:"dataType"`
	FieldType string          `json:"fieldType"`
}

type refJSON struct {
	ID      string `json:"id"`
	Type    string `json:"type,omitempty"`
	Summary string `json:"summary,omitempty"`
	HTMLURL string `json:"htmlUrl,omitempty"`
}

type linkJSON struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

// apiTime formats a time for the API: RFC 3339 in UTC, to the millisecond.
func apiTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

func apiTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := apiTime(*t)
	return &s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func refOf(r *hub.Reference) *refJSON {
	if r == nil {
		return nil
	}
	return &refJSON{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: hub.SafeURL(r.HTMLURL)}
}

func refsOf(rs []hub.Reference) []refJSON {
	out := make([]refJSON, 0, len(rs))
	for i := range rs {
		out = append(out, *refOf(&rs[i]))
	}
	return out
}

func incidentToJSON(in *hub.Incident) incidentJSON {
	j := incidentJSON{
		ID: in.ID, SourceType: in.Provider, SourceAlertID: in.ExternalID, Status: in.Status, Severity: in.Severity,
		AuroraStatus: in.AuroraStatus, Summary: in.Summary,
		StartedAt: apiTime(in.StartedAt), AnalyzedAt: apiTimePtr(in.AnalyzedAt), ResolvedAt: apiTimePtr(in.ResolvedAt),
		AlertFiredAt: apiTime(in.AlertFiredAt), CorrelatedAlertCount: in.CorrelatedAlertCount,
		AffectedServices: in.AffectedServices, ParentIncidentID: in.ParentIncidentID,
		ProviderStatus: nonEmpty(in.ProviderStatus), Urgency: nonEmpty(in.Urgency), Priority: nonEmpty(in.Priority),
		UpdatedAt: apiTime(in.UpdatedAt),
	}
	if j.AffectedServices == nil {
		j.AffectedServices = []string{}
	}
	if in.Number != 0 {
		n := in.Number
		j.IncidentNumber = &n
	}
	md := alertMetadataJSON{
		IncidentKey: in.IncidentKey, IncidentNumber: in.Number, Priority: in.Priority,
		ProviderStatus: in.ProviderStatus, Urgency: in.Urgency,
	}
	service := ""
	if in.Service != nil {
		service, md.ServiceID = in.Service.Summary, in.Service.ID
	}
	if in.EscalationPolicy != nil {
		md.EscalationPolicy = in.EscalationPolicy.Summary
	}
	j.Alert = alertJSON{Title: in.Title, Service: service, Source: in.Provider, SourceURL: hub.SafeURL(in.HTMLURL), Metadata: md}
	return j
}

func incidentDetailToJSON(d *hub.IncidentDetail) incidentDetailJSON {
	j := incidentDetailJSON{
		incidentJSON:     incidentToJSON(&d.Incident),
		Timeline:         make([]timelineJSON, 0, len(d.Timeline)),
		CustomFields:     make(map[string]customFieldJSON, len(d.CustomFields)),
		Assignees:        refsOf(d.Assignees),
		Teams:            refsOf(d.Teams),
		EscalationPolicy: refOf(d.EscalationPolicy),
		IncidentKey:      nonEmpty(d.IncidentKey),
		ResolveReason:    nonEmpty(d.ResolveReason),
		Links:            []linkJSON{},
	}
	for _, e := range d.Timeline {
		t := timelineJSON{ID: e.EventID, Type: e.Type, OccurredAt: apiTime(e.OccurredAt), Agent: refOf(e.Agent)}
		if json.Valid(e.Data) {
			t.Data = e.Data
		}
		j.Timeline = append(j.Timeline, t)
	}
	for _, f := range d.CustomFields {
		cf := customFieldJSON{Value: json.RawMessage("null"), ID: f.ID, DataType: f.DataType, FieldType: f.FieldType}
		if json.Valid(f.ValueJSON) {
			cf.Value = f.ValueJSON
		}
		j.CustomFields[f.Name] = cf
	}
	if href := hub.SafeURL(d.HTMLURL); href != "" {
		j.Links = append(j.Links, linkJSON{Rel: "provider", Href: href})
	}
	if d.Service != nil {
		if href := hub.SafeURL(d.Service.HTMLURL); href != "" {
			j.Links = append(j.Links, linkJSON{Rel: "service", Href: href})
		}
	}
	return j
}

// parseQueryTime reads an RFC 3339 time (or a bare date, midnight UTC).
func parseQueryTime(name, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, hub.Errorf(hub.EInvalid, "Invalid %s: use an RFC 3339 time such as 2026-03-03T10:00:00Z", name)
}

// parseFilter reads the list filters shared by GET /incidents and GET
// /api/incidents: status, severity, source, service, since, until, limit
// (default def), cursor, includeCorrelated.
func parseFilter(c *fiber.Ctx, def int) (incidents.Filter, error) {
	f := incidents.Filter{
		Status: c.Query("status"), Severity: c.Query("severity"), Source: c.Query("source"),
		Service: c.Query("service"), Cursor: strings.TrimSpace(c.Query("cursor")),
		IncludeCorrelated: c.QueryBool("includeCorrelated"), Limit: def,
	}
	var err error
	if f.Since, err = parseQueryTime("since", c.Query("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseQueryTime("until", c.Query("until")); err != nil {
		return f, err
	}
	if v := strings.TrimSpace(c.Query("limit")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > incidents.MaxLimit {
			return f, hub.Errorf(hub.EInvalid, "Invalid limit: must be an integer between 1 and %d", incidents.MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// listIncidents serves GET /incidents?status=&severity=&source=&service=
// &since=&until=&limit=&cursor=.
func (s *Server) listIncidents(c *fiber.Ctx) error {
	f, err := parseFilter(c, 0)
	if err != nil {
		return err
	}
	items, next, err := incidents.List(c.UserContext(), s.store.Reads(), owner(c), f)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { writeIncidentPage(w, items, next) })
	return nil
}

// writeIncidentPage writes {"incidents": [...], "nextCursor": ...} as
// c.JSON would, one incident at a time: a page of 500 encoded whole was
// 1.4 MB in one buffer, grown by doubling, and listing a storm's incidents
// page by page held 3 to 4 MB of the hub's peak memory
// (docs/performance-history.md, round 20). Nothing in an incident can fail
// to encode; a write error is the client gone.
func writeIncidentPage(w *bufio.Writer, items []hub.Incident, next string) {
	w.WriteString(`{"incidents":[`)
	for i := range items {
		if i > 0 {
			w.WriteByte(',')
		}
		b, err := marshalJSON(incidentToJSON(&items[i]))
		if err != nil {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	w.WriteString(`],"nextCursor":`)
	b, _ := marshalJSON(nonEmpty(next))
	w.Write(b)
	w.WriteByte('}')
}

// getIncident serves GET /incidents/:id.
func (s *Server) getIncident(c *fiber.Ctx) error {
	var d *hub.IncidentDetail
	var a *analysisJSON
	err := s.store.ReadTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		var err error
		if d, err = incidents.Get(ctx, tx, owner(c), c.Params("id")); err != nil {
			return err
		}
		a, err = incidentAnalysis(ctx, tx, d.ID)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(struct {
		incidentDetailJSON
		*analysisJSON
	}{incidentDetailToJSON(d), a})
}
