package rca

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/sdk"
)

var trigger = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return trigger.Add(d) }

func ptr[T any](v T) *T { return &v }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func baseIncident() hub.IncidentDetail {
	return hub.IncidentDetail{
		Incident: hub.Incident{
			ID: "inc-1", Provider: "pagerduty", ExternalID: "PINC1", Number: 456,
			Title: "High error rate on payments-api", Status: hub.IncidentInvestigating, Severity: hub.SeverityCritical,
			Service:   &hub.Reference{ID: "PPAY", Summary: "payments-api"},
			StartedAt: at(5 * time.Second), AlertFiredAt: trigger,
		},
		Timeline: []hub.TimelineEntry{
			{EventID: "e1", Type: "incident.triggered", OccurredAt: trigger},
			{EventID: "e2", Type: "incident.acknowledged", OccurredAt: at(3 * time.Minute), Agent: &hub.Reference{Summary: "Jane Doe"}},
			{EventID: "e3", Type: "incident.annotated", OccurredAt: at(4 * time.Minute)},
			{EventID: "e4", Type: "incident.resolved", OccurredAt: at(40 * time.Minute)},
		},
	}
}

func changeEvent(id, summary string, when time.Time, serviceID string) sdk.Evidence {
	return sdk.Evidence{
		Kind: sdk.EvidenceChangeEvent, ID: id, Summary: summary, At: when,
		Service: &sdk.Reference{ID: serviceID, Type: "service_reference"},
		Data: mustJSON(map[string]any{
			"id": id, "type": "change_event", "summary": summary, "source": "github-actions",
			"timestamp": when.Format(time.RFC3339), "services": []any{map[string]any{"id": serviceID, "type": "service_reference"}},
			"links":          []any{map[string]any{"href": "https://github.com/acme/payments/actions/runs/42", "text": "Build 42"}},
			"custom_details": map[string]any{"version": "2.3.1", "author": "alice"},
		}),
	}
}

func alert(id, summary string, when time.Time, serviceID, errText string) sdk.Evidence {
	details := map[string]any{"region": "eu-west-1"}
	if errText != "" {
		details["error"] = errText
	}
	return sdk.Evidence{
		Kind: sdk.EvidenceAlert, ID: id, Summary: summary, At: when, DedupKey: "key-" + id,
		Service: &sdk.Reference{ID: serviceID, Type: "service_reference"},
		Data: mustJSON(map[string]any{
			"id": id, "type": "alert", "summary": summary, "created_at": when.Format(time.RFC3339), "alert_key": "key-" + id,
			"body": map[string]any{"type": "alert_body", "details": details},
		}),
	}
}

func dependency(id string, supporting, dependent *sdk.Reference, other *sdk.Reference, summary string) sdk.Evidence {
	return sdk.Evidence{
		Kind: sdk.EvidenceDependency, ID: id, Summary: summary, Service: other,
		Data: mustJSON(map[string]any{
			"id": id, "type": "service_dependency",
			"supporting_service": map[string]any{"id": supporting.ID, "type": "technical_service_reference"},
			"dependent_service":  map[string]any{"id": dependent.ID, "type": "technical_service_reference"},
		}),
	}
}

var (
	payments = &sdk.Reference{ID: "PPAY", Summary: "payments-api"}
	postgres = &sdk.Reference{ID: "PPG", Summary: "postgres-primary"}
	checkout = &sdk.Reference{ID: "PCHK", Summary: "checkout-web"}
)

