package pdsim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

type reqCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	p      *principal
	params []string
	body   []byte
}

type route struct {
	method  string
	pattern string
	scope   string
	handle  func(s *Sim, c *reqCtx) // called with s.mu held
}

// routes is the REST API the sim implements. Scopes are those the OpenAPI
// document names in x-pd-requires-scope.
var routes = []route{
	{"GET", "/users/me", "", (*Sim).getUsersMe},
	{"GET", "/users", "users.read", (*Sim).listUsers},
	{"GET", "/users/{id}", "users.read", (*Sim).getUser},
	{"GET", "/teams", "teams.read", (*Sim).listTeams},
	{"GET", "/teams/{id}", "teams.read", (*Sim).getTeam},
	{"GET", "/services", "services.read", (*Sim).listServices},
	{"GET", "/services/{id}", "services.read", (*Sim).getService},
	{"GET", "/services/{id}/change_events", "services.read", (*Sim).listChangeEvents},
	{"GET", "/service_dependencies/technical_services/{id}", "services.read", (*Sim).getServiceDependencies},
	{"GET", "/escalation_policies", "escalation_policies.read", (*Sim).listPolicies},
	{"GET", "/escalation_policies/{id}", "escalation_policies.read", (*Sim).getPolicy},
	{"GET", "/priorities", "priorities.read", (*Sim).listPriorities},
	{"GET", "/abilities", "abilities.read", (*Sim).listAbilities},
	{"GET", "/abilities/{id}", "abilities.read", (*Sim).testAbility},
	{"GET", "/incidents", "incidents.read", (*Sim).listIncidents},
	{"POST", "/incidents", "incidents.write", (*Sim).createIncident},
	{"GET", "/incidents/{id}", "incidents.read", (*Sim).getIncident},
	{"PUT", "/incidents/{id}", "incidents.write", (*Sim).updateIncident},
	{"GET", "/incidents/{id}/alerts", "incidents.read", (*Sim).listAlerts},
	{"GET", "/incidents/{id}/log_entries", "incidents.read", (*Sim).listLogEntries},
	{"GET", "/incidents/{id}/notes", "incidents.read", (*Sim).listNotes},
	{"POST", "/incidents/{id}/notes", "incidents.write", (*Sim).createNote},
	{"GET", "/incidents/{id}/custom_fields/values", "incidents.read", (*Sim).getCustomFields},
	{"PUT", "/incidents/{id}/custom_fields/values", "incidents.write", (*Sim).setCustomFields},
	{"GET", "/incidents/{id}/related_incidents", "incidents.read", (*Sim).getRelatedIncidents},
	{"GET", "/incidents/{id}/past_incidents", "incidents.read", (*Sim).getPastIncidents},
	{"GET", "/webhook_subscriptions", "webhook_subscriptions.read", (*Sim).listSubscriptions},
	{"POST", "/webhook_subscriptions", "webhook_subscriptions.write", (*Sim).createSubscription},
	{"GET", "/webhook_subscriptions/{id}", "webhook_subscriptions.read", (*Sim).getSubscription},
	{"PUT", "/webhook_subscriptions/{id}", "webhook_subscriptions.write", (*Sim).updateSubscription},
	{"DELETE", "/webhook_subscriptions/{id}", "webhook_subscriptions.write", (*Sim).deleteSubscription},
	{"POST", "/webhook_subscriptions/{id}/ping", "webhook_subscriptions.write", (*Sim).pingSubscription},
	{"POST", "/webhook_subscriptions/{id}/enable", "webhook_subscriptions.write", (*Sim).enableSubscription},
}

// Route describes one REST operation the sim implements.
type Route struct {
	Method string
	// Path is in OpenAPI form, e.g. "/incidents/{id}/alerts".
	Path string
	// Scope is the OAuth scope required (empty: none).
	Scope string
}

// Routes lists the REST operations the sim implements.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		out[i] = Route{Method: r.method, Path: r.pattern, Scope: r.scope}
	}
	return out
}

