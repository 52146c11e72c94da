package pdsim

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is used for `self` links until SetBaseURL is called.
const DefaultBaseURL = "https://api.pagerduty.com"

// Options configures a Sim. Zero values take the documented defaults.
type Options struct {
	// Subdomain is the account subdomain used in html_url links
	// (https://<subdomain>.pagerduty.com/...). Default "acme".
	Subdomain string
	// BaseURL is the REST base for `self` links. Default DefaultBaseURL;
	// see also Sim.SetBaseURL.
	BaseURL string
	// RateLimitPerMinute is the per-token request budget. Default 960.
	RateLimitPerMinute int
	// WebhookRetryDelay is the delay before the first webhook retry; it
	// doubles on each further retry. Default 1s.
	WebhookRetryDelay time.Duration
	// WebhookMaxAttempts bounds the attempts per webhook. Default 3.
	WebhookMaxAttempts int
	// WebhookTimeout bounds one delivery attempt. Default 5s.
	WebhookTimeout time.Duration
	// WebhookClient sends webhooks. Default: a client with WebhookTimeout
	// that does not follow redirects.
	WebhookClient *http.Client
	// RequireHTTPSWebhooks makes POST /webhook_subscriptions reject http URLs.
	RequireHTTPSWebhooks bool
	// AccessTokenTTL is the OAuth access token lifetime. Default 24h.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the OAuth refresh token lifetime. Default 30 days.
	RefreshTokenTTL time.Duration
	// MissingAbilityStatus is the status of related/past incident reads when
	// the account lacks the ability: 403 (default, as the spec lists) or 402.
	MissingAbilityStatus int
	// MaxRecordedRequests bounds Requests() (oldest dropped). Default 10000.
	MaxRecordedRequests int
	// Now is the sim clock. Default time.Now.
	Now func() time.Time
}

// Sim is an in-memory PagerDuty: REST API v2, V3 webhooks and OAuth 2.0.
// It implements http.Handler and is safe for concurrent use.
type Sim struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	baseURL string

	users      table[User]
	keys       map[string]APIKey
	teams      table[Team]
	services   table[Service]
	policies   table[EscalationPolicy]
	priorities table[Priority]
	abilities  []string

	incidents    table[incidentState]
	changeEvents []*ChangeEvent
	deps         []*ServiceDependency

	subs table[subscription]

	faults   []*faultState
	requests []RecordedRequest
	reqSeq   uint64
	rate     map[string]*rateWindow

	oauth oauthState

	deliveries []*Delivery
	queues     map[string][]queuedEvent
	running    map[string]bool
	pending    int
	idle       chan struct{}
}

type incidentState struct {
	Incident
	updatedAt    time.Time
	resolvedAt   time.Time
	lastChangeAt time.Time
	lastChangeBy Reference
	assignedAt   time.Time
	acks         []ack
	firstLogID   string
	alerts       []*Alert
	logEntries   []*LogEntry
	notes        []note
	customFields []CustomFieldValue
	related      []RelatedIncident
	past         []PastIncident
	pastSet      bool
	reopenedAt   time.Time
}

type ack struct {
	at     time.Time
	userID string
}

type note struct {
	id      string
	userID  string
	content string
	at      time.Time
}

type faultState struct {
	Fault
	used int
}

type rateWindow struct {
	start time.Time
	count int
}

