package pdsim

import (
	"fmt"
	"sort"
	"time"
)

// Reference is PagerDuty's reference object ({"id", "type", "summary",
// "self", "html_url"}), e.g. a user_reference or service_reference.
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary,omitempty"`
	Self    string `json:"self,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

func (s *Sim) self(path string) string { return s.baseURL + path }

func (s *Sim) html(path string) string { return htmlURL(s.opts.Subdomain, path) }

// htmlURL is the web address of path in the account at subdomain.
func htmlURL(subdomain, path string) string {
	return "https://" + subdomain + ".pagerduty.com" + path
}

func (s *Sim) userRef(id string) Reference {
	r := Reference{ID: id, Type: "user_reference", Self: s.self("/users/" + id), HTMLURL: s.html("/users/" + id)}
	if u, ok := s.users.byID[id]; ok {
		r.Summary = u.Name
	}
	return r
}

func (s *Sim) serviceRef(id string) Reference {
	r := Reference{ID: id, Type: "service_reference", Self: s.self("/services/" + id), HTMLURL: s.html("/service-directory/" + id)}
	if svc, ok := s.services.byID[id]; ok {
		r.Summary = svc.Name
	}
	return r
}

func (s *Sim) epRef(id string) Reference {
	r := Reference{ID: id, Type: "escalation_policy_reference", Self: s.self("/escalation_policies/" + id), HTMLURL: s.html("/escalation_policies/" + id)}
	if ep, ok := s.policies.byID[id]; ok {
		r.Summary = ep.Name
	}
	return r
}

func (s *Sim) teamRef(id string) Reference {
	r := Reference{ID: id, Type: "team_reference", Self: s.self("/teams/" + id), HTMLURL: s.html("/teams/" + id)}
	if t, ok := s.teams.byID[id]; ok {
		r.Summary = t.Name
	}
	return r
}

func (s *Sim) priorityRef(id string) Reference {
	r := Reference{ID: id, Type: "priority_reference", Self: s.self("/priorities/" + id)}
	if p, ok := s.priorities.byID[id]; ok {
		r.Summary = p.Name
	}
	return r
}

func (s *Sim) incidentRef(st *incidentState) Reference {
	return Reference{
		ID: st.ID, Type: "incident_reference", Summary: incidentSummary(st),
		Self: s.self("/incidents/" + st.ID), HTMLURL: s.html("/incidents/" + st.ID),
	}
}

// agentRef renders a reference from a type and id (user or service).
func (s *Sim) agentRef(typ, id string) Reference {
	switch typ {
	case "user_reference", "user":
		return s.userRef(id)
	case "service_reference", "service", "":
		return s.serviceRef(id)
	}
	return Reference{ID: id, Type: typ}
}

func incidentSummary(st *incidentState) string {
	return fmt.Sprintf("[#%d] %s", st.Number, st.Title)
}

func (s *Sim) teamRefs(ids []string) []Reference {
	out := []Reference{}
	for _, id := range ids {
		out = append(out, s.teamRef(id))
	}
	return out
}

func (s *Sim) renderUser(u *User) map[string]any {
	return map[string]any{
		"id": u.ID, "type": "user", "summary": u.Name,
		"self": s.self("/users/" + u.ID), "html_url": s.html("/users/" + u.ID),
		"name": u.Name, "email": u.Email, "time_zone": u.TimeZone, "color": u.Color, "role": u.Role,
		"avatar_url":      "https://secure.gravatar.com/avatar/" + u.ID + ".png?d=mm&r=PG",
		"description":     nilIfEmpty(u.Description),
		"invitation_sent": false,
		"job_title":       nilIfEmpty(u.JobTitle),
		"teams":           s.teamRefs(u.TeamIDs),
		"contact_methods": []Reference{{
			ID: "PC" + u.ID[min(1, len(u.ID)):], Type: "email_contact_method_reference", Summary: "Default",
			Self: s.self("/users/" + u.ID + "/contact_methods/PC" + u.ID[min(1, len(u.ID)):]),
		}},
		"notification_rules": []Reference{},
	}
}

func (s *Sim) renderService(svc *Service) map[string]any {
	m := map[string]any{
		"id": svc.ID, "type": "service", "summary": svc.Name,
		"self": s.self("/services/" + svc.ID), "html_url": s.html("/service-directory/" + svc.ID),
		"name": svc.Name, "description": nilIfEmpty(svc.Description),
		"auto_resolve_timeout": 14400, "acknowledgement_timeout": 1800,
		"created_at": ts(svc.CreatedAt), "updated_at": ts(svc.CreatedAt), "status": svc.Status,
		"alert_creation": "create_alerts_and_incidents",
		"integrations":   []Reference{},
		"teams":          s.teamRefs(svc.TeamIDs),
		"incident_urgency_rule": map[string]any{
			"type": "constant", "urgency": "high",
		},
		"last_incident_timestamp": nil,
	}
	if svc.EscalationPolicyID != "" {
		m["escalation_policy"] = s.epRef(svc.EscalationPolicyID)
	} else {
		m["escalation_policy"] = nil
	}
	var last time.Time
	for st := range s.incidents.all() {
		if st.ServiceID == svc.ID && st.CreatedAt.After(last) {
			last = st.CreatedAt
		}
	}
	m["last_incident_timestamp"] = tsOrNil(last)
	return m
}

func (s *Sim) renderPolicy(ep *EscalationPolicy) map[string]any {
	targets := []Reference{}
	for _, id := range ep.UserIDs {
		targets = append(targets, s.userRef(id))
	}
	services := []Reference{}
	for svc := range s.services.all() {
		if svc.EscalationPolicyID == ep.ID {
			services = append(services, s.serviceRef(svc.ID))
		}
	}
	return map[string]any{
		"id": ep.ID, "type": "escalation_policy", "summary": ep.Name,
		"self": s.self("/escalation_policies/" + ep.ID), "html_url": s.html("/escalation_policies/" + ep.ID),
		"name": ep.Name, "description": ep.Description,
		"on_call_handoff_notifications": "if_has_services",
		"escalation_rules": []map[string]any{{
			"id": "R" + ep.ID, "escalation_delay_in_minutes": ep.EscalationDelayInMinutes, "targets": targets,
		}},
		"services":  services,
		"num_loops": ep.NumLoops,
		"teams":     s.teamRefs(ep.TeamIDs),
	}
}

func (s *Sim) renderTeam(t *Team) map[string]any {
	return map[string]any{
		"id": t.ID, "type": "team", "summary": t.Name,
		"self": s.self("/teams/" + t.ID), "html_url": s.html("/teams/" + t.ID),
		"name": t.Name, "description": nilIfEmpty(t.Description), "parent": nil,
	}
}

func (s *Sim) renderPriority(p *Priority) map[string]any {
	return map[string]any{
		"id": p.ID, "type": "priority", "summary": p.Name, "self": s.self("/priorities/" + p.ID),
		"name": p.Name, "description": p.Description,
	}
}

func (s *Sim) renderIncident(st *incidentState) map[string]any {
	assignments := []map[string]any{}
	for _, id := range st.AssigneeIDs {
		assignments = append(assignments, map[string]any{"at": ts(st.assignedAt), "assignee": s.userRef(id)})
	}
	acks := []map[string]any{}
	for _, a := range st.acks {
		acks = append(acks, map[string]any{"at": ts(a.at), "acknowledger": s.userRef(a.userID)})
	}
	counts := map[string]int{"all": 0, "triggered": 0, "resolved": 0}
	for _, a := range st.alerts {
		counts["all"]++
		if a.Status == "resolved" {
			counts["resolved"]++
		} else {
			counts["triggered"]++
		}
	}
	m := map[string]any{
		"id": st.ID, "type": "incident", "summary": incidentSummary(st),
		"self": s.self("/incidents/" + st.ID), "html_url": s.html("/incidents/" + st.ID),
		"incident_number": st.Number, "title": st.Title, "description": st.Title,
		"created_at": ts(st.CreatedAt), "updated_at": ts(st.updatedAt),
		"status": st.Status, "incident_key": nilIfEmpty(st.IncidentKey),
		"service":               s.serviceRef(st.ServiceID),
		"assignments":           assignments,
		"assigned_via":          "escalation_policy",
		"acknowledgements":      acks,
		"last_status_change_at": ts(st.lastChangeAt),
		"last_status_change_by": st.lastChangeBy,
		"resolved_at":           tsOrNil(st.resolvedAt),
		"first_trigger_log_entry": Reference{
			ID: st.firstLogID, Type: "trigger_log_entry_reference", Summary: "Triggered through the API",
			Self:    s.self("/log_entries/" + st.firstLogID + "?incident_id=" + st.ID),
			HTMLURL: s.html("/incidents/" + st.ID + "/log_entries/" + st.firstLogID),
		},
		"alert_counts":         counts,
		"is_mergeable":         true,
		"incident_type":        map[string]any{"name": st.IncidentType},
		"escalation_policy":    nil,
		"teams":                s.teamRefs(st.TeamIDs),
		"pending_actions":      []any{},
		"priority":             nil,
		"resolve_reason":       nil,
		"incidents_responders": []any{},
		"responder_requests":   []any{},
		"urgency":              st.Urgency,
	}
	if st.Description != "" {
		m["description"] = st.Description
	}
	if st.EscalationPolicyID != "" {
		m["escalation_policy"] = s.epRef(st.EscalationPolicyID)
	}
	if st.PriorityID != "" {
		m["priority"] = s.priorityRef(st.PriorityID)
	}
	if st.ResolveReason != "" {
		m["resolve_reason"] = map[string]any{"type": st.ResolveReason + "_resolve_reason"}
	}
	if st.ConferenceBridge != nil {
		m["conference_bridge"] = st.ConferenceBridge
	}
	return m
}

func (s *Sim) renderAlert(st *incidentState, a *Alert) map[string]any {
	body := map[string]any{"type": "alert_body", "contexts": []any{}, "details": map[string]any{}}
	if a.Contexts != nil {
		body["contexts"] = a.Contexts
	}
	if a.Details != nil {
		body["details"] = a.Details
	}
	if a.CEFDetails != nil {
		body["cef_details"] = a.CEFDetails
	}
	ir := s.incidentRef(st)
	return map[string]any{
		"id": a.ID, "type": "alert", "summary": a.Summary,
		"self":       s.self("/incidents/" + st.ID + "/alerts/" + a.ID),
		"html_url":   s.html("/alerts/" + a.ID),
		"created_at": ts(a.CreatedAt), "status": a.Status, "alert_key": a.AlertKey,
		"service": s.serviceRef(a.ServiceID), "body": body, "incident": ir,
		"suppressed": a.Suppressed, "severity": a.Severity,
	}
}

func (s *Sim) renderLogEntry(st *incidentState, le *LogEntry) map[string]any {
	m := map[string]any{
		"id": le.ID, "type": le.Type, "summary": le.Summary,
		"self":       s.self("/log_entries/" + le.ID + "?incident_id=" + st.ID),
		"html_url":   s.html("/incidents/" + st.ID + "/log_entries/" + le.ID),
		"created_at": ts(le.CreatedAt),
		"agent":      s.agentRef(le.AgentType, le.AgentID),
		"channel":    le.Channel,
		"incident":   s.incidentRef(st),
		"teams":      s.teamRefs(st.TeamIDs),
		"contexts":   []any{},
	}
	if le.Type == "trigger_log_entry" {
		m["event_details"] = map[string]any{"description": st.Title}
	}
	return m
}

func (s *Sim) renderChangeEvent(ce *ChangeEvent) map[string]any {
	svcs := []map[string]any{}
	for _, id := range ce.ServiceIDs {
		svcs = append(svcs, map[string]any{"id": id, "type": "service_reference"})
	}
	links := ce.Links
	if links == nil {
		links = []Link{}
	}
	details := ce.CustomDetails
	if details == nil {
		details = map[string]any{}
	}
	m := map[string]any{
		"id": ce.ID, "type": "change_event", "summary": ce.Summary, "source": ce.Source,
		"timestamp": ts(ce.Timestamp), "services": svcs, "custom_details": details, "links": links,
	}
	if ce.IntegrationID != "" {
		m["integration"] = map[string]any{"id": ce.IntegrationID, "type": "inbound_integration_reference"}
	}
	return m
}

func renderDependency(d *ServiceDependency) map[string]any {
	return map[string]any{
		"id": d.ID, "type": "service_dependency",
		"supporting_service": map[string]any{"id": d.SupportingServiceID, "type": d.SupportingServiceType},
		"dependent_service":  map[string]any{"id": d.DependentServiceID, "type": d.DependentServiceType},
	}
}

// sortIncidents orders incidents by creation time then number.
func sortIncidents(list []*incidentState) {
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].CreatedAt.Equal(list[j].CreatedAt) {
			return list[i].CreatedAt.Before(list[j].CreatedAt)
		}
		return list[i].Number < list[j].Number
	})
}