// matchRoute finds the route for method and path; literal segments win
// over {id} wildcards (so /users/me is not /users/{id}).
func matchRoute(method, path string) (*route, []string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best *route
	var bestParams []string
	bestLiterals := -1
	for i := range routes {
		rt := &routes[i]
		if rt.method != method && !(method == http.MethodHead && rt.method == http.MethodGet) {
			continue
		}
		ps := strings.Split(strings.Trim(rt.pattern, "/"), "/")
		if len(ps) != len(segs) {
			continue
		}
		var params []string
		literals := 0
		ok := true
		for j, p := range ps {
			if strings.HasPrefix(p, "{") {
				if segs[j] == "" {
					ok = false
					break
				}
				params = append(params, segs[j])
				continue
			}
			if p != segs[j] {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = rt, params, literals
		}
	}
	return best, bestParams
}

func (c *reqCtx) param(i int) string {
	if i < len(c.params) {
		return c.params[i]
	}
	return ""
}

func (c *reqCtx) q(name string) string { return c.r.URL.Query().Get(name) }

// qList returns the values of name[] (and name, leniently).
func (c *reqCtx) qList(name string) []string {
	q := c.r.URL.Query()
	var out []string
	for _, v := range append(q[name+"[]"], q[name]...) {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// page is a parsed pagination request.
type page struct {
	limit, offset int
	total         bool
}

// parsePage reads limit (default 25, max 100), offset and total; it writes
// the 400 answer and returns false when they are invalid.
func (c *reqCtx) parsePage() (page, bool) {
	limit, err := atoiOr(c.q("limit"), 25)
	if err != nil {
		writeInvalid(c.w, "Limit must be an integer.")
		return page{}, false
	}
	if limit < 1 {
		limit = 25
	}
	if limit > 100 {
		limit = 100
	}
	offset, err := atoiOr(c.q("offset"), 0)
	if err != nil || offset < 0 {
		writeInvalid(c.w, "Offset must be a non-negative integer.")
		return page{}, false
	}
	if offset+limit > 10000 {
		writeInvalid(c.w, "Offset must be less than or equal to 10000 minus the limit: use cursor-based pagination or narrower filters.")
		return page{}, false
	}
	return page{limit: limit, offset: offset, total: c.q("total") == "true"}, true
}

// envelope slices items into a page and returns the list envelope.
func envelope[T any](key string, items []T, p page, render func(T) map[string]any) map[string]any {
	start := min(p.offset, len(items))
	end := min(start+p.limit, len(items))
	out := make([]map[string]any, 0, end-start)
	for _, it := range items[start:end] {
		out = append(out, render(it))
	}
	var total any
	if p.total {
		total = len(items)
	}
	return map[string]any{key: out, "limit": p.limit, "offset": p.offset, "more": end < len(items), "total": total}
}

// found writes the 404 answer when item is nil; it reports whether item is
// there.
func found[T any](c *reqCtx, item *T) bool {
	if item == nil {
		writeNotFound(c.w)
		return false
	}
	return true
}

// writeItem answers one object, rendered under key, or 404 when it is nil.
func writeItem[T any](c *reqCtx, key string, item *T, render func(*T) map[string]any) {
	if found(c, item) {
		writeJSON(c.w, http.StatusOK, map[string]any{key: render(item)})
	}
}

func matchesQuery(query string, fields ...string) bool {
	if query == "" {
		return true
	}
	q := strings.ToLower(query)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// ---- users, teams, services, policies ------------------------------------

func (s *Sim) getUsersMe(c *reqCtx) {
	if c.p.userID == "" {
		writeJSON(c.w, http.StatusBadRequest, map[string]any{"error": accountLevelUsersMe})
		return
	}
	writeItem(c, "user", s.users.byID[c.p.userID], s.renderUser)
}

func (s *Sim) listUsers(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	query, teams := c.q("query"), c.qList("team_ids")
	list := s.users.list(func(u *User) bool {
		return matchesQuery(query, u.Name, u.Email) && (len(teams) == 0 || anyIn(u.TeamIDs, teams))
	})
	writeJSON(c.w, http.StatusOK, envelope("users", list, p, s.renderUser))
}

func anyIn(have, want []string) bool {
	for _, w := range want {
		if contains(have, w) {
			return true
		}
	}
	return false
}

func (s *Sim) getUser(c *reqCtx) {
	writeItem(c, "user", s.users.byID[c.param(0)], s.renderUser)
}

func (s *Sim) listTeams(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	query := c.q("query")
	list := s.teams.list(func(t *Team) bool { return matchesQuery(query, t.Name) })
	writeJSON(c.w, http.StatusOK, envelope("teams", list, p, s.renderTeam))
}

func (s *Sim) getTeam(c *reqCtx) {
	writeItem(c, "team", s.teams.byID[c.param(0)], s.renderTeam)
}

func (s *Sim) listServices(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	query, name, teams := c.q("query"), c.q("name"), c.qList("team_ids")
	list := s.services.list(func(svc *Service) bool {
		return matchesQuery(query, svc.Name) && (name == "" || svc.Name == name) &&
			(len(teams) == 0 || anyIn(svc.TeamIDs, teams))
	})
	desc := c.q("sort_by") == "name:desc"
	sort.SliceStable(list, func(i, j int) bool {
		a, b := strings.ToLower(list[i].Name), strings.ToLower(list[j].Name)
		if desc {
			return a > b
		}
		return a < b
	})
	writeJSON(c.w, http.StatusOK, envelope("services", list, p, s.renderService))
}

func (s *Sim) getService(c *reqCtx) {
	writeItem(c, "service", s.services.byID[c.param(0)], s.renderService)
}

func (s *Sim) listPolicies(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	users, teams := c.qList("user_ids"), c.qList("team_ids")
	query := c.q("query")
	list := s.policies.list(func(ep *EscalationPolicy) bool {
		return matchesQuery(query, ep.Name) && (len(users) == 0 || anyIn(ep.UserIDs, users)) &&
			(len(teams) == 0 || anyIn(ep.TeamIDs, teams))
	})
	sort.SliceStable(list, func(i, j int) bool { return strings.ToLower(list[i].Name) < strings.ToLower(list[j].Name) })
	writeJSON(c.w, http.StatusOK, envelope("escalation_policies", list, p, s.renderPolicy))
}

func (s *Sim) getPolicy(c *reqCtx) {
	writeItem(c, "escalation_policy", s.policies.byID[c.param(0)], s.renderPolicy)
}

func (s *Sim) listPriorities(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	list := slices.Collect(s.priorities.all())
	writeJSON(c.w, http.StatusOK, envelope("priorities", list, p, s.renderPriority))
}

func (s *Sim) listAbilities(c *reqCtx) {
	writeJSON(c.w, http.StatusOK, map[string]any{"abilities": copyStrings(s.abilities)})
}

func (s *Sim) testAbility(c *reqCtx) {
	if contains(s.abilities, c.param(0)) {
		c.w.WriteHeader(http.StatusNoContent)
		return
	}
	writeError(c.w, http.StatusPaymentRequired, missingAbilityMessage, CodeMissingAbility,
		[]string{"The account does not have the ability " + c.param(0) + "."})
}

func (s *Sim) hasAbilityOrFail(c *reqCtx, ability string) bool {
	if contains(s.abilities, ability) {
		return true
	}
	writeError(c.w, s.opts.MissingAbilityStatus, missingAbilityMessage, CodeMissingAbility,
		[]string{"Required abilities are unavailable: " + ability})
	return false
}

// ---- incidents -------------------------------------------------------------

func (s *Sim) listIncidents(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	statuses := c.qList("statuses")
	for _, st := range statuses {
		if st != "triggered" && st != "acknowledged" && st != "resolved" {
			writeInvalid(c.w, fmt.Sprintf("Statuses %q is not a valid status.", st))
			return
		}
	}
	urgencies := c.qList("urgencies")
	var since, until time.Time
	if c.q("date_range") != "all" {
		var errs []string
		if v := c.q("since"); v != "" {
			t, err := parseTime(v)
			if err != nil {
				errs = append(errs, "Since is not a valid date.")
			}
			since = t
		}
		if v := c.q("until"); v != "" {
			t, err := parseTime(v)
			if err != nil {
				errs = append(errs, "Until is not a valid date.")
			}
			until = t
		}
		if errs != nil {
			writeInvalid(c.w, errs...)
			return
		}
		month := 30 * 24 * time.Hour
		switch {
		case since.IsZero() && until.IsZero():
			until = s.now().Add(time.Second)
			since = until.Add(-month)
		case since.IsZero():
			since = until.Add(-month)
		case until.IsZero():
			until = s.now().Add(time.Second)
		}
		if !until.After(since) {
			writeInvalid(c.w, "Until must be after since.")
			return
		}
		if until.Sub(since) > 183*24*time.Hour {
			writeInvalid(c.w, "The maximum date range is 6 months.")
			return
		}
	}
	services, teams, users := c.qList("service_ids"), c.qList("team_ids"), c.qList("user_ids")
	key := c.q("incident_key")
	var list []*incidentState
	for st := range s.incidents.all() {
		if len(statuses) > 0 && !contains(statuses, st.Status) ||
			len(services) > 0 && !contains(services, st.ServiceID) ||
			len(teams) > 0 && !anyIn(st.TeamIDs, teams) ||
			len(users) > 0 && !anyIn(st.AssigneeIDs, users) ||
			len(urgencies) > 0 && !contains(urgencies, st.Urgency) ||
			key != "" && st.IncidentKey != key {
			continue
		}
		if !since.IsZero() && (st.CreatedAt.Before(since) || !st.CreatedAt.Before(until)) {
			continue
		}
		list = append(list, st)
	}
	sortIncidents(list)
	if strings.HasSuffix(strings.Join(c.qList("sort_by"), ","), ":desc") {
		slices.Reverse(list)
	}
	writeJSON(c.w, http.StatusOK, envelope("incidents", list, p, s.renderIncident))
}

func (s *Sim) getIncident(c *reqCtx) {
	writeItem(c, "incident", s.findIncident(c.param(0)), s.renderIncident)
}

// requester resolves who acts for a write: the key's or token's user, or
// for account-level credentials the user named by the From header.
func (s *Sim) requester(c *reqCtx) (userID string, errs []string) {
	if c.p.userID != "" {
		return c.p.userID, nil
	}
	from := strings.TrimSpace(c.r.Header.Get("From"))
	if from == "" {
		return "", []string{`You must specify a user's email address in the "From" header to perform this action.`}
	}
	for u := range s.users.all() {
		if strings.EqualFold(u.Email, from) {
			return u.ID, nil
		}
	}
	return "", []string{"Requester User Not Found"}
}

// incidentBody is the "incident" object of the request's JSON body; when
// there is none it writes PagerDuty's answer and returns false.
func incidentBody(c *reqCtx) (map[string]any, bool) {
	root, ok := decodeObject(c.body)
	if !ok {
		writeInvalid(c.w, "The request body must be a JSON object.")
		return nil, false
	}
	inc, ok := obj(root, "incident")
	if !ok {
		writeInvalid(c.w, "Incident is required and must be an object.")
		return nil, false
	}
	return inc, true
}

func (s *Sim) createIncident(c *reqCtx) {
	inc, ok := incidentBody(c)
	if !ok {
		return
	}
	var errs []string
	actor, ferrs := s.requester(c)
	errs = append(errs, ferrs...)
	if t, _ := str(inc, "type"); t != "incident" {
		errs = append(errs, `Incident type must be "incident".`)
	}
	title, _ := str(inc, "title")
	if strings.TrimSpace(title) == "" {
		errs = append(errs, "Title cannot be empty.")
	}
	svcID, present, e := refID(inc, "service", "service_reference")
	switch {
	case !present:
		errs = append(errs, "Service is required.")
	case e != "":
		errs = append(errs, e)
	case s.services.byID[svcID] == nil:
		errs = append(errs, "Service not found.")
	}
	urgency, _ := str(inc, "urgency")
	if _, has := inc["urgency"]; has && urgency != "high" && urgency != "low" {
		errs = append(errs, `Urgency must be "high" or "low".`)
	}
	prioID, present, e := refID(inc, "priority", "priority_reference")
	if e != "" {
		errs = append(errs, e)
	} else if present && s.priorities.byID[prioID] == nil {
		errs = append(errs, "Priority not found.")
	}
	epID, epPresent, e := refID(inc, "escalation_policy", "escalation_policy_reference")
	if e != "" {
		errs = append(errs, e)
	} else if epPresent && s.policies.byID[epID] == nil {
		errs = append(errs, "Escalation policy not found.")
	}
	assignees, aerrs := s.parseAssignments(inc)
	errs = append(errs, aerrs...)
	if epPresent && assignees != nil {
		errs = append(errs, "Cannot specify both assignments and an escalation policy.")
	}
	key, _ := str(inc, "incident_key")
	if _, has := inc["incident_key"]; has && key == "" {
		errs = append(errs, "Incident key must be a non-empty string.")
	}
	var bridge *ConferenceBridge
	if cb, ok := obj(inc, "conference_bridge"); ok {
		bridge = &ConferenceBridge{}
		bridge.ConferenceNumber, _ = str(cb, "conference_number")
		bridge.ConferenceURL, _ = str(cb, "conference_url")
	}
	incType := ""
	if it, ok := obj(inc, "incident_type"); ok {
		incType, _ = str(it, "name")
	}
	if len(errs) == 0 && key != "" {
		for st := range s.incidents.all() {
			if st.ServiceID == svcID && st.IncidentKey == key && st.Status != "resolved" {
				errs = append(errs, "Open incident with matching dedup key already exists on this service")
				break
			}
		}
	}
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	description := ""
	if b, ok := obj(inc, "body"); ok {
		description, _ = str(b, "details")
	}
	st := s.addIncidentLocked(Incident{
		Title: title, Description: description, Urgency: urgency, ServiceID: svcID, EscalationPolicyID: epID,
		AssigneeIDs: assignees, PriorityID: prioID, IncidentKey: key, IncidentType: incType, ConferenceBridge: bridge,
	}, s.userRef(actor))
	s.emitIncidentLocked("incident.triggered", st, s.userRef(actor))
	writeJSON(c.w, http.StatusCreated, map[string]any{"incident": s.renderIncident(st)})
}

// parseAssignments reads incident.assignments ([{assignee: user_reference}]).
// It returns nil when absent.
func (s *Sim) parseAssignments(inc map[string]any) ([]string, []string) {
	raw, has := inc["assignments"]
	if !has || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, []string{"Assignments must be an array."}
	}
	ids := []string{}
	var errs []string
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, "Each assignment must be an object.")
			continue
		}
		id, present, e := refID(m, "assignee", "user_reference")
		switch {
		case !present:
			errs = append(errs, "Each assignment needs an assignee.")
		case e != "":
			errs = append(errs, e)
		case s.users.byID[id] == nil:
			errs = append(errs, "Assignee not found.")
		default:
			ids = append(ids, id)
		}
	}
	return ids, errs
}