// New returns an empty Sim (no users, keys or services; see Seed).
func New(opts Options) *Sim {
	if opts.Subdomain == "" {
		opts.Subdomain = "acme"
	}
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	if opts.RateLimitPerMinute <= 0 {
		opts.RateLimitPerMinute = 960
	}
	if opts.WebhookRetryDelay <= 0 {
		opts.WebhookRetryDelay = time.Second
	}
	if opts.WebhookMaxAttempts <= 0 {
		opts.WebhookMaxAttempts = 3
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 5 * time.Second
	}
	if opts.WebhookClient == nil {
		opts.WebhookClient = &http.Client{
			Timeout: opts.WebhookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = 24 * time.Hour
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if opts.MissingAbilityStatus != http.StatusPaymentRequired {
		opts.MissingAbilityStatus = http.StatusForbidden
	}
	if opts.MaxRecordedRequests <= 0 {
		opts.MaxRecordedRequests = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		opts:       opts,
		ctx:        ctx,
		cancel:     cancel,
		baseURL:    strings.TrimRight(opts.BaseURL, "/"),
		users:      newTable[User](),
		keys:       map[string]APIKey{},
		teams:      newTable[Team](),
		services:   newTable[Service](),
		policies:   newTable[EscalationPolicy](),
		priorities: newTable[Priority](),
		abilities:  copyStrings(DefaultAbilities),
		incidents:  newTable[incidentState](),
		subs:       newTable[subscription](),
		rate:       map[string]*rateWindow{},
		queues:     map[string][]queuedEvent{},
		running:    map[string]bool{},
	}
	s.oauth.init()
	return s
}

// Close stops webhook deliveries in progress (retries are abandoned).
func (s *Sim) Close() { s.cancel() }

func (s *Sim) now() time.Time { return s.opts.Now() }

// SetBaseURL sets the base used for `self` links and the id_token issuer,
// typically the httptest server URL.
func (s *Sim) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimRight(u, "/")
}

// BaseURL returns the base used for `self` links.
func (s *Sim) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Subdomain returns the account subdomain.
func (s *Sim) Subdomain() string { return s.opts.Subdomain }

// ---- seeding -------------------------------------------------------------

// AddUser adds or replaces a user (ID generated when empty).
func (s *Sim) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.ID = orNewID(u.ID)
	if u.Role == "" {
		u.Role = RoleUser
	}
	if u.TimeZone == "" {
		u.TimeZone = "UTC"
	}
	if u.Color == "" {
		u.Color = "purple"
	}
	u.TeamIDs = copyStrings(u.TeamIDs)
	s.users.put(u.ID, &u)
	return u
}

// AddAPIKey adds or replaces an API key.
func (s *Sim) AddAPIKey(k APIKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.Token == "" {
		return
	}
	s.keys[k.Token] = k
}

// RemoveAPIKey deletes an API key; requests using it then answer 401.
func (s *Sim) RemoveAPIKey(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, token)
}

// AddTeam adds or replaces a team.
func (s *Sim) AddTeam(t Team) Team {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.ID = orNewID(t.ID)
	s.teams.put(t.ID, &t)
	return t
}

// AddService adds or replaces a service.
func (s *Sim) AddService(svc Service) Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc.ID = orNewID(svc.ID)
	if svc.Status == "" {
		svc.Status = "active"
	}
	if svc.CreatedAt.IsZero() {
		svc.CreatedAt = s.now()
	}
	svc.TeamIDs = copyStrings(svc.TeamIDs)
	s.services.put(svc.ID, &svc)
	return svc
}

// AddEscalationPolicy adds or replaces an escalation policy.
func (s *Sim) AddEscalationPolicy(ep EscalationPolicy) EscalationPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep.ID = orNewID(ep.ID)
	if ep.EscalationDelayInMinutes <= 0 {
		ep.EscalationDelayInMinutes = defaultEscalationMinutes
	}
	ep.UserIDs = copyStrings(ep.UserIDs)
	ep.TeamIDs = copyStrings(ep.TeamIDs)
	s.policies.put(ep.ID, &ep)
	return ep
}

// AddPriority adds or replaces an incident priority.
func (s *Sim) AddPriority(p Priority) Priority {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ID = orNewID(p.ID)
	s.priorities.put(p.ID, &p)
	return p
}

// SetAbilities replaces the account's abilities (GET /abilities).
func (s *Sim) SetAbilities(abilities ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abilities = copyStrings(abilities)
	if s.abilities == nil {
		s.abilities = []string{}
	}
}

// AddIncident adds or replaces an incident (see Incident for defaults) and
// writes its log entries. It sends no webhook; see EmitIncidentEvent.
func (s *Sim) AddIncident(inc Incident) Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.addIncidentLocked(inc, Reference{})
	return st.Incident
}