func deployInput() Input {
	return Input{
		Incident: baseIncident(),
		Evidence: []sdk.Evidence{
			alert("A1", "High error rate on payments-api", at(0), "PPAY", "connection refused: postgres-primary:5432 (conn 17)"),
			alert("A2", "High error rate on payments-api", at(30*time.Second), "PPAY", "connection refused: postgres-primary:5432 (conn 91)"),
			alert("A3", "High error rate on payments-api", at(time.Minute), "PPAY", ""),
			changeEvent("CE-old", "Deploy payments-api v2.2.9", at(-90*time.Minute), "PPAY"),
			changeEvent("CE-flag", "Enable feature flag new_checkout", at(-55*time.Minute), "PPAY"),
			changeEvent("CE1", "Deploy payments-api v2.3.1", at(-4*time.Minute), "PPAY"),
			changeEvent("CE-search", "Deploy search v9", at(-time.Minute), "PSEARCH"),
			dependency("D1", postgres, payments, postgres, "depends on postgres-primary"),
			dependency("D2", payments, checkout, checkout, "checkout-web depends on this service"),
			{Kind: sdk.EvidencePastIncident, ID: "Q1", Summary: "High error rate on payments-api", At: time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC),
				Data: mustJSON(map[string]any{"incident": map[string]any{"id": "Q1", "title": "High error rate on payments-api",
					"created_at": "2026-02-01T09:00:00Z", "html_url": "https://acme.pagerduty.com/incidents/Q1"}, "score": 82})},
		},
		Related: []hub.Incident{{
			ID: "inc-0", Provider: "pagerduty", ExternalID: "Q1", Number: 123, Title: "High error rate on payments-api",
			Status: hub.IncidentResolved, ResolvedAt: ptr(time.Date(2026, 2, 1, 9, 40, 0, 0, time.UTC)), ResolveReason: "rolled back v2.1",
		}},
	}
}

func analyze(t *testing.T, in Input) *Report {
	t.Helper()
	r, err := NewBuiltin().Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Analyzer != AnalyzerBuiltin || r.GeneratedAt.IsZero() || r.Model != "" || r.FallbackReason != "" {
		t.Errorf("report meta: %+v", r)
	}
	for i := 1; i < len(r.Causes); i++ {
		if r.Causes[i].Confidence > r.Causes[i-1].Confidence {
			t.Errorf("causes not ranked: %+v", r.Causes)
		}
	}
	for i := 1; i < len(r.Timeline); i++ {
		if r.Timeline[i].At.Before(r.Timeline[i-1].At) {
			t.Errorf("timeline not sorted: %+v", r.Timeline)
		}
	}
	for _, c := range r.Causes {
		if c.Confidence < 0 || c.Confidence > 1 {
			t.Errorf("confidence out of range: %+v", c)
		}
	}
	return r
}

func dump(r *Report) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