func (s *Sim) updateIncident(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	inc, ok := incidentBody(c)
	if !ok {
		return
	}
	var errs []string
	actorID, ferrs := s.requester(c)
	errs = append(errs, ferrs...)
	if t, _ := str(inc, "type"); t != "incident" && t != "incident_reference" {
		errs = append(errs, `Incident type must be "incident" or "incident_reference".`)
	}
	status, _ := str(inc, "status")
	if _, has := inc["status"]; has && status != "triggered" && status != "acknowledged" && status != "resolved" {
		errs = append(errs, "Status must be one of triggered, acknowledged or resolved.")
	}
	title, hasTitle := str(inc, "title")
	if hasTitle && strings.TrimSpace(title) == "" {
		errs = append(errs, "Title cannot be empty.")
	}
	urgency, hasUrgency := str(inc, "urgency")
	if hasUrgency && urgency != "high" && urgency != "low" {
		errs = append(errs, `Urgency must be "high" or "low".`)
	}
	prioID, prioPresent, e := refID(inc, "priority", "priority_reference")
	_, prioKey := inc["priority"]
	if e != "" {
		errs = append(errs, e)
	} else if prioPresent && s.priorities.byID[prioID] == nil {
		errs = append(errs, "Priority not found.")
	}
	assignees, aerrs := s.parseAssignments(inc)
	errs = append(errs, aerrs...)
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	now := s.now()
	actor := s.userRef(actorID)
	var events []string
	if hasTitle {
		st.Title = title
	}
	if hasUrgency {
		st.Urgency = urgency
	}
	if prioKey && st.PriorityID != prioID {
		st.PriorityID = prioID
		events = append(events, "incident.priority_updated")
	}
	if assignees != nil && status != "resolved" {
		st.AssigneeIDs, st.assignedAt = assignees, now
		events = append(events, "incident.reassigned")
	}
	if status != "" && status != st.Status {
		old := st.Status
		st.Status = status
		st.lastChangeAt, st.lastChangeBy = now, actor
		if old == "resolved" {
			st.resolvedAt, st.reopenedAt = time.Time{}, now
			if len(st.AssigneeIDs) == 0 {
				if ep, ok := s.policies.byID[st.EscalationPolicyID]; ok && len(ep.UserIDs) > 0 {
					st.AssigneeIDs, st.assignedAt = []string{ep.UserIDs[0]}, now
				}
			}
			s.addLogLocked(st, "reopen_log_entry", "Reopened by "+actor.Summary, now, actor)
			events = append(events, "incident.reopened")
		}
		switch status {
		case "acknowledged":
			st.acks = append(st.acks, ack{at: now, userID: actorID})
			s.addLogLocked(st, "acknowledge_log_entry", "Acknowledged by "+actor.Summary, now, actor)
			events = append(events, "incident.acknowledged")
		case "triggered":
			st.acks = nil
			if old == "acknowledged" {
				s.addLogLocked(st, "unacknowledge_log_entry", "Unacknowledged by "+actor.Summary, now, actor)
				events = append(events, "incident.unacknowledged")
			}
		case "resolved":
			st.resolvedAt = now
			st.acks = nil
			st.AssigneeIDs = nil
			summary := "Resolved by " + actor.Summary
			if res, _ := str(inc, "resolution"); res != "" {
				summary += ": " + res
			}
			s.addLogLocked(st, "resolve_log_entry", summary, now, actor)
			events = append(events, "incident.resolved")
		}
	}
	st.updatedAt = now
	for _, ev := range events {
		s.emitIncidentLocked(ev, st, actor)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"incident": s.renderIncident(st)})
}

