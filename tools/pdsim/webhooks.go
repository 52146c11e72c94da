package pdsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type subscription struct {
	WebhookSubscription
	deliveryMethodID string
	drops            int
	disabledUntil    time.Time
}

type queuedEvent struct{ ev Event }

// dropsBeforeDisable is how many consecutive dropped webhooks temporarily
// disable a subscription (for 24 h, or until POST .../enable).
const dropsBeforeDisable = 3

// ---- seeding and inspection ------------------------------------------------

// AddWebhookSubscription adds or replaces a subscription without going
// through the API (see WebhookSubscription for defaults) and returns it with
// its id and secret(s).
func (s *Sim) AddWebhookSubscription(ws WebhookSubscription) WebhookSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addSubLocked(ws).snapshot(s.now())
}

func (s *Sim) addSubLocked(ws WebhookSubscription) *subscription {
	ws.ID = orNewID(ws.ID)
	if ws.FilterType == "" {
		ws.FilterType = "account_reference"
	}
	if len(ws.Secrets) == 0 {
		ws.Secrets = []string{newSecret(64)}
	}
	ws.Secrets = copyStrings(ws.Secrets)
	ws.Events = copyStrings(ws.Events)
	ws.CustomHeaders = append([]Header(nil), ws.CustomHeaders...)
	sub := &subscription{WebhookSubscription: ws, deliveryMethodID: newPDID()}
	s.subs.put(ws.ID, sub)
	return sub
}

// subLocked returns the subscription with id, or an error naming it.
func (s *Sim) subLocked(id string) (*subscription, error) {
	if sub := s.subs.byID[id]; sub != nil {
		return sub, nil
	}
	return nil, fmt.Errorf("pdsim: no webhook subscription %q", id)
}

func (sub *subscription) snapshot(now time.Time) WebhookSubscription {
	ws := sub.WebhookSubscription
	ws.Events = copyStrings(ws.Events)
	ws.Secrets = copyStrings(ws.Secrets)
	ws.CustomHeaders = append([]Header(nil), ws.CustomHeaders...)
	ws.TemporarilyDisabled = now.Before(sub.disabledUntil)
	return ws
}

// WebhookSubscriptions returns the subscriptions, secrets included.
func (s *Sim) WebhookSubscriptions() []WebhookSubscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []WebhookSubscription{}
	for sub := range s.subs.all() {
		out = append(out, sub.snapshot(s.now()))
	}
	return out
}

// SetWebhookSecrets replaces a subscription's signing secrets; with several,
// each delivery carries one v1= signature per secret (as during rotation).
func (s *Sim) SetWebhookSecrets(subscriptionID string, secrets ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subLocked(subscriptionID)
	if err != nil {
		return err
	}
	sub.Secrets = copyStrings(secrets)
	return nil
}

// RotateWebhookSecret adds a new secret to a subscription (the old ones stay
// until SetWebhookSecrets drops them) and returns it.
func (s *Sim) RotateWebhookSecret(subscriptionID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subLocked(subscriptionID)
	if err != nil {
		return "", err
	}
	secret := newSecret(64)
	sub.Secrets = append(sub.Secrets, secret)
	return secret, nil
}

// Deliveries returns a copy of every webhook sent (or skipped), oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		c := *d
		c.Body = append([]byte(nil), d.Body...)
		c.Header = d.Header.Clone()
		c.Attempts = append([]DeliveryAttempt(nil), d.Attempts...)
		out[i] = c
	}
	return out
}

// ResetDeliveries forgets the recorded deliveries.
func (s *Sim) ResetDeliveries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries = nil
}

// WaitWebhooks blocks until the webhooks queued by API calls (incident
// changes, pings) have been delivered or dropped, or ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.pending == 0 {
			s.mu.Unlock()
			return nil
		}
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		ch := s.idle
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ---- REST handlers ---------------------------------------------------------