func TestBuiltinDeployBeforeTrigger(t *testing.T) {
	r := analyze(t, deployInput())
	top := r.Causes[0]
	const want = "Deploy of payments-api 4 minutes before the trigger"
	if top.Title != want || !slices.Equal(top.EvidenceIDs, []string{"CE1"}) {
		t.Fatalf("top cause = %+v\n%s", top, dump(r))
	}
	if top.Confidence < 0.7 {
		t.Errorf("top confidence %v", top.Confidence)
	}
	if !strings.Contains(r.Summary, want) || !strings.Contains(r.Summary, "High error rate on payments-api") {
		t.Errorf("summary = %q", r.Summary)
	}
	if !strings.Contains(strings.Join(top.Evidence, "\n"), `"Deploy payments-api v2.3.1"`) ||
		!strings.Contains(strings.Join(top.Evidence, "\n"), "https://github.com/acme/payments/actions/runs/42") {
		t.Errorf("evidence lines = %q", top.Evidence)
	}
	titles := map[string]Cause{}
	for _, c := range r.Causes {
		titles[c.Title] = c
	}
	flag, ok := titles["Config change on payments-api 55 minutes before the trigger"]
	if !ok || flag.Confidence >= top.Confidence {
		t.Errorf("older config change: %+v (all %v)", flag, slices.Collect(mapsKeys(titles)))
	}
	for title := range titles {
		if strings.Contains(title, "v2.2.9") || strings.Contains(title, "search") {
			t.Errorf("unexpected cause %q", title)
		}
	}
	sig, ok := titles[`Repeated error in 2 alerts: "connection refused: postgres-primary:5432 (conn 17)"`]
	if !ok || !strings.Contains(strings.Join(sig.Evidence, " "), "postgres-primary") {
		t.Errorf("signature cause missing: %v", slices.Collect(mapsKeys(titles)))
	}
	sim, ok := titles["Similar to #123 (resolved 2026-02-01)"]
	if !ok || !slices.Contains(sim.EvidenceIDs, "Q1") || !strings.Contains(strings.Join(sim.Evidence, "\n"), "rolled back v2.1") {
		t.Errorf("similar cause: %+v (all %v)", sim, slices.Collect(mapsKeys(titles)))
	}
	if len(r.RelatedIncidents) != 1 || !strings.HasPrefix(r.RelatedIncidents[0], "#123: High error rate on payments-api (resolved 2026-02-01)") {
		t.Errorf("related = %q", r.RelatedIncidents)
	}
	steps := strings.Join(r.NextSteps, "\n")
	if !strings.HasPrefix(r.NextSteps[0], `Check the deploy "Deploy payments-api v2.3.1" on payments-api at 09:56 UTC: roll back if`) {
		t.Errorf("next steps = %q", r.NextSteps)
	}
	if r.RunbookURL != "" || strings.Contains(steps, "runbook") {
		t.Errorf("no runbook expected: %q", r.RunbookURL)
	}
	var whats []string
	for _, it := range r.Timeline {
		whats = append(whats, it.At.Format("15:04:05")+" "+it.What)
	}
	tl := strings.Join(whats, "\n")
	for _, want := range []string{
		"08:30:00 Deploy on payments-api: Deploy payments-api v2.2.9",
		"09:56:00 Deploy on payments-api: Deploy payments-api v2.3.1",
		"10:00:00 Triggered: High error rate on payments-api",
		"10:03:00 Acknowledged by Jane Doe",
		"10:40:00 Resolved",
		"10:01:00 Alert: High error rate on payments-api",
	} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if strings.Count(tl, "Triggered") != 1 || strings.Contains(tl, "annotated") {
		t.Errorf("timeline:\n%s", tl)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, k := range sortedKeys(m) {
			if !yield(k) {
				return
			}
		}
	}
}

func TestBuiltinUpstreamDependencyAlerts(t *testing.T) {
	in := Input{
		Incident: baseIncident(),
		Evidence: []sdk.Evidence{
			dependency("D1", postgres, payments, &sdk.Reference{ID: "PPG"}, "depends on PPG"),
			dependency("D2", payments, checkout, checkout, "checkout-web depends on this service"),
		},
		Correlated: []hub.Incident{
			// Alertmanager names the service by its label; PagerDuty by id.
			{ID: "c1", Provider: "alertmanager", Title: "PostgresReplicationLag", StartedAt: at(-2 * time.Minute),
				Service: &hub.Reference{ID: "postgres-primary", Summary: "postgres-primary"}},
			{ID: "c2", Provider: "alertmanager", Title: "PostgresTooManyConnections", StartedAt: at(-time.Minute),
				Service: &hub.Reference{ID: "postgres-primary", Summary: "postgres-primary"}},
			{ID: "c3", Provider: "pagerduty", Title: "Postgres primary CPU high", StartedAt: at(time.Minute),
				Service: &hub.Reference{ID: "PPG", Summary: "postgres-primary"}},
			// Same service (a storm) and downstream: not causes.
			{ID: "c4", Provider: "alertmanager", Title: "PaymentsHighLatency", StartedAt: at(time.Minute),
				Service: &hub.Reference{ID: "payments-api", Summary: "payments-api"}},
			{ID: "c5", Provider: "pagerduty", Title: "Checkout errors", StartedAt: at(2 * time.Minute), Service: &hub.Reference{ID: "PCHK"}},
		},
	}
	r := analyze(t, in)
	top := r.Causes[0]
	if top.Title != "3 correlated alerts on an upstream dependency (postgres-primary)" ||
		!slices.Equal(top.EvidenceIDs, []string{"c1", "c2", "c3"}) {
		t.Fatalf("top = %+v\n%s", top, dump(r))
	}
	if len(r.Causes) != 1 {
		t.Errorf("causes = %+v", r.Causes)
	}
	if !strings.Contains(r.Summary, top.Title) {
		t.Errorf("summary = %q", r.Summary)
	}
	if !slices.Contains(r.NextSteps, "Inspect postgres-primary: its alerts may be where this incident started.") {
		t.Errorf("next steps = %q", r.NextSteps)
	}
	var tl []string
	for _, it := range r.Timeline {
		tl = append(tl, it.What)
	}
	if !slices.Contains(tl, "Correlated alert on postgres-primary: PostgresReplicationLag") ||
		!slices.Contains(tl, "Correlated alert on checkout-web: Checkout errors") {
		t.Errorf("timeline = %q", tl)
	}

	// Alerts on services the evidence does not relate: a weak cause.
	in.Evidence = nil
	r = analyze(t, in)
	if r.Causes[0].Title != "4 correlated alerts on other services (PCHK, postgres-primary)" || r.Causes[0].Confidence > 0.35 {
		t.Errorf("without dependencies: %+v", r.Causes)
	}
}