func (s *Sim) incidentOr404(c *reqCtx) *incidentState {
	if st := s.findIncident(c.param(0)); found(c, st) {
		return st
	}
	return nil
}

func (s *Sim) listAlerts(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	statuses, key := c.qList("statuses"), c.q("alert_key")
	var list []*Alert
	for _, a := range st.alerts {
		if (len(statuses) == 0 || contains(statuses, a.Status)) && (key == "" || a.AlertKey == key) {
			list = append(list, a)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].CreatedAt.Before(list[j].CreatedAt) })
	if c.q("sort_by") == "created_at:desc" {
		slices.Reverse(list)
	}
	writeJSON(c.w, http.StatusOK, envelope("alerts", list, p, func(a *Alert) map[string]any { return s.renderAlert(st, a) }))
}

func (s *Sim) listLogEntries(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	since, until, ok := c.timeRange(false)
	if !ok {
		return
	}
	overview := c.q("is_overview") == "true"
	var list []*LogEntry
	for _, le := range st.logEntries {
		if (!since.IsZero() && le.CreatedAt.Before(since)) || (!until.IsZero() && !le.CreatedAt.Before(until)) {
			continue
		}
		if overview && !overviewTypes[le.Type] {
			continue
		}
		list = append(list, le)
	}
	// Newest first, as PagerDuty lists log entries.
	sort.SliceStable(list, func(i, j int) bool { return list[i].CreatedAt.After(list[j].CreatedAt) })
	writeJSON(c.w, http.StatusOK, envelope("log_entries", list, p, func(le *LogEntry) map[string]any { return s.renderLogEntry(st, le) }))
}