func (s *Sim) addIncidentLocked(inc Incident, actor Reference) *incidentState {
	now := s.now()
	if inc.ID == "" {
		inc.ID = newPDID()
	}
	if old, ok := s.incidents.byID[inc.ID]; ok && inc.Number == 0 {
		inc.Number = old.Number
	}
	if inc.Number <= 0 {
		inc.Number = s.nextIncidentNumber()
	}
	switch inc.Status {
	case "triggered", "acknowledged", "resolved":
	default:
		inc.Status = "triggered"
	}
	if inc.Urgency != "low" {
		inc.Urgency = "high"
	}
	if inc.EscalationPolicyID == "" {
		if svc, ok := s.services.byID[inc.ServiceID]; ok {
			inc.EscalationPolicyID = svc.EscalationPolicyID
		}
	}
	if inc.CreatedAt.IsZero() {
		inc.CreatedAt = now
	}
	if inc.IncidentType == "" {
		inc.IncidentType = "incident_default"
	}
	if inc.IncidentKey == "" {
		inc.IncidentKey = strings.ReplaceAll(newUUID(), "-", "")
	}
	if inc.AssigneeIDs == nil && inc.Status != "resolved" {
		if ep, ok := s.policies.byID[inc.EscalationPolicyID]; ok && len(ep.UserIDs) > 0 {
			inc.AssigneeIDs = []string{ep.UserIDs[0]}
		}
	}
	if inc.Status == "resolved" {
		inc.AssigneeIDs = nil
	}
	inc.AssigneeIDs = copyStrings(inc.AssigneeIDs)
	inc.TeamIDs = copyStrings(inc.TeamIDs)
	if inc.TeamIDs == nil {
		if svc, ok := s.services.byID[inc.ServiceID]; ok {
			inc.TeamIDs = copyStrings(svc.TeamIDs)
		}
	}
	st := &incidentState{Incident: inc, updatedAt: inc.CreatedAt, lastChangeAt: inc.CreatedAt, assignedAt: inc.CreatedAt}
	if old, ok := s.incidents.byID[inc.ID]; ok {
		st.alerts, st.customFields, st.related, st.past, st.pastSet = old.alerts, old.customFields, old.related, old.past, old.pastSet
	}
	if actor.ID == "" {
		actor = s.serviceRef(inc.ServiceID)
	}
	st.lastChangeBy = actor
	s.incidents.put(inc.ID, st)
	trigger := s.addLogLocked(st, "trigger_log_entry", "Triggered through the API", inc.CreatedAt, actor)
	st.firstLogID = trigger.ID
	if inc.Status != "triggered" {
		at := inc.CreatedAt.Add(2 * time.Minute)
		if inc.Status == "resolved" {
			at = inc.CreatedAt.Add(45 * time.Minute)
		}
		if at.After(now) {
			at = now
		}
		var by Reference
		if len(inc.AssigneeIDs) > 0 {
			by = s.userRef(inc.AssigneeIDs[0])
		} else if ep, ok := s.policies.byID[inc.EscalationPolicyID]; ok && len(ep.UserIDs) > 0 {
			by = s.userRef(ep.UserIDs[0])
		}
		if by.ID == "" {
			by = actor
		}
		if inc.Status == "acknowledged" {
			st.acks = append(st.acks, ack{at: at, userID: by.ID})
			s.addLogLocked(st, "acknowledge_log_entry", "Acknowledged by "+by.Summary, at, by)
		} else {
			st.resolvedAt = at
			s.addLogLocked(st, "resolve_log_entry", "Resolved by "+by.Summary, at, by)
		}
		st.lastChangeAt, st.updatedAt, st.lastChangeBy = at, at, by
	}
	return st
}

func (s *Sim) nextIncidentNumber() int {
	n := 0
	for st := range s.incidents.all() {
		if st.Number > n {
			n = st.Number
		}
	}
	return n + 1
}

func (s *Sim) addLogLocked(st *incidentState, typ, summary string, at time.Time, agent Reference) *LogEntry {
	le := &LogEntry{
		ID: newLongID(), IncidentID: st.ID, Type: typ, Summary: summary, CreatedAt: at,
		AgentID: agent.ID, AgentType: agent.Type, Channel: map[string]any{"type": "api"},
	}
	st.logEntries = append(st.logEntries, le)
	return le
}

// Incident returns a seeded or created incident by id or number.
func (s *Sim) Incident(idOrNumber string) (Incident, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(idOrNumber)
	if st == nil {
		return Incident{}, false
	}
	inc := st.Incident
	inc.AssigneeIDs = copyStrings(inc.AssigneeIDs)
	inc.TeamIDs = copyStrings(inc.TeamIDs)
	return inc, true
}