func (s *Sim) renderSub(sub *subscription, withSecret bool) map[string]any {
	headers := []map[string]any{}
	for _, h := range sub.CustomHeaders {
		headers = append(headers, map[string]any{"name": h.Name, "value": "-- redacted --"})
	}
	var secret any
	if withSecret && len(sub.Secrets) > 0 {
		secret = sub.Secrets[len(sub.Secrets)-1]
	}
	filter := map[string]any{"type": sub.FilterType}
	if sub.FilterID != "" {
		filter["id"] = sub.FilterID
	}
	return map[string]any{
		"id": sub.ID, "type": "webhook_subscription", "active": !sub.Inactive,
		"delivery_method": map[string]any{
			"id": sub.deliveryMethodID, "type": "http_delivery_method", "url": sub.URL, "secret": secret,
			"temporarily_disabled": s.now().Before(sub.disabledUntil), "custom_headers": headers,
		},
		"description": sub.Description, "events": copyStrings(sub.Events), "filter": filter,
	}
}

func (s *Sim) listSubscriptions(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	ft, fid := c.q("filter_type"), c.q("filter_id")
	if ft != "" && ft != "account" && ft != "service" && ft != "team" {
		writeInvalid(c.w, "filter_type must be one of account, service or team.")
		return
	}
	list := s.subs.list(func(sub *subscription) bool {
		return (ft == "" || sub.FilterType == ft+"_reference") && (fid == "" || sub.FilterID == fid)
	})
	writeJSON(c.w, http.StatusOK, envelope("webhook_subscriptions", list, p, s.renderSubPublic))
}

// renderSubPublic renders a subscription as every answer but creation's
// does: without its secret.
func (s *Sim) renderSubPublic(sub *subscription) map[string]any { return s.renderSub(sub, false) }

func (s *Sim) getSubscription(c *reqCtx) {
	writeItem(c, "webhook_subscription", s.subs.byID[c.param(0)], s.renderSubPublic)
}