var overviewTypes = map[string]bool{
	"trigger_log_entry": true, "acknowledge_log_entry": true, "unacknowledge_log_entry": true,
	"resolve_log_entry": true, "reopen_log_entry": true, "annotate_log_entry": true, "escalate_log_entry": true,
}

// timeRange parses since/until; utcOnly rejects non-UTC offsets.
func (c *reqCtx) timeRange(utcOnly bool) (since, until time.Time, ok bool) {
	var errs []string
	for _, name := range []string{"since", "until"} {
		v := c.q(name)
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err == nil && utcOnly {
			if _, off := t.Zone(); off != 0 {
				err = fmt.Errorf("non-UTC")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s must be a UTC ISO 8601 datetime (YYYY-MM-DDThh:mm:ssZ).", name))
			continue
		}
		if name == "since" {
			since = t
		} else {
			until = t
		}
	}
	if errs != nil {
		writeInvalid(c.w, errs...)
		return since, until, false
	}
	return since, until, true
}

func (s *Sim) listNotes(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	out := []map[string]any{}
	for _, n := range st.notes {
		out = append(out, s.renderNote(n))
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"notes": out})
}

func (s *Sim) renderNote(n note) map[string]any {
	return map[string]any{
		"id": n.id, "user": s.userRef(n.userID), "channel": map[string]any{"summary": "The PagerDuty REST API"},
		"content": n.content, "created_at": ts(n.at),
	}
}