// Incidents returns all incidents in creation order.
func (s *Sim) Incidents() []Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Incident, 0, len(s.incidents.order))
	for st := range s.incidents.all() {
		inc := st.Incident
		inc.AssigneeIDs = copyStrings(inc.AssigneeIDs)
		inc.TeamIDs = copyStrings(inc.TeamIDs)
		out = append(out, inc)
	}
	return out
}

func (s *Sim) findIncident(idOrNumber string) *incidentState {
	if st, ok := s.incidents.byID[idOrNumber]; ok {
		return st
	}
	if n, err := atoiOr(idOrNumber, -1); err == nil && n > 0 {
		for st := range s.incidents.all() {
			if st.Number == n {
				return st
			}
		}
	}
	return nil
}

// AddAlert adds an alert to its incident (see Alert for defaults); false
// when the incident does not exist.
func (s *Sim) AddAlert(a Alert) (Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(a.IncidentID)
	if st == nil {
		return a, false
	}
	a.IncidentID = st.ID
	if a.ID == "" {
		a.ID = "Q" + randomString(idAlphabet, 13)
	}
	if a.Status == "" {
		a.Status = "triggered"
	}
	if a.Severity == "" {
		a.Severity = "critical"
	}
	if a.ServiceID == "" {
		a.ServiceID = st.ServiceID
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	if a.Summary == "" {
		a.Summary = st.Title
	}
	if a.AlertKey == "" {
		a.AlertKey = strings.ReplaceAll(newUUID(), "-", "")
	}
	a.Details = copyMap(a.Details)
	a.CEFDetails = copyMap(a.CEFDetails)
	cp := a
	st.alerts = append(st.alerts, &cp)
	return a, true
}

// AddLogEntry adds a log entry to its incident; false when it does not exist.
func (s *Sim) AddLogEntry(le LogEntry) (LogEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(le.IncidentID)
	if st == nil {
		return le, false
	}
	le.IncidentID = st.ID
	if le.ID == "" {
		le.ID = newLongID()
	}
	if le.Type == "" {
		le.Type = "annotate_log_entry"
	}
	if le.CreatedAt.IsZero() {
		le.CreatedAt = s.now()
	}
	if le.AgentID == "" {
		le.AgentID, le.AgentType = st.ServiceID, "service_reference"
	}
	if le.Channel == nil {
		le.Channel = map[string]any{"type": "api"}
	}
	cp := le
	st.logEntries = append(st.logEntries, &cp)
	return le, true
}

// AddChangeEvent adds a change event (ID generated, Timestamp now if zero).
func (s *Sim) AddChangeEvent(ce ChangeEvent) ChangeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ce.ID == "" {
		ce.ID = newULID()
	}
	if ce.Timestamp.IsZero() {
		ce.Timestamp = s.now()
	}
	ce.ServiceIDs = copyStrings(ce.ServiceIDs)
	ce.CustomDetails = copyMap(ce.CustomDetails)
	cp := ce
	s.changeEvents = append(s.changeEvents, &cp)
	return ce
}

// AddServiceDependency adds a dependency between two services.
func (s *Sim) AddServiceDependency(d ServiceDependency) ServiceDependency {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.ID == "" {
		d.ID = "D" + randomString(idAlphabet, 15)
	}
	if d.SupportingServiceType == "" {
		d.SupportingServiceType = "technical_service_reference"
	}
	if d.DependentServiceType == "" {
		d.DependentServiceType = "technical_service_reference"
	}
	cp := d
	s.deps = append(s.deps, &cp)
	return d
}

// SetCustomFieldValues replaces an incident's custom fields and values;
// false when the incident does not exist.
func (s *Sim) SetCustomFieldValues(incidentID string, values []CustomFieldValue) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(incidentID)
	if st == nil {
		return false
	}
	st.customFields = normalizeFields(values)
	return true
}

func normalizeFields(values []CustomFieldValue) []CustomFieldValue {
	out := make([]CustomFieldValue, len(values))
	for i, v := range values {
		if v.ID == "" {
			v.ID = newPDID()
		}
		if v.Type == "" {
			v.Type = "field_value"
		}
		if v.DataType == "" {
			v.DataType = "string"
		}
		if v.FieldType == "" {
			v.FieldType = "single_value"
		}
		out[i] = v
	}
	return out
}