func TestBuiltinRunbook(t *testing.T) {
	tests := []struct {
		name string
		in   func(*Input)
		want string
	}{
		{"runbook_link custom field", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{
				{Name: "team", ValueJSON: []byte(`"payments"`)},
				{Name: "runbook_link", ValueJSON: []byte(`"https://wiki.example.com/runbooks/payments"`)},
			}
		}, "https://wiki.example.com/runbooks/payments"},
		{"Runbook URL display name in evidence", func(in *Input) {
			in.Evidence = append(in.Evidence, sdk.Evidence{Kind: sdk.EvidenceCustomField, ID: "F1", Summary: "Runbook URL: ...",
				Data: []byte(`{"id":"F1","name":"runbook_url_field","display_name":"Runbook URL","value":"https://runbooks.example.com/pay"}`)})
		}, "https://runbooks.example.com/pay"},
		{"alertmanager annotation as a list", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{{Name: "runbook", Namespace: "annotations", ValueJSON: []byte(`["not a url","http://rb.local/x"]`)}}
		}, "http://rb.local/x"},
		{"runbook_link wins over runbook", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{
				{Name: "runbook", ValueJSON: []byte(`"https://b.example.com"`)},
				{Name: "Runbook Link", ValueJSON: []byte(`"https://a.example.com"`)},
			}
		}, "https://a.example.com"},
		{"unsafe scheme ignored", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{{Name: "runbook_link", ValueJSON: []byte(`"javascript:alert(1)"`)}}
		}, ""},
		{"upper-case, whitespace-prefixed and data: schemes ignored", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{
				{Name: "runbook_link", ValueJSON: []byte(`["  JAVASCRIPT:alert(1)","data:text/html,<script>alert(1)</script>","/relative/runbook"]`)},
			}
		}, ""},
		{"first safe entry of a list", func(in *Input) {
			in.Incident.CustomFields = []hub.IncidentCustomField{{Name: "runbook", ValueJSON: []byte(`["javascript:alert(1)"," https://rb.example.com/x"]`)}}
		}, "https://rb.example.com/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Incident: baseIncident()}
			tc.in(&in)
			r := analyze(t, in)
			if r.RunbookURL != tc.want {
				t.Fatalf("RunbookURL = %q, want %q", r.RunbookURL, tc.want)
			}
			hasStep := len(r.NextSteps) > 0 && r.NextSteps[0] == "Follow the runbook: "+tc.want
			if hasStep != (tc.want != "") {
				t.Errorf("next steps = %q", r.NextSteps)
			}
		})
	}
}