func (s *Sim) createNote(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	actorID, errs := s.requester(c)
	root, ok := decodeObject(c.body)
	content := ""
	if n, ok2 := obj(root, "note"); ok && ok2 {
		content, _ = str(n, "content")
	}
	if strings.TrimSpace(content) == "" {
		errs = append(errs, "Note content cannot be empty.")
	}
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	now := s.now()
	n := note{id: newPDID(), userID: actorID, content: content, at: now}
	st.notes = append(st.notes, n)
	actor := s.userRef(actorID)
	s.addLogLocked(st, "annotate_log_entry", "Note added", now, actor)
	st.updatedAt = now
	s.emitLocked(s.noteEvent(st, n, actor), st.ServiceID, s.incidentTeams(st))
	writeJSON(c.w, http.StatusOK, map[string]any{"note": s.renderNote(n)})
}

func (s *Sim) getCustomFields(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"custom_fields": restFields(st.customFields)})
}

// restFields renders custom fields as the REST API does (no namespace).
func restFields(fields []CustomFieldValue) []CustomFieldValue {
	out := make([]CustomFieldValue, len(fields))
	for i, f := range fields {
		f.Namespace = ""
		out[i] = f
	}
	return out
}

func (s *Sim) setCustomFields(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil {
		return
	}
	actorID, errs := s.requester(c)
	root, ok := decodeObject(c.body)
	list, ok2 := root["custom_fields"].([]any)
	if !ok || !ok2 {
		writeInvalid(c.w, "custom_fields must be an array.")
		return
	}
	updated := append([]CustomFieldValue(nil), st.customFields...)
	var changed []CustomFieldValue
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, "Each custom field must be an object.")
			continue
		}
		id, _ := str(m, "id")
		name, _ := str(m, "name")
		idx := -1
		for i, f := range updated {
			if (id != "" && f.ID == id) || (id == "" && name != "" && f.Name == name) {
				idx = i
			}
		}
		if idx < 0 {
			errs = append(errs, fmt.Sprintf("Custom field %q not found.", id+name))
			continue
		}
		v := normalizeNumber(m["value"])
		if string(mustJSON(updated[idx].Value)) != string(mustJSON(v)) {
			updated[idx].Value = v
			changed = append(changed, updated[idx])
		}
	}
	if len(errs) > 0 {
		writeInvalid(c.w, errs...)
		return
	}
	st.customFields = updated
	if len(changed) > 0 {
		st.updatedAt = s.now()
		ev := s.fieldValuesEvent(st, changed).WithAgent(s.userRef(actorID))
		s.emitLocked(ev, st.ServiceID, s.incidentTeams(st))
	}
	writeJSON(c.w, http.StatusCreated, map[string]any{"custom_fields": restFields(st.customFields)})
}

