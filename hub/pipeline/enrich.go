package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// How much an incident's enrichment reads (protocol 1.2 sections).
var (
	// lightSections are read for an incident that joined an open one
	// before enrichment: its own alerts, one call.
	lightSections = []string{sdk.SectionAlerts}
	// serviceSections are the same for every incident of a service at one
	// time: read once per service and HUB_ENRICH_SERVICE_WINDOW.
	serviceSections = []string{sdk.SectionChangeEvents, sdk.SectionDependencies}
	// incidentSections are the rest of a full enrichment.
	incidentSections = []string{sdk.SectionAlerts, sdk.SectionLogEntries, sdk.SectionCustomFields,
		sdk.SectionRelatedIncidents, sdk.SectionPastIncidents}
)

// fullEnrichCalls estimates the calls of an enrichment that names no
// sections (or a plugin before 1.2): one per section.
const fullEnrichCalls = 7

// maxPacingWait is the longest a job waits for the API call budget while
// holding a worker; a longer wait snoozes the job instead.
const maxPacingWait = 5 * time.Second

// snoozeError postpones the job: the credential's API budget is spent.
type snoozeError struct{ after time.Duration }

func (e *snoozeError) Error() string {
	return fmt.Sprintf("the API call budget is spent for %s", e.after)
}

// enricher makes an incident's enrichment calls to one plugin with one
// connection's credentials, paced by the connection's budget.
type enricher struct {
	w     *ProcessIncidentWorker
	p     *pluginhost.Plugin
	inc   *incidents.Facts
	conn  *hub.Connection
	creds sdk.Credentials
}

func (e *enricher) budgetKey() string { return budgetKey(e.inc.Provider, e.conn.ID) }

// budgetKey names a connection's API call budget.
func budgetKey(provider, connectionID string) string {
	return "enrich:" + provider + ":" + connectionID
}

// call asks the plugin for sections (nil: all), as of until, after waiting
// for the budget; calls beyond the estimate are charged after.
func (e *enricher) call(ctx context.Context, sections []string, until time.Time) (*sdk.Enrichment, error) {
	estimate := len(sections)
	if estimate == 0 {
		estimate = fullEnrichCalls
	}
	if e.inc.ServiceID == "" && (len(sections) == 0 || contains(sections, sdk.SectionChangeEvents) || contains(sections, sdk.SectionDependencies)) {
		estimate++ // the plugin reads the incident to learn its service
	}
	later, err := e.w.Limiter.Wait(ctx, e.budgetKey(), estimate, maxPacingWait)
	if err != nil {
		return nil, err
	}
	if later > 0 {
		return nil, &snoozeError{after: later}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := e.p.Client.Enrich(cctx, &sdk.EnrichRequest{
		Credentials: e.creds, IncidentID: e.inc.ExternalID, ServiceID: e.inc.ServiceID, TriggeredAt: until, Sections: sections,
	})
	if err != nil {
		return nil, err
	}
	if res.APICalls > estimate {
		if err := e.w.Limiter.Charge(ctx, e.budgetKey(), res.APICalls-estimate); err != nil {
			e.w.Logger.Warn("charging the API call budget", "error", err)
		}
	}
	return res, nil
}

// light reads only the incident's own alerts.
func (e *enricher) light(ctx context.Context) (*sdk.Enrichment, error) {
	return e.call(ctx, lightSections, e.inc.StartedAt)
}

// full reads everything, taking the service-level part from the hub's
// store when another incident of the service read it recently enough.
func (e *enricher) full(ctx context.Context) (*sdk.Enrichment, error) {
	window := e.w.Config.EnrichServiceWindow
	if e.inc.ServiceID == "" || window <= 0 {
		return e.call(ctx, nil, e.inc.StartedAt)
	}
	svc, err := e.serviceLevel(ctx, window)
	if err != nil || svc == nil { // nil: the plugin answered everything at once
		return svc, err
	}
	if !covers(svc.Sections, serviceSections) {
		return svc, nil // a plugin before 1.2 gathered everything
	}
	res, err := e.call(ctx, incidentSections, e.inc.StartedAt)
	if err != nil {
		return nil, err
	}
	res.Notes = append(res.Notes, svc.Notes...)
	res.RelatedServices = append(res.RelatedServices, svc.RelatedServices...)
	for _, ev := range svc.Evidence {
		// Read up to later than this incident triggered: keep what it could have caused.
		if ev.Kind == sdk.EvidenceChangeEvent && !ev.At.IsZero() && ev.At.After(e.inc.StartedAt) {
			continue
		}
		res.Evidence = append(res.Evidence, ev)
	}
	return res, nil
}

// serviceLevel returns the service's change events and dependencies: the
// stored ones when they were read up to no earlier than the incident
// triggered and no later than the window after, else read now (up to now,
// when that is within the window of the trigger) and stored for the
// service's other incidents.
func (e *enricher) serviceLevel(ctx context.Context, window time.Duration) (*sdk.Enrichment, error) {
	cached, err := store.FreshServiceEvidence(ctx, e.w.Store.Bun(), e.conn.ID, e.inc.ServiceID, e.inc.StartedAt, window)
	if err != nil {
		return nil, err
	}
	if cached != nil {
		out := &sdk.Enrichment{Sections: serviceSections}
		if json.Unmarshal([]byte(cached.Evidence), &out.Evidence) == nil &&
			json.Unmarshal([]byte(cached.Notes), &out.Notes) == nil &&
			json.Unmarshal([]byte(cached.RelatedServices), &out.RelatedServices) == nil {
			e.w.Logger.Debug("service evidence reused", "incident", e.inc.ID, "service", e.inc.ServiceID)
			return out, nil
		}
		e.w.Logger.Warn("unreadable stored service evidence, reading it again", "service", e.inc.ServiceID)
	}
	until := time.Now().UTC()
	if until.Before(e.inc.StartedAt) || until.Sub(e.inc.StartedAt) > window {
		until = e.inc.StartedAt
	}
	res, err := e.call(ctx, serviceSections, until)
	if err != nil || !covers(res.Sections, serviceSections) {
		return res, err
	}
	err = store.SaveServiceEvidence(ctx, e.w.Store.Bun(), &store.ServiceEvidence{
		ConnectionID: e.conn.ID, ServiceID: e.inc.ServiceID, GatheredUntil: until, GatheredAt: time.Now(),
		Evidence: mustJSON(nonNil(res.Evidence)), Notes: mustJSON(nonNil(res.Notes)), RelatedServices: mustJSON(nonNil(res.RelatedServices)),
	})
	if err != nil {
		// The incident's enrichment does not depend on sharing it.
		e.w.Logger.Warn("storing service evidence", "service", e.inc.ServiceID, "error", err)
	}
	return res, nil
}

// covers reports whether got names every section of want.
func covers(got, want []string) bool {
	for _, w := range want {
		if !contains(got, w) {
			return false
		}
	}
	return true
}