// parseSubscription validates a webhook_subscription object; partial is
// used by PUT (only given fields are checked and required).
func (s *Sim) parseSubscription(body []byte, partial bool) (WebhookSubscription, map[string]bool, []string) {
	var ws WebhookSubscription
	given := map[string]bool{}
	root, ok := decodeObject(body)
	if !ok {
		return ws, given, []string{"The request body must be a JSON object."}
	}
	m, ok := obj(root, "webhook_subscription")
	if !ok {
		return ws, given, []string{"webhook_subscription is required and must be an object."}
	}
	var errs []string
	if t, has := m["type"]; has || !partial {
		if t != "webhook_subscription" {
			errs = append(errs, `type must be "webhook_subscription".`)
		}
	}
	if raw, has := m["delivery_method"]; has || !partial {
		given["delivery_method"] = true
		dm, ok := raw.(map[string]any)
		if !ok {
			errs = append(errs, "delivery_method is required and must be an object.")
		} else {
			if t, _ := str(dm, "type"); t != "http_delivery_method" && !(partial && dm["type"] == nil) {
				errs = append(errs, `delivery_method.type must be "http_delivery_method".`)
			}
			u, _ := str(dm, "url")
			if _, has := dm["url"]; has || !partial {
				pu, err := url.Parse(u)
				switch {
				case u == "" || err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https"):
					errs = append(errs, "delivery_method.url must be a valid absolute URL.")
				case s.opts.RequireHTTPSWebhooks && pu.Scheme != "https":
					errs = append(errs, "delivery_method.url must use HTTPS.")
				}
				ws.URL = u
				given["url"] = true
			}
			if raw, has := dm["custom_headers"]; has && raw != nil {
				given["custom_headers"] = true
				list, ok := raw.([]any)
				if !ok {
					errs = append(errs, "delivery_method.custom_headers must be an array.")
				}
				for _, item := range list {
					h, _ := item.(map[string]any)
					name, _ := str(h, "name")
					value, _ := str(h, "value")
					if name == "" {
						errs = append(errs, "Each custom header needs a name and a value.")
						continue
					}
					ws.CustomHeaders = append(ws.CustomHeaders, Header{Name: name, Value: value})
				}
			}
		}
	}
	if raw, has := m["events"]; has || !partial {
		given["events"] = true
		list, ok := raw.([]any)
		if !ok || len(list) == 0 {
			errs = append(errs, "events must be a non-empty array of event types.")
		}
		for _, item := range list {
			ev, _ := item.(string)
			switch {
			case !contains(EventTypes, ev):
				errs = append(errs, fmt.Sprintf("events contains an unknown event type %q.", ev))
			case contains(ws.Events, ev):
				errs = append(errs, fmt.Sprintf("events contains %q more than once.", ev))
			default:
				ws.Events = append(ws.Events, ev)
			}
		}
	}
	if raw, has := m["filter"]; has || !partial {
		given["filter"] = true
		f, ok := raw.(map[string]any)
		if !ok {
			errs = append(errs, "filter is required and must be an object.")
		} else {
			ws.FilterType, _ = str(f, "type")
			ws.FilterID, _ = str(f, "id")
			switch ws.FilterType {
			case "account_reference":
			case "service_reference":
				if ws.FilterID == "" {
					errs = append(errs, "filter.id is required for service_reference filters.")
				} else if s.services.byID[ws.FilterID] == nil {
					errs = append(errs, "filter.id does not name an existing service.")
				}
			case "team_reference":
				if ws.FilterID == "" {
					errs = append(errs, "filter.id is required for team_reference filters.")
				} else if s.teams.byID[ws.FilterID] == nil {
					errs = append(errs, "filter.id does not name an existing team.")
				}
			default:
				errs = append(errs, "filter.type must be one of account_reference, service_reference or team_reference.")
			}
		}
	}
	if raw, has := m["description"]; has {
		given["description"] = true
		d, ok := raw.(string)
		if !ok && raw != nil {
			errs = append(errs, "description must be a string.")
		}
		ws.Description = d
	}
	if raw, has := m["active"]; has {
		given["active"] = true
		a, ok := raw.(bool)
		if !ok {
			errs = append(errs, "active must be a boolean.")
		}
		ws.Inactive = !a
	}
	return ws, given, errs
}

func (s *Sim) createSubscription(c *reqCtx) {
	ws, _, errs := s.parseSubscription(c.body, false)
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	ws.Secrets = nil
	sub := s.addSubLocked(ws)
	// The secret is shown here, and never again.
	writeJSON(c.w, http.StatusOK, map[string]any{"webhook_subscription": s.renderSub(sub, true)})
}

func (s *Sim) updateSubscription(c *reqCtx) {
	sub := s.subs.byID[c.param(0)]
	if !found(c, sub) {
		return
	}
	ws, given, errs := s.parseSubscription(c.body, true)
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	if given["url"] {
		sub.URL = ws.URL
	}
	if given["custom_headers"] {
		sub.CustomHeaders = ws.CustomHeaders
	}
	if given["events"] {
		sub.Events = ws.Events
	}
	if given["filter"] {
		sub.FilterType, sub.FilterID = ws.FilterType, ws.FilterID
	}
	if given["description"] {
		sub.Description = ws.Description
	}
	if given["active"] {
		sub.Inactive = ws.Inactive
	}
	writeItem(c, "webhook_subscription", sub, s.renderSubPublic)
}

