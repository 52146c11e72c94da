package pdsim

import "time"

// Well-known demo credentials and ids created by Seed. They are fake.
const (
	// DemoUserToken is a user-level, write-capable key of DemoAdminID.
	DemoUserToken = "u+pdsim-demo-user-token"
	// DemoObserverToken is a user-level key of an observer (writes: 403).
	DemoObserverToken = "u+pdsim-demo-observer-token"
	// DemoAccountToken is an account-level, write-capable key (writes
	// need a From header naming a user's email).
	DemoAccountToken = "pdsim-demo-account-token"
	// DemoReadOnlyToken is an account-level read-only key.
	DemoReadOnlyToken = "pdsim-demo-readonly-token"

	DemoOAuthClientID     = "pdsim-demo-client"
	DemoOAuthClientSecret = "pdsim-demo-secret"

	DemoOwnerID      = "POWNER1"
	DemoAdminID      = "PADMIN1"
	DemoResponderID  = "PRESP01"
	DemoLimitedID    = "PLIMIT1"
	DemoObserverID   = "POBSRV1"
	DemoReadOnlyID   = "PREADO1"
	DemoRestrictedID = "PRESTR1"

	DemoTeamPlatformID = "PTEAM01"
	DemoTeamPaymentsID = "PTEAM02"
	DemoPolicyID       = "PEPOL01"

	DemoPaymentsServiceID = "PSVC001"
	DemoCheckoutServiceID = "PSVC002"
	DemoDatabaseServiceID = "PSVC003"
	DemoAuthServiceID     = "PSVC004"

	// DemoIncidentID (#1) is triggered on payments-api with alerts, custom
	// fields, change events before it, related and past incidents.
	DemoIncidentID = "PINC001"
)