// CustomFieldValues returns an incident's custom field values.
func (s *Sim) CustomFieldValues(incidentID string) []CustomFieldValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.findIncident(incidentID); st != nil {
		return append([]CustomFieldValue(nil), st.customFields...)
	}
	return nil
}

// SetRelatedIncidents sets what GET /incidents/{id}/related_incidents returns.
func (s *Sim) SetRelatedIncidents(incidentID string, related []RelatedIncident) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(incidentID)
	if st == nil {
		return false
	}
	st.related = append([]RelatedIncident(nil), related...)
	return true
}

// SetPastIncidents sets what GET /incidents/{id}/past_incidents returns.
// Without it the sim lists earlier incidents of the same service, scored by
// title similarity.
func (s *Sim) SetPastIncidents(incidentID string, past []PastIncident) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.findIncident(incidentID)
	if st == nil {
		return false
	}
	st.past = append([]PastIncident(nil), past...)
	st.pastSet = true
	return true
}

// ---- faults and recording -----------------------------------------------

// InjectFault queues a fault (see Fault). Faults are matched in the order
// injected.
func (s *Sim) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	f.Header = f.Header.Clone()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes all injected faults.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Sim) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.Path != "" {
			if strings.HasSuffix(f.Path, "*") {
				if !strings.HasPrefix(path, strings.TrimSuffix(f.Path, "*")) {
					continue
				}
			} else if cleanPath(f.Path) != path {
				continue
			}
		}
		f.used++
		out := f.Fault
		if f.Times > 0 && f.used >= f.Times {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &out
	}
	return nil
}

func writeFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" && f.Body != "" {
		b := strings.TrimSpace(f.Body)
		switch {
		case strings.HasPrefix(b, "{") || strings.HasPrefix(b, "["):
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		case strings.HasPrefix(b, "<"):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

// Requests returns a copy of the requests received so far, oldest first.
func (s *Sim) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Query = cloneValues(r.Query)
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Sim) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (s *Sim) record(r *http.Request, body []byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) >= s.opts.MaxRecordedRequests {
		n := len(s.requests) - s.opts.MaxRecordedRequests + 1
		s.requests = append(s.requests[:0:0], s.requests[n:]...)
	}
	s.requests = append(s.requests, RecordedRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, At: s.now(), seq: s.reqSeq + 1,
	})
	s.reqSeq++
	return s.reqSeq
}

// ---- rate limiting -------------------------------------------------------

// allow counts a request for key; when over budget it returns the seconds
// until the window resets.
func (s *Sim) allow(key string) (ok bool, remaining, reset int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	w := s.rate[key]
	if w == nil || !now.Before(w.start.Add(time.Minute)) {
		w = &rateWindow{start: now}
		s.rate[key] = w
	}
	w.count++
	limit := s.opts.RateLimitPerMinute
	reset = int(math.Ceil(w.start.Add(time.Minute).Sub(now).Seconds()))
	if reset < 1 {
		reset = 1
	}
	if w.count > limit {
		return false, 0, reset
	}
	return true, limit - w.count, reset
}

// ResetRateLimits clears every token's request count.
func (s *Sim) ResetRateLimits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = map[string]*rateWindow{}
}

// ---- HTTP entry point ----------------------------------------------------

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

const maxBodyBytes = 4 << 20

