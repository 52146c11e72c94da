package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// Caps on what one enrichment gathers, per list.
const (
	maxAlerts        = 200
	maxLogEntries    = 200
	maxChangeEvents  = 100
	changeWindow     = time.Hour
	pastIncidentsMax = 20
)

// enrichment collects evidence and notes; a section that PagerDuty refuses
// (402 missing ability, 403, 404) becomes a note, while 401, 429 and an
// unreachable API stop the whole call.
type enrichment struct {
	ctx       context.Context
	out       sdk.Enrichment
	succeeded int
	failed    int
	lastErr   error
	services  map[string]bool
}

// Enrich implements sdk.Enricher: alerts, log entries, custom field values,
// the service's change events in the hour before the incident triggered, its
// dependencies, and related and past incidents; only the sections the
// request names, when it names any. The answer says which sections it
// covers and how many REST calls it made.
func (p *Provider) Enrich(ctx context.Context, req *sdk.EnrichRequest) (*sdk.Enrichment, error) {
	if req == nil || strings.TrimSpace(req.IncidentID) == "" {
		return nil, sdk.Errorf(sdk.CodeInvalid, "Incident id required")
	}
	if strings.TrimSpace(req.Credentials.Token) == "" {
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgTokenRequired}
	}
	c := p.client(req.Credentials)
	e := &enrichment{ctx: ctx, services: map[string]bool{}}
	incID := strings.TrimSpace(req.IncidentID)
	incPath := "/incidents/" + url.PathEscape(incID)
	serviceID := strings.TrimSpace(req.ServiceID)
	triggeredAt := req.TriggeredAt

	needsService := req.Wants(sdk.SectionChangeEvents) || req.Wants(sdk.SectionDependencies)
	if needsService && (serviceID == "" || triggeredAt.IsZero()) {
		var inc struct {
			Incident struct {
				Service   json.RawMessage `json:"service"`
				CreatedAt webhook.Time    `json:"created_at"`
			} `json:"incident"`
		}
		if err := e.section("incident", c.get(ctx, incPath, nil, &inc)); err != nil {
			return nil, err
		}
		if serviceID == "" {
			if r := parseRef(inc.Incident.Service); r != nil {
				serviceID = r.ID
			}
		}
		if triggeredAt.IsZero() {
			triggeredAt = inc.Incident.CreatedAt.T()
		}
	}

	steps := []struct {
		section string
		run     func() error
	}{
		{sdk.SectionAlerts, func() error { return e.alerts(c, incPath) }},
		{sdk.SectionLogEntries, func() error { return e.logEntries(c, incPath) }},
		{sdk.SectionCustomFields, func() error { return e.customFields(c, incPath) }},
		{sdk.SectionChangeEvents, func() error { return e.changeEvents(c, serviceID, triggeredAt) }},
		{sdk.SectionDependencies, func() error { return e.dependencies(c, serviceID) }},
		{sdk.SectionRelatedIncidents, func() error { return e.relatedIncidents(c, incPath) }},
		{sdk.SectionPastIncidents, func() error { return e.pastIncidents(c, incPath) }},
	}
	e.out.Sections = []string{}
	for _, step := range steps {
		if !req.Wants(step.section) {
			continue
		}
		if err := step.run(); err != nil {
			return nil, err
		}
		e.out.Sections = append(e.out.Sections, step.section)
	}
	e.out.APICalls = c.calls
	if e.succeeded == 0 && e.failed > 0 {
		// Nothing could be read and PagerDuty was failing: let the job retry.
		return nil, toSDKError(ctx, e.lastErr, mapping{})
	}
	p.log.Info("incident enriched", "incident_id", incID, "evidence", len(e.out.Evidence),
		"notes", len(e.out.Notes), "related_services", len(e.out.RelatedServices))
	return &e.out, nil
}