// normalizeNumber turns json.Number (from UseNumber) into float64 or int.
func normalizeNumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumber(e)
		}
		return out
	}
	return v
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

func (s *Sim) briefIncident(st *incidentState) map[string]any {
	return map[string]any{
		"id": st.ID, "created_at": ts(st.CreatedAt), "self": s.self("/incidents/" + st.ID),
		"title": st.Title, "html_url": s.html("/incidents/" + st.ID),
	}
}

func (s *Sim) getRelatedIncidents(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil || !s.hasAbilityOrFail(c, AbilityRelatedIncidents) {
		return
	}
	out := []map[string]any{}
	for _, rel := range st.related {
		other := s.findIncident(rel.IncidentID)
		if other == nil {
			continue
		}
		rels := rel.Relationships
		if rels == nil {
			rels = []Relationship{}
		}
		out = append(out, map[string]any{"incident": s.briefIncident(other), "relationships": rels})
		if len(out) == 20 {
			break
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"related_incidents": out})
}

func (s *Sim) getPastIncidents(c *reqCtx) {
	st := s.incidentOr404(c)
	if st == nil || !s.hasAbilityOrFail(c, AbilityPastIncidents) {
		return
	}
	limit, err := atoiOr(c.q("limit"), 5)
	if err != nil || limit < 1 || limit > 999 {
		writeInvalid(c.w, "Limit must be an integer between 1 and 999.")
		return
	}
	past := st.past
	if !st.pastSet {
		past = s.computePast(st)
	}
	out := []map[string]any{}
	for _, p := range past {
		if other := s.findIncident(p.IncidentID); other != nil && len(out) < limit {
			out = append(out, map[string]any{"incident": s.briefIncident(other), "score": p.Score})
		}
	}
	var total any
	if c.q("total") == "true" {
		total = len(past)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"past_incidents": out, "total": total, "limit": limit})
}