func TestBuiltinNoEvidence(t *testing.T) {
	in := Input{Incident: baseIncident()}
	r := analyze(t, in)
	if len(r.Causes) != 1 || r.Causes[0].Confidence > 0.1 || r.Causes[0].Title != "No specific cause found in the available evidence" {
		t.Fatalf("causes = %+v", r.Causes)
	}
	if !strings.Contains(r.Summary, "no specific cause") || !strings.Contains(r.Summary, "payments-api") {
		t.Errorf("summary = %q", r.Summary)
	}
	if len(r.NextSteps) < 2 || !strings.Contains(r.NextSteps[0], "payments-api around 10:00 UTC") {
		t.Errorf("next steps = %q", r.NextSteps)
	}
	if r.Causes[0].EvidenceIDs == nil || r.RelatedIncidents == nil {
		t.Errorf("nil lists: %s", dump(r))
	}

	in.Notes = []string{"Change events unavailable: the credentials lack permission or scope (HTTP 403)", "Past incidents not found (HTTP 404)"}
	r2 := analyze(t, in)
	if r2.Causes[0].Confidence >= r.Causes[0].Confidence {
		t.Errorf("notes should lower confidence: %v vs %v", r2.Causes[0].Confidence, r.Causes[0].Confidence)
	}
	if !strings.Contains(r2.Summary, "could not be gathered (Change events unavailable") || !strings.Contains(r2.Summary, "and 1 more") {
		t.Errorf("summary = %q", r2.Summary)
	}
	if !strings.Contains(strings.Join(r2.Causes[0].Evidence, "\n"), "Missing evidence: Past incidents not found") {
		t.Errorf("evidence = %q", r2.Causes[0].Evidence)
	}

	// A bare incident (no service, no times) still gets a report.
	r3 := analyze(t, Input{})
	if r3.Summary == "" || len(r3.Causes) != 1 || len(r3.Timeline) != 0 {
		t.Errorf("empty input: %s", dump(r3))
	}
}

func TestBuiltinNotesLowerConfidence(t *testing.T) {
	in := deployInput()
	plain := analyze(t, in)
	in.Notes = []string{"Alerts could not be read: PagerDuty answered HTTP 500"}
	noted := analyze(t, in)
	if noted.Causes[0].Title != plain.Causes[0].Title || noted.Causes[0].Confidence >= plain.Causes[0].Confidence {
		t.Errorf("%+v vs %+v", noted.Causes[0], plain.Causes[0])
	}
	if !strings.Contains(noted.Summary, "Alerts could not be read") {
		t.Errorf("summary = %q", noted.Summary)
	}
}

func TestBuiltinDeterministic(t *testing.T) {
	in := deployInput()
	for i := 0; i < 30; i++ {
		in.Correlated = append(in.Correlated, hub.Incident{ID: fmt.Sprintf("c%02d", i), Title: "PostgresDown",
			StartedAt: at(time.Duration(i) * time.Second), Service: &hub.Reference{ID: "postgres-primary", Summary: "postgres-primary"}})
	}
	a := analyze(t, in)
	for i := 0; i < 10; i++ {
		b := analyze(t, in)
		b.GeneratedAt = a.GeneratedAt
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("reports differ:\n%s\n%s", dump(a), dump(b))
		}
	}
	// Thirty correlated alerts: the timeline keeps 20 and sums up the rest.
	n := 0
	for _, it := range a.Timeline {
		if strings.HasPrefix(it.What, "Correlated alert") {
			n++
		}
		if it.What == "10 more correlated alerts, the last at 10:00 UTC" {
			n += 100
		}
	}
	if n != 120 {
		t.Errorf("timeline: %d", n)
	}
	if _, err := NewBuiltin().Analyze(canceled(), in); err == nil {
		t.Error("cancelled context should fail")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