// Seed adds demo data: an account of seven users covering the roles
// (owner, admin, user, limited_user, observer, read_only_user,
// restricted_access), the Demo* API keys, an OAuth app (any redirect URI),
// two teams, priorities P1-P5, an escalation policy, four services with
// dependencies, four incidents (triggered, acknowledged, two resolved) with
// alerts, custom fields and change events, and every ability including
// related/past incidents. Times are relative to the sim clock.
func (s *Sim) Seed() {
	now := s.now().UTC().Truncate(time.Second)

	s.AddTeam(Team{ID: DemoTeamPlatformID, Name: "Platform", Description: "Databases and shared infrastructure"})
	s.AddTeam(Team{ID: DemoTeamPaymentsID, Name: "Payments", Description: "Payments and checkout"})

	users := []User{
		{ID: DemoOwnerID, Name: "Olivia Owner", Email: "olivia.owner@acme.example", Role: RoleOwner, JobTitle: "CTO"},
		{ID: DemoAdminID, Name: "Ada Admin", Email: "ada.admin@acme.example", Role: RoleAdmin, JobTitle: "SRE Lead", TeamIDs: []string{DemoTeamPlatformID}},
		{ID: DemoResponderID, Name: "Riley Responder", Email: "riley.responder@acme.example", Role: RoleUser, JobTitle: "Engineer", TeamIDs: []string{DemoTeamPaymentsID}},
		{ID: DemoLimitedID, Name: "Lee Limited", Email: "lee.limited@acme.example", Role: RoleLimitedUser, TeamIDs: []string{DemoTeamPaymentsID}},
		{ID: DemoObserverID, Name: "Omar Observer", Email: "omar.observer@acme.example", Role: RoleObserver},
		{ID: DemoReadOnlyID, Name: "Rita Readonly", Email: "rita.readonly@acme.example", Role: RoleReadOnlyUser},
		{ID: DemoRestrictedID, Name: "Remy Restricted", Email: "remy.restricted@acme.example", Role: RoleRestrictedAccess},
	}
	for _, u := range users {
		u.TimeZone = "Europe/Paris"
		s.AddUser(u)
	}
	s.AddAPIKey(APIKey{Token: DemoUserToken, UserID: DemoAdminID, Description: "demo user key (Ada Admin)"})
	s.AddAPIKey(APIKey{Token: DemoObserverToken, UserID: DemoObserverID, Description: "demo user key (Omar Observer)"})
	s.AddAPIKey(APIKey{Token: DemoAccountToken, Description: "demo account key (full access)"})
	s.AddAPIKey(APIKey{Token: DemoReadOnlyToken, ReadOnly: true, Description: "demo account key (read-only)"})
	s.AddOAuthApp(OAuthApp{ClientID: DemoOAuthClientID, ClientSecret: DemoOAuthClientSecret, Name: "Aurora Hub (demo)"})

	prio := []Priority{
		{ID: "PPRIO01", Name: "P1", Description: "Critical issue that warrants public notification"},
		{ID: "PPRIO02", Name: "P2", Description: "Critical system issue impacting many customers"},
		{ID: "PPRIO03", Name: "P3", Description: "Stability or minor customer-impacting issues"},
		{ID: "PPRIO04", Name: "P4", Description: "Minor issues"},
		{ID: "PPRIO05", Name: "P5", Description: "Cosmetic issues"},
	}
	for _, p := range prio {
		s.AddPriority(p)
	}

	s.AddEscalationPolicy(EscalationPolicy{
		ID: DemoPolicyID, Name: "Default Escalation Policy", Description: "Ada, then Riley",
		UserIDs: []string{DemoAdminID, DemoResponderID}, NumLoops: 2,
	})
	created := now.Add(-90 * 24 * time.Hour)
	s.AddService(Service{ID: DemoPaymentsServiceID, Name: "payments-api", Description: "Card payments API", EscalationPolicyID: DemoPolicyID, TeamIDs: []string{DemoTeamPaymentsID}, CreatedAt: created})
	s.AddService(Service{ID: DemoCheckoutServiceID, Name: "checkout-web", Description: "Checkout front end", EscalationPolicyID: DemoPolicyID, TeamIDs: []string{DemoTeamPaymentsID}, CreatedAt: created})
	s.AddService(Service{ID: DemoDatabaseServiceID, Name: "postgres-primary", Description: "Primary PostgreSQL cluster", EscalationPolicyID: DemoPolicyID, TeamIDs: []string{DemoTeamPlatformID}, CreatedAt: created})
	s.AddService(Service{ID: DemoAuthServiceID, Name: "auth-service", Description: "Login and tokens", EscalationPolicyID: DemoPolicyID, TeamIDs: []string{DemoTeamPlatformID}, CreatedAt: created})

	// checkout-web depends on payments-api, which depends on postgres-primary
	// and auth-service.
	s.AddServiceDependency(ServiceDependency{ID: "D1PAYDB0000001", SupportingServiceID: DemoDatabaseServiceID, DependentServiceID: DemoPaymentsServiceID})
	s.AddServiceDependency(ServiceDependency{ID: "D2PAYAUTH00002", SupportingServiceID: DemoAuthServiceID, DependentServiceID: DemoPaymentsServiceID})
	s.AddServiceDependency(ServiceDependency{ID: "D3CHKPAY000003", SupportingServiceID: DemoPaymentsServiceID, DependentServiceID: DemoCheckoutServiceID})

	// Older incidents first so that numbers follow time.
	s.AddIncident(Incident{
		ID: "PINC004", Number: 1, Title: "High error rate on payments-api", Status: "resolved", Urgency: "high",
		ServiceID: DemoPaymentsServiceID, PriorityID: "PPRIO02", IncidentKey: "payments-api/http-5xx",
		CreatedAt: now.Add(-10 * 24 * time.Hour),
	})
	s.AddIncident(Incident{
		ID: "PINC003", Number: 2, Title: "Replication lag on postgres-primary", Status: "resolved", Urgency: "low",
		ServiceID: DemoDatabaseServiceID, IncidentKey: "postgres-primary/replication-lag",
		CreatedAt: now.Add(-3 * 24 * time.Hour),
	})
	s.AddIncident(Incident{
		ID: "PINC002", Number: 3, Title: "Checkout latency above SLO", Status: "acknowledged", Urgency: "high",
		ServiceID: DemoCheckoutServiceID, PriorityID: "PPRIO03", IncidentKey: "checkout-web/latency-slo",
		AssigneeIDs: []string{DemoResponderID}, CreatedAt: now.Add(-50 * time.Minute),
	})
	s.AddIncident(Incident{
		ID: DemoIncidentID, Number: 4, Title: "High error rate on payments-api", Status: "triggered", Urgency: "high",
		ServiceID: DemoPaymentsServiceID, PriorityID: "PPRIO01", IncidentKey: "payments-api/http-5xx",
		CreatedAt:        now.Add(-20 * time.Minute),
		ConferenceBridge: &ConferenceBridge{ConferenceNumber: "+1-415-555-1212,,,,1234#", ConferenceURL: "https://meet.acme.example/payments-war-room"},
	})

	s.AddAlert(Alert{
		ID: "QALERT00000001", IncidentID: DemoIncidentID, AlertKey: "payments-api/http-5xx", Severity: "critical",
		Summary: "5xx rate 12% on payments-api (threshold 2%)", CreatedAt: now.Add(-20 * time.Minute),
		Contexts: []map[string]any{{"type": "link", "href": "https://grafana.acme.example/d/payments", "text": "Payments dashboard"}},
		Details:  map[string]any{"error_rate": 0.12, "threshold": 0.02, "region": "eu-west-1", "top_error": "upstream connect error: postgres-primary"},
		CEFDetails: map[string]any{
			"event_class": "http_5xx", "severity": "critical", "source_component": "payments-api",
			"source_origin": "prometheus", "reporter_component": "alertmanager", "version": "1.0",
			"details": map[string]any{"error_rate": 0.12},
		},
	})
	s.AddAlert(Alert{
		ID: "QALERT00000002", IncidentID: DemoIncidentID, AlertKey: "payments-api/latency-p99", Severity: "warning",
		Summary: "p99 latency 2.4s on payments-api", CreatedAt: now.Add(-18 * time.Minute),
		Details: map[string]any{"p99_ms": 2400, "region": "eu-west-1"},
	})
	s.AddAlert(Alert{
		ID: "QALERT00000003", IncidentID: "PINC002", AlertKey: "checkout-web/latency-slo", Severity: "error",
		Summary: "Checkout p95 latency above SLO for 15 minutes", CreatedAt: now.Add(-50 * time.Minute),
		Details: map[string]any{"p95_ms": 1800, "slo_ms": 800},
	})
	s.AddAlert(Alert{
		ID: "QALERT00000004", IncidentID: "PINC004", AlertKey: "payments-api/http-5xx", Status: "resolved",
		Summary: "5xx rate 6% on payments-api", CreatedAt: now.Add(-10 * 24 * time.Hour),
		Details: map[string]any{"error_rate": 0.06},
	})

	s.SetCustomFieldValues(DemoIncidentID, []CustomFieldValue{
		{ID: "PCFENV1", Name: "environment", DisplayName: "Environment", DataType: "string", FieldType: "single_value_fixed", Value: "production"},
		{ID: "PCFREG1", Name: "regions", DisplayName: "Affected regions", DataType: "string", FieldType: "multi_value", Value: []any{"eu-west-1"}},
		{ID: "PCFIMP1", Name: "customer_impact", DisplayName: "Customer impact", DataType: "boolean", FieldType: "single_value", Value: true},
		{ID: "PCFTKT1", Name: "ticket", DisplayName: "Ticket", DataType: "string", FieldType: "single_value", Value: nil},
	})
	s.SetRelatedIncidents(DemoIncidentID, []RelatedIncident{{
		IncidentID: "PINC002",
		Relationships: []Relationship{{Type: "service_dependency", Metadata: map[string]any{
			"dependent_services":  []any{map[string]any{"id": DemoCheckoutServiceID, "type": "technical_service_reference"}},
			"supporting_services": []any{map[string]any{"id": DemoPaymentsServiceID, "type": "technical_service_reference"}},
		}}},
	}})

	s.AddChangeEvent(ChangeEvent{
		ID: "01JDEMOCHANGE0000000000001", Summary: "Deploy payments-api v1.42.0", Source: "github-actions",
		Timestamp: now.Add(-35 * time.Minute), ServiceIDs: []string{DemoPaymentsServiceID}, IntegrationID: "PINTG01",
		CustomDetails: map[string]any{"version": "1.42.0", "commit": "3f2c1ab", "author": "riley.responder"},
		Links:         []Link{{Href: "https://github.example/acme/payments-api/releases/v1.42.0", Text: "Release v1.42.0"}},
	})
	s.AddChangeEvent(ChangeEvent{
		ID: "01JDEMOCHANGE0000000000002", Summary: "postgres-primary: max_connections 200 -> 100", Source: "terraform",
		Timestamp: now.Add(-2 * time.Hour), ServiceIDs: []string{DemoDatabaseServiceID}, IntegrationID: "PINTG02",
		CustomDetails: map[string]any{"change": "max_connections", "from": 200, "to": 100},
	})
	s.AddChangeEvent(ChangeEvent{
		ID: "01JDEMOCHANGE0000000000003", Summary: "Deploy payments-api v1.41.3", Source: "github-actions",
		Timestamp: now.Add(-26 * time.Hour), ServiceIDs: []string{DemoPaymentsServiceID}, IntegrationID: "PINTG01",
		CustomDetails: map[string]any{"version": "1.41.3"},
	})

	s.SetAbilities(append(copyStrings(DefaultAbilities), AbilityRelatedIncidents, AbilityPastIncidents)...)
}