// computePast lists earlier incidents of the same service in the past 6
// months, scored by title word overlap (0-100), best first.
func (s *Sim) computePast(st *incidentState) []PastIncident {
	words := func(t string) map[string]bool {
		m := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(t)) {
			m[w] = true
		}
		return m
	}
	mine := words(st.Title)
	var out []PastIncident
	for o := range s.incidents.all() {
		if o.ID == st.ID || o.ServiceID != st.ServiceID || !o.CreatedAt.Before(st.CreatedAt) ||
			st.CreatedAt.Sub(o.CreatedAt) > 183*24*time.Hour {
			continue
		}
		theirs := words(o.Title)
		inter, union := 0, len(mine)
		for w := range theirs {
			if mine[w] {
				inter++
			} else {
				union++
			}
		}
		score := 0.0
		if union > 0 {
			score = math.Round(float64(inter)/float64(union)*10000) / 100
		}
		out = append(out, PastIncident{IncidentID: o.ID, Score: score})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}

// ---- change events and dependencies ---------------------------------------

func (s *Sim) listChangeEvents(c *reqCtx) {
	p, ok := c.parsePage()
	if !ok {
		return
	}
	svcID := c.param(0)
	if !found(c, s.services.byID[svcID]) {
		return
	}
	since, until, ok := c.timeRange(true)
	if !ok {
		return
	}
	var list []*ChangeEvent
	for _, ce := range s.changeEvents {
		if !contains(ce.ServiceIDs, svcID) {
			continue
		}
		if (!since.IsZero() && ce.Timestamp.Before(since)) || (!until.IsZero() && ce.Timestamp.After(until)) {
			continue
		}
		list = append(list, ce)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Timestamp.After(list[j].Timestamp) })
	writeJSON(c.w, http.StatusOK, envelope("change_events", list, p, s.renderChangeEvent))
}

func (s *Sim) getServiceDependencies(c *reqCtx) {
	id := c.param(0)
	if !found(c, s.services.byID[id]) {
		return
	}
	out := []map[string]any{}
	for _, d := range s.deps {
		if d.SupportingServiceID == id || d.DependentServiceID == id {
			out = append(out, renderDependency(d))
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"relationships": out})
}