// section classifies the outcome of one read. It returns an error only when
// the whole enrichment must stop (401, 429, unreachable, cancelled).
func (e *enrichment) section(what string, err error) error {
	if err == nil {
		e.succeeded++
		return nil
	}
	if e.ctx.Err() != nil {
		return e.ctx.Err()
	}
	ae, ok := asAPIError(err)
	if !ok {
		return toSDKError(e.ctx, err, mapping{})
	}
	switch {
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusTooManyRequests:
		return toSDKError(e.ctx, err, mapping{})
	case ae.Status == http.StatusPaymentRequired || ae.Code == 2014:
		e.note("%s unavailable: the PagerDuty account lacks the ability for it (HTTP %d)", what, ae.Status)
	case ae.Status == http.StatusForbidden:
		e.note("%s unavailable: the credentials lack permission or scope (HTTP 403)", what)
	case ae.Status == http.StatusNotFound:
		e.note("%s not found (HTTP 404)", what)
	default:
		e.failed++
		e.lastErr = err
		e.note("%s could not be read: PagerDuty answered HTTP %d", what, ae.Status)
	}
	return nil
}

func (e *enrichment) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	e.out.Notes = append(e.out.Notes, strings.ToUpper(s[:1])+s[1:])
}

func (e *enrichment) add(ev sdk.Evidence) { e.out.Evidence = append(e.out.Evidence, ev) }

func (e *enrichment) relatedService(r *sdk.Reference) {
	if r == nil || r.ID == "" || e.services[r.ID] {
		return
	}
	e.services[r.ID] = true
	e.out.RelatedServices = append(e.out.RelatedServices, *r)
}

func (e *enrichment) truncated(what string, n int) {
	e.note("%s truncated to the first %d", what, n)
}

// item is the common shape of the objects evidence is made of.
type item struct {
	ID        webhook.String  `json:"id"`
	Summary   webhook.String  `json:"summary"`
	Title     webhook.String  `json:"title"`
	CreatedAt webhook.Time    `json:"created_at"`
	Timestamp webhook.Time    `json:"timestamp"`
	AlertKey  webhook.String  `json:"alert_key"`
	Service   json.RawMessage `json:"service"`
	Services  webhook.Array   `json:"services"`
}

func decodeItem(raw []byte) item {
	var it item
	if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] == '{' {
		_ = json.Unmarshal(b, &it)
	}
	return it
}

func (e *enrichment) alerts(c *client, incPath string) error {
	items, trunc, err := c.list(e.ctx, incPath+"/alerts", nil, "alerts", maxAlerts)
	for _, raw := range items {
		it := decodeItem(raw)
		e.add(sdk.Evidence{
			Kind: sdk.EvidenceAlert, ID: string(it.ID), Summary: string(it.Summary), At: it.CreatedAt.T(),
			Data: raw, DedupKey: string(it.AlertKey), Service: parseRef(it.Service),
		})
	}
	if trunc {
		e.truncated("alerts", maxAlerts)
	}
	return e.section("alerts", err)
}

func (e *enrichment) logEntries(c *client, incPath string) error {
	items, trunc, err := c.list(e.ctx, incPath+"/log_entries", nil, "log_entries", maxLogEntries)
	for _, raw := range items {
		it := decodeItem(raw)
		e.add(sdk.Evidence{
			Kind: sdk.EvidenceLogEntry, ID: string(it.ID), Summary: string(it.Summary), At: it.CreatedAt.T(),
			Data: raw, Service: parseRef(it.Service),
		})
	}
	if trunc {
		e.truncated("log entries", maxLogEntries)
	}
	return e.section("log entries", err)
}

func (e *enrichment) customFields(c *client, incPath string) error {
	var out struct {
		CustomFields webhook.Array `json:"custom_fields"`
	}
	err := c.get(e.ctx, incPath+"/custom_fields/values", nil, &out)
	for _, raw := range out.CustomFields {
		var f struct {
			ID          webhook.String  `json:"id"`
			Name        webhook.String  `json:"name"`
			DisplayName webhook.String  `json:"display_name"`
			Value       json.RawMessage `json:"value"`
		}
		if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &f) != nil {
			continue
		}
		name := string(f.DisplayName)
		if name == "" {
			name = string(f.Name)
		}
		v := bytes.TrimSpace(f.Value)
		if len(v) == 0 {
			v = []byte("null")
		}
		e.add(sdk.Evidence{Kind: sdk.EvidenceCustomField, ID: string(f.ID), Summary: name + ": " + snippet(string(v)), Data: raw})
	}
	return e.section("custom field values", err)
}