// ServeHTTP serves the REST API, /oauth/authorize and /oauth/token.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	var seq uint64
	defer func() {
		if v := recover(); v != nil {
			if sw.status == 0 {
				writeError(sw, http.StatusInternalServerError, fmt.Sprintf("Internal Server Error: %v", v), CodeInternal, nil)
			}
		}
		s.mu.Lock()
		for i := len(s.requests) - 1; i >= 0; i-- {
			if s.requests[i].seq == seq {
				s.requests[i].Status = sw.status
				break
			}
		}
		s.mu.Unlock()
	}()
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	}
	seq = s.record(r, body)
	if len(body) > maxBodyBytes {
		writeError(sw, http.StatusRequestEntityTooLarge, "Request Entity Too Large", CodeInvalidInput, nil)
		return
	}
	path := cleanPath(r.URL.Path)
	if f := s.takeFault(r.Method, path); f != nil {
		writeFault(sw, r, f)
		return
	}
	switch path {
	case "/oauth/authorize":
		s.handleAuthorize(sw, r)
		return
	case "/oauth/token":
		s.handleToken(sw, r, body)
		return
	}
	p := s.authenticate(r)
	if p == nil {
		writeError(sw, http.StatusUnauthorized, "Authentication failed", CodeAuthentication, nil)
		return
	}
	if ok, remaining, reset := s.allow(p.rateKey); !ok {
		sw.Header().Set("ratelimit-limit", fmt.Sprint(s.opts.RateLimitPerMinute))
		sw.Header().Set("ratelimit-remaining", fmt.Sprint(remaining))
		sw.Header().Set("ratelimit-reset", fmt.Sprint(reset))
		writeError(sw, http.StatusTooManyRequests, "Rate Limit Exceeded", CodeRateLimit, nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if p.readOnly {
			writeError(sw, http.StatusForbidden, accessDeniedMessage, CodeAccessDenied,
				[]string{"This API key is read-only: it may only make GET requests."})
			return
		}
		if role := s.roleOf(p.userID); readOnlyRole(role) {
			writeError(sw, http.StatusForbidden, accessDeniedMessage, CodeAccessDenied,
				[]string{fmt.Sprintf("Users with the %s role cannot perform this action.", role)})
			return
		}
	}
	rt, params := matchRoute(r.Method, path)
	if rt == nil {
		writeNotFound(sw)
		return
	}
	if !p.hasScope(rt.scope) {
		writeError(sw, http.StatusForbidden, accessDeniedMessage, CodeAccessDenied,
			[]string{fmt.Sprintf("The access token does not have the required scope %q.", rt.scope)})
		return
	}
	// A handler reads and changes the sim's state as one step.
	s.mu.Lock()
	defer s.mu.Unlock()
	rt.handle(s, &reqCtx{w: sw, r: r, p: p, params: params, body: body})
}

func readOnlyRole(role string) bool {
	switch role {
	case RoleReadOnlyUser, RoleReadOnlyLimitedUser, RoleObserver, RoleRestrictedAccess:
		return true
	}
	return false
}

func (s *Sim) roleOf(userID string) string {
	if userID == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users.byID[userID]; ok {
		return u.Role
	}
	return ""
}

// principal is who a request acts as.
type principal struct {
	rateKey  string
	userID   string // empty for account-level keys and client_credentials tokens
	readOnly bool
	oauth    bool
	scopes   map[string]bool
}

func (p *principal) hasScope(scope string) bool {
	if !p.oauth || scope == "" {
		return true
	}
	if p.scopes[scope] {
		return true
	}
	// Classic OAuth apps: "read" covers every *.read, "write" everything.
	if p.scopes["write"] {
		return true
	}
	return strings.HasSuffix(scope, ".read") && p.scopes["read"]
}

func (s *Sim) authenticate(r *http.Request) *principal {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	lower := strings.ToLower(h)
	switch {
	case strings.HasPrefix(lower, "token "):
		rest := strings.TrimSpace(h[len("token "):])
		if !strings.HasPrefix(strings.ToLower(rest), "token=") {
			return nil
		}
		tok := strings.Trim(strings.TrimSpace(rest[len("token="):]), `"`)
		s.mu.Lock()
		defer s.mu.Unlock()
		k, ok := s.keys[tok]
		if !ok || tok == "" {
			return nil
		}
		if k.UserID != "" {
			if _, ok := s.users.byID[k.UserID]; !ok {
				return nil
			}
		}
		return &principal{rateKey: "key:" + tok, userID: k.UserID, readOnly: k.ReadOnly}
	case strings.HasPrefix(lower, "bearer "):
		tok := strings.TrimSpace(h[len("bearer "):])
		s.mu.Lock()
		defer s.mu.Unlock()
		at, ok := s.oauth.access[tok]
		if !ok || tok == "" || !s.now().Before(at.expiresAt) {
			return nil
		}
		return &principal{rateKey: "oauth:" + tok, userID: at.userID, oauth: true, scopes: scopeSet(at.scope)}
	}
	return nil
}

func scopeSet(scope string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(scope) {
		m[f] = true
	}
	return m
}