func (s *Sim) deleteSubscription(c *reqCtx) {
	if !s.subs.remove(c.param(0)) {
		writeNotFound(c.w)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) pingSubscription(c *reqCtx) {
	sub := s.subs.byID[c.param(0)]
	if !found(c, sub) {
		return
	}
	s.enqueueLocked(sub.ID, PingEvent().At(s.now()))
	c.w.WriteHeader(http.StatusAccepted)
}

func (s *Sim) enableSubscription(c *reqCtx) {
	sub := s.subs.byID[c.param(0)]
	if !found(c, sub) {
		return
	}
	sub.disabledUntil, sub.drops = time.Time{}, 0
	writeItem(c, "webhook_subscription", sub, s.renderSubPublic)
}

// ---- building events from sim state -----------------------------------------

func (s *Sim) webhookIncident(st *incidentState) WebhookIncident {
	svc := s.serviceRef(st.ServiceID)
	inc := WebhookIncident{
		ID: st.ID, Type: "incident", Self: s.self("/incidents/" + st.ID), HTMLURL: s.html("/incidents/" + st.ID),
		Number: st.Number, Status: st.Status, IncidentKey: st.IncidentKey, CreatedAt: ts(st.CreatedAt),
		Title: st.Title, Service: &svc, Assignees: []Reference{}, Teams: s.teamRefs(st.TeamIDs),
		Urgency: st.Urgency, ConferenceBridge: st.ConferenceBridge, IncidentType: &IncidentTypeRef{Name: st.IncidentType},
	}
	for _, id := range st.AssigneeIDs {
		inc.Assignees = append(inc.Assignees, s.userRef(id))
	}
	if st.EscalationPolicyID != "" {
		ep := s.epRef(st.EscalationPolicyID)
		inc.EscalationPolicy = &ep
	}
	if st.PriorityID != "" {
		p := s.priorityRef(st.PriorityID)
		inc.Priority = &p
	}
	if st.ResolveReason != "" {
		rr := st.ResolveReason
		inc.ResolveReason = &rr
	}
	if !st.reopenedAt.IsZero() {
		inc.ReopenedAt = ts(st.reopenedAt)
	}
	return inc
}

func (s *Sim) fieldValuesEvent(st *incidentState, changed []CustomFieldValue) Event {
	ref := s.incidentRef(st)
	return CustomFieldValuesEvent(ref, st.customFields, changed).At(s.now())
}

func (s *Sim) noteEvent(st *incidentState, n note, actor Reference) Event {
	return NoteEvent(s.incidentRef(st), n.id, n.content).At(n.at).WithAgent(actor)
}

func (s *Sim) incidentTeams(st *incidentState) []string {
	teams := copyStrings(st.TeamIDs)
	if svc := s.services.byID[st.ServiceID]; svc != nil {
		for _, t := range svc.TeamIDs {
			if !contains(teams, t) {
				teams = append(teams, t)
			}
		}
	}
	return teams
}

// incidentEventLocked builds eventType for an incident from sim state.
func (s *Sim) incidentEventLocked(eventType string, st *incidentState, agent Reference) Event {
	var ev Event
	switch eventType {
	case "incident.custom_field_values.updated":
		ev = s.fieldValuesEvent(st, st.customFields)
	default:
		ev = NewEvent(eventType, s.webhookIncident(st)).At(s.now())
	}
	return ev.WithAgent(agent)
}

func (s *Sim) emitIncidentLocked(eventType string, st *incidentState, agent Reference) {
	s.emitLocked(s.incidentEventLocked(eventType, st, agent), st.ServiceID, s.incidentTeams(st))
}

// matchingSubsLocked lists active subscriptions that want eventType for a
// resource of serviceID owned by teams.
func (s *Sim) matchingSubsLocked(eventType, serviceID string, teams []string) []string {
	var out []string
	for sub := range s.subs.all() {
		if sub.Inactive || !contains(sub.Events, eventType) {
			continue
		}
		switch sub.FilterType {
		case "service_reference":
			if sub.FilterID != serviceID {
				continue
			}
		case "team_reference":
			if !contains(teams, sub.FilterID) {
				continue
			}
		}
		out = append(out, sub.ID)
	}
	return out
}

func (s *Sim) emitLocked(ev Event, serviceID string, teams []string) {
	for _, id := range s.matchingSubsLocked(ev.EventType, serviceID, teams) {
		s.enqueueLocked(id, ev)
	}
}

// enqueueLocked queues ev for asynchronous, in-order delivery to one
// subscription.
func (s *Sim) enqueueLocked(subID string, ev Event) {
	s.queues[subID] = append(s.queues[subID], queuedEvent{ev: ev})
	s.pending++
	if !s.running[subID] {
		s.running[subID] = true
		go s.worker(subID)
	}
}

func (s *Sim) worker(subID string) {
	for {
		s.mu.Lock()
		q := s.queues[subID]
		if len(q) == 0 {
			delete(s.queues, subID)
			delete(s.running, subID)
			s.mu.Unlock()
			return
		}
		item := q[0]
		s.queues[subID] = q[1:]
		s.mu.Unlock()

		_, _ = s.deliver(s.ctx, subID, item.ev)

		s.mu.Lock()
		s.pending--
		if s.pending == 0 && s.idle != nil {
			close(s.idle)
			s.idle = nil
		}
		s.mu.Unlock()
	}
}

// ---- synchronous emission ------------------------------------------------------

// EmitIncidentEvent builds eventType for the incident from its current state
// (an incident object, or incident_field_values for
// incident.custom_field_values.updated) and delivers it synchronously to
// every matching subscription, retrying as configured. It returns the
// delivery failures joined (nil when every matching subscription got a 2xx,
// or none matched).
func (s *Sim) EmitIncidentEvent(ctx context.Context, eventType string, incidentID string) error {
	s.mu.Lock()
	st := s.findIncident(incidentID)
	if st == nil {
		s.mu.Unlock()
		return fmt.Errorf("pdsim: no incident %q", incidentID)
	}
	ev := s.incidentEventLocked(eventType, st, Reference{})
	subs := s.matchingSubsLocked(eventType, st.ServiceID, s.incidentTeams(st))
	s.mu.Unlock()
	return s.deliverAll(ctx, subs, ev)
}

// EmitEvent delivers any event synchronously to the matching subscriptions;
// the service (and teams) used for filters are read from data.service.id,
// data.id of service events or data.incident.id.
func (s *Sim) EmitEvent(ctx context.Context, ev Event) error {
	s.mu.Lock()
	svc, teams := s.eventScopeLocked(ev)
	subs := s.matchingSubsLocked(ev.EventType, svc, teams)
	s.mu.Unlock()
	return s.deliverAll(ctx, subs, ev)
}

// DeliverEvent sends ev synchronously to one subscription, ignoring its
// event and filter settings (useful for unknown event types).
func (s *Sim) DeliverEvent(ctx context.Context, subscriptionID string, ev Event) error {
	_, err := s.deliver(ctx, subscriptionID, ev)
	return err
}

// Ping sends pagey.ping synchronously to one subscription.
func (s *Sim) Ping(ctx context.Context, subscriptionID string) error {
	return s.DeliverEvent(ctx, subscriptionID, PingEvent().At(s.now()))
}

func (s *Sim) deliverAll(ctx context.Context, subs []string, ev Event) error {
	var errs []error
	for _, id := range subs {
		if _, err := s.deliver(ctx, id, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sim) eventScopeLocked(ev Event) (string, []string) {
	var d struct {
		ID       string                `json:"id"`
		Type     string                `json:"type"`
		Service  *struct{ ID string }  `json:"service"`
		Incident *struct{ ID string }  `json:"incident"`
		Teams    []struct{ ID string } `json:"teams"`
	}
	_ = json.Unmarshal(mustJSON(ev.Data), &d)
	var svc string
	var teams []string
	for _, t := range d.Teams {
		teams = append(teams, t.ID)
	}
	switch {
	case d.Service != nil:
		svc = d.Service.ID
	case d.Type == "service":
		svc = d.ID
	case d.Incident != nil:
		if st := s.findIncident(d.Incident.ID); st != nil {
			svc = st.ServiceID
			teams = append(teams, s.incidentTeams(st)...)
		}
	}
	if sv := s.services.byID[svc]; sv != nil {
		teams = append(teams, sv.TeamIDs...)
	}
	return svc, teams
}

// ---- delivery ----------------------------------------------------------------

// deliver POSTs ev to one subscription, retrying on connection errors,
// timeouts, 5xx and 429 (WebhookMaxAttempts, backoff from
// WebhookRetryDelay doubling), never on other statuses.
func (s *Sim) deliver(ctx context.Context, subID string, ev Event) (*Delivery, error) {
	body := ev.Body()
	s.mu.Lock()
	sub, err := s.subLocked(subID)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	d := &Delivery{
		WebhookID: newUUID(), SubscriptionID: subID, URL: sub.URL,
		EventID: ev.ID, EventType: ev.EventType, Body: body,
	}
	s.deliveries = append(s.deliveries, d)
	if s.now().Before(sub.disabledUntil) {
		d.Skipped, d.Err = true, "subscription temporarily disabled"
		s.mu.Unlock()
		return d, fmt.Errorf("pdsim: webhook subscription %s is temporarily disabled", subID)
	}
	target, secrets := sub.URL, copyStrings(sub.Secrets)
	headers := append([]Header(nil), sub.CustomHeaders...)
	maxAttempts, delay, client := s.opts.WebhookMaxAttempts, s.opts.WebhookRetryDelay, s.opts.WebhookClient
	s.mu.Unlock()

	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		req, err := NewWebhookRequest(ctx, target, body, secrets...)
		if err != nil {
			lastErr = err
			s.finishAttempt(d, DeliveryAttempt{At: s.now(), Err: err.Error()}, req)
			break
		}
		req.Header.Set(HeaderWebhookID, d.WebhookID)
		req.Header.Set(HeaderSubscription, subID)
		for _, h := range headers {
			if !reservedWebhookHeader(h.Name) {
				req.Header.Set(h.Name, h.Value)
			}
		}
		start := time.Now()
		resp, err := client.Do(req)
		a := DeliveryAttempt{At: s.now(), Duration: time.Since(start)}
		retry := false
		if err != nil {
			a.Err = err.Error()
			lastErr = err
			retry = ctx.Err() == nil
		} else {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			a.StatusCode, a.ResponseBody = resp.StatusCode, string(b)
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				lastErr = nil
			case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
				lastErr = fmt.Errorf("pdsim: webhook to %s answered %d", target, resp.StatusCode)
				retry = true
			default:
				lastErr = fmt.Errorf("pdsim: webhook to %s answered %d (not retried)", target, resp.StatusCode)
			}
		}
		s.finishAttempt(d, a, req)
		if lastErr == nil || !retry || attempt == maxAttempts {
			break
		}
		t := time.NewTimer(delay << (attempt - 1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			lastErr = ctx.Err()
			attempt = maxAttempts
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if lastErr == nil {
		d.Delivered = true
		sub.drops = 0
		return d, nil
	}
	d.Dropped, d.Err = true, lastErr.Error()
	sub.drops++
	if sub.drops >= dropsBeforeDisable {
		sub.disabledUntil = s.now().Add(24 * time.Hour)
	}
	return d, lastErr
}

func (s *Sim) finishAttempt(d *Delivery, a DeliveryAttempt, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Attempts = append(d.Attempts, a)
	if d.Header == nil && req != nil {
		d.Header = req.Header.Clone()
	}
}

// VerifySignature reports whether header (an X-PagerDuty-Signature value)
// holds a v1= signature of body under any of secrets. It is what a receiver
// must do; tests can use it to check deliveries.
func VerifySignature(header string, body []byte, secrets ...string) bool {
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasPrefix(part, "v1=") {
			continue
		}
		for _, sec := range secrets {
			if hmacEqual(part, Sign(sec, body)) {
				return true
			}
		}
	}
	return false
}

// reservedWebhookHeader reports headers a subscription's custom headers
// cannot override.
func reservedWebhookHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "User-Agent", "Content-Length", "Host",
		http.CanonicalHeaderKey(HeaderSignature), http.CanonicalHeaderKey(HeaderWebhookID), http.CanonicalHeaderKey(HeaderSubscription):
		return true
	}
	return false
}