func (e *enrichment) changeEvents(c *client, serviceID string, triggeredAt time.Time) error {
	if serviceID == "" {
		e.note("change events skipped: the incident's service is unknown")
		return nil
	}
	until := triggeredAt
	if until.IsZero() {
		until = time.Now()
	}
	q := url.Values{
		"since": {until.Add(-changeWindow).UTC().Format(time.RFC3339)},
		"until": {until.UTC().Format(time.RFC3339)},
	}
	items, trunc, err := c.list(e.ctx, "/services/"+url.PathEscape(serviceID)+"/change_events", q, "change_events", maxChangeEvents)
	for _, raw := range items {
		it := decodeItem(raw)
		svc := parseRef(it.Service)
		if svc == nil && len(it.Services) > 0 {
			svc = parseRef(it.Services[0])
		}
		if svc == nil {
			svc = &sdk.Reference{ID: serviceID, Type: "service_reference"}
		}
		at := it.Timestamp.T()
		if at.IsZero() {
			at = it.CreatedAt.T()
		}
		e.add(sdk.Evidence{Kind: sdk.EvidenceChangeEvent, ID: string(it.ID), Summary: string(it.Summary), At: at, Data: raw, Service: svc})
	}
	if trunc {
		e.truncated("change events", maxChangeEvents)
	}
	return e.section("change events", err)
}

func (e *enrichment) dependencies(c *client, serviceID string) error {
	if serviceID == "" {
		e.note("service dependencies skipped: the incident's service is unknown")
		return nil
	}
	var out struct {
		Relationships webhook.Array `json:"relationships"`
	}
	err := c.get(e.ctx, "/service_dependencies/technical_services/"+url.PathEscape(serviceID), nil, &out)
	for _, raw := range out.Relationships {
		var rel struct {
			ID         webhook.String  `json:"id"`
			Supporting json.RawMessage `json:"supporting_service"`
			Dependent  json.RawMessage `json:"dependent_service"`
		}
		if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &rel) != nil {
			continue
		}
		sup, dep := parseRef(rel.Supporting), parseRef(rel.Dependent)
		var other *sdk.Reference
		var summary string
		switch {
		case sup != nil && sup.ID != serviceID:
			other, summary = sup, "depends on "+refName(sup)
		case dep != nil && dep.ID != serviceID:
			other, summary = dep, refName(dep)+" depends on this service"
		default:
			continue
		}
		e.add(sdk.Evidence{Kind: sdk.EvidenceDependency, ID: string(rel.ID), Summary: summary, Data: raw, Service: other})
		e.relatedService(other)
	}
	return e.section("service dependencies", err)
}

func refName(r *sdk.Reference) string {
	if r.Summary != "" {
		return r.Summary
	}
	return r.ID
}

func (e *enrichment) relatedIncidents(c *client, incPath string) error {
	var out struct {
		Related webhook.Array `json:"related_incidents"`
	}
	err := c.get(e.ctx, incPath+"/related_incidents", nil, &out)
	for _, raw := range out.Related {
		e.incidentEvidence(sdk.EvidenceRelatedIncident, raw)
	}
	return e.section("related incidents", err)
}

func (e *enrichment) pastIncidents(c *client, incPath string) error {
	var out struct {
		Past webhook.Array `json:"past_incidents"`
	}
	err := c.get(e.ctx, incPath+"/past_incidents", url.Values{"limit": {fmt.Sprint(pastIncidentsMax)}}, &out)
	for _, raw := range out.Past {
		e.incidentEvidence(sdk.EvidencePastIncident, raw)
	}
	return e.section("past incidents", err)
}

// incidentEvidence turns {"incident": {...}, ...} into evidence.
func (e *enrichment) incidentEvidence(kind string, raw []byte) {
	var wrap struct {
		Incident json.RawMessage `json:"incident"`
	}
	if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &wrap) != nil {
		return
	}
	it := decodeItem(wrap.Incident)
	if it.ID == "" {
		return
	}
	summary := string(it.Title)
	if summary == "" {
		summary = string(it.Summary)
	}
	e.add(sdk.Evidence{Kind: kind, ID: string(it.ID), Summary: summary, At: it.CreatedAt.T(), Data: raw, Service: parseRef(it.Service)})
}
