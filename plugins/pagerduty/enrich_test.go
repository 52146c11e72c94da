package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/hashicorp/go-hclog"
)

func kindsOf(en *sdk.Enrichment) map[string]int {
	out := map[string]int{}
	for _, ev := range en.Evidence {
		out[ev.Kind]++
	}
	return out
}

func demoEnrichRequest(t *testing.T, e *simEnv, creds sdk.Credentials) *sdk.EnrichRequest {
	inc, ok := e.sim.Incident(pdsim.DemoIncidentID)
	if !ok {
		t.Fatal("demo incident missing")
	}
	return &sdk.EnrichRequest{Credentials: creds, IncidentID: inc.ID, ServiceID: inc.ServiceID, TriggeredAt: inc.CreatedAt}
}

func TestEnrichFull(t *testing.T) {
	e := newSimEnv(t)
	req := demoEnrichRequest(t, e, apiToken(pdsim.DemoUserToken))
	en, err := e.p.Enrich(context.Background(), req)
	if err != nil {
		t.Fatalf("Enrich: %v", err)
	}
	if len(en.Notes) != 0 {
		t.Errorf("notes = %v", en.Notes)
	}
	kinds := kindsOf(en)
	for _, k := range []string{sdk.EvidenceAlert, sdk.EvidenceLogEntry, sdk.EvidenceCustomField, sdk.EvidenceChangeEvent, sdk.EvidenceDependency, sdk.EvidenceRelatedIncident, sdk.EvidencePastIncident} {
		if kinds[k] == 0 {
			t.Errorf("no %s evidence (kinds %v)", k, kinds)
		}
	}
	for _, ev := range en.Evidence {
		if ev.ID == "" || !json.Valid(ev.Data) {
			t.Errorf("evidence %+v", ev)
		}
		switch ev.Kind {
		case sdk.EvidenceAlert:
			if ev.DedupKey == "" || ev.At.IsZero() || ev.Service == nil || !strings.Contains(string(ev.Data), `"body"`) {
				t.Errorf("alert %+v data %s", ev, ev.Data)
			}
		case sdk.EvidenceChangeEvent:
			if ev.At.After(req.TriggeredAt) || ev.At.Before(req.TriggeredAt.Add(-time.Hour)) || ev.Service == nil {
				t.Errorf("change event outside the window or without service: %+v", ev)
			}
		case sdk.EvidenceDependency:
			if ev.Service == nil || ev.Service.ID == pdsim.DemoPaymentsServiceID || ev.Summary == "" {
				t.Errorf("dependency %+v", ev)
			}
		}
	}
	var related []string
	for _, r := range en.RelatedServices {
		related = append(related, r.ID)
	}
	sort.Strings(related)
	if want := []string{pdsim.DemoCheckoutServiceID, pdsim.DemoDatabaseServiceID, pdsim.DemoAuthServiceID}; len(related) != 3 ||
		!strings.Contains(strings.Join(related, ","), want[0]) || !strings.Contains(strings.Join(related, ","), want[1]) || !strings.Contains(strings.Join(related, ","), want[2]) {
		t.Errorf("related services = %v", related)
	}

	for _, r := range e.sim.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("enrichment wrote: %s %s", r.Method, r.Path)
		}
		if strings.HasSuffix(r.Path, "/change_events") {
			since, until := r.Query.Get("since"), r.Query.Get("until")
			if since != req.TriggeredAt.Add(-time.Hour).UTC().Format(time.RFC3339) || until != req.TriggeredAt.UTC().Format(time.RFC3339) {
				t.Errorf("change events window %s..%s", since, until)
			}
		}
		if strings.HasSuffix(r.Path, "/alerts") && r.Query.Get("limit") != "100" {
			t.Errorf("alerts limit = %q", r.Query.Get("limit"))
		}
	}
}

func TestEnrichLooksUpTheIncident(t *testing.T) {
	e := newSimEnv(t)
	en, err := e.p.Enrich(context.Background(), &sdk.EnrichRequest{Credentials: apiToken(pdsim.DemoUserToken), IncidentID: pdsim.DemoIncidentID})
	if err != nil {
		t.Fatalf("Enrich: %v", err)
	}
	if kinds := kindsOf(en); kinds[sdk.EvidenceChangeEvent] == 0 || kinds[sdk.EvidenceDependency] == 0 {
		t.Errorf("kinds = %v, notes = %v", kinds, en.Notes)
	}
}

func TestEnrichDegrades(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(e *simEnv)
		creds     func(e *simEnv) sdk.Credentials
		wantNotes []string // substrings, one note each
		absent    []string // evidence kinds that must be missing
		present   []string
	}{
		{
			name:      "without Event Intelligence abilities (403 code 2014)",
			setup:     func(e *simEnv) { e.sim.SetAbilities("teams", "urgencies") },
			wantNotes: []string{"Related incidents unavailable: the PagerDuty account lacks the ability", "Past incidents unavailable: the PagerDuty account lacks the ability"},
			absent:    []string{sdk.EvidenceRelatedIncident, sdk.EvidencePastIncident},
			present:   []string{sdk.EvidenceAlert, sdk.EvidenceDependency},
		},
		{
			name: "402 payment required",
			setup: func(e *simEnv) {
				e.sim.InjectFault(pdsim.Fault{Path: "/incidents/" + pdsim.DemoIncidentID + "/custom_fields/values", Status: 402,
					Body: `{"error":{"message":"Account does not have the abilities to perform the action","code":2014}}`})
			},
			wantNotes: []string{"Custom field values unavailable: the PagerDuty account lacks the ability for it (HTTP 402)"},
			absent:    []string{sdk.EvidenceCustomField},
			present:   []string{sdk.EvidenceAlert, sdk.EvidenceRelatedIncident},
		},
		{
			name: "scoped OAuth token without services.read",
			creds: func(e *simEnv) sdk.Credentials {
				scope := "users.read incidents.read"
				return sdk.Credentials{Kind: sdk.AuthOAuth, Token: e.sim.IssueAccessToken(pdsim.DemoAdminID, scope), Scope: scope}
			},
			wantNotes: []string{"Change events unavailable: the credentials lack permission or scope (HTTP 403)", "Service dependencies unavailable: the credentials lack permission or scope (HTTP 403)"},
			absent:    []string{sdk.EvidenceChangeEvent, sdk.EvidenceDependency},
			present:   []string{sdk.EvidenceAlert, sdk.EvidenceLogEntry},
		},
		{
			name: "404 and 500 on single sections",
			setup: func(e *simEnv) {
				e.sim.InjectFault(pdsim.Fault{Path: "/service_dependencies/*", Status: 404})
				e.sim.InjectFault(pdsim.Fault{Path: "/incidents/" + pdsim.DemoIncidentID + "/log_entries", Status: 503, Body: "<html>unavailable</html>"})
			},
			wantNotes: []string{"Log entries could not be read: PagerDuty answered HTTP 503", "Service dependencies not found (HTTP 404)"},
			absent:    []string{sdk.EvidenceLogEntry, sdk.EvidenceDependency},
			present:   []string{sdk.EvidenceAlert, sdk.EvidenceChangeEvent},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			creds := apiToken(pdsim.DemoUserToken)
			if tc.creds != nil {
				creds = tc.creds(e)
			}
			en, err := e.p.Enrich(context.Background(), demoEnrichRequest(t, e, creds))
			if err != nil {
				t.Fatalf("Enrich: %v", err)
			}
			notes := strings.Join(en.Notes, "\n")
			if len(en.Notes) != len(tc.wantNotes) {
				t.Errorf("notes = %q", en.Notes)
			}
			for _, n := range tc.wantNotes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", en.Notes, n)
				}
			}
			kinds := kindsOf(en)
			for _, k := range tc.absent {
				if kinds[k] != 0 {
					t.Errorf("%s evidence present", k)
				}
			}
			for _, k := range tc.present {
				if kinds[k] == 0 {
					t.Errorf("%s evidence missing", k)
				}
			}
		})
	}
}

func TestEnrichErrors(t *testing.T) {
	alertsPath := "/incidents/" + pdsim.DemoIncidentID + "/alerts"
	tests := []struct {
		name       string
		fault      *pdsim.Fault
		token      string
		code       sdk.Code
		msg        string
		retryAfter time.Duration
	}{
		{name: "429 stops with RetryAfter", fault: &pdsim.Fault{Path: alertsPath, Status: 429, Header: http.Header{"Ratelimit-Reset": {"42"}}},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: 42 * time.Second},
		{name: "429 without headers", fault: &pdsim.Fault{Path: "/services/*", Status: 429},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: defaultRetryAfter},
		{name: "401", token: "nope", code: sdk.CodeUnauthenticated, msg: msgUnauthorized},
		{name: "every read failing", fault: &pdsim.Fault{Status: 500}, code: sdk.CodeUpstream, msg: msgUpstream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			if tc.fault != nil {
				e.sim.InjectFault(*tc.fault)
			}
			tok := pdsim.DemoUserToken
			if tc.token != "" {
				tok = tc.token
			}
			_, err := e.p.Enrich(context.Background(), demoEnrichRequest(t, e, apiToken(tok)))
			if se := wantSDKError(t, err, tc.code, tc.msg); se.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tc.retryAfter)
			}
		})
	}
	t.Run("no incident id", func(t *testing.T) {
		e := newSimEnv(t)
		_, err := e.p.Enrich(context.Background(), &sdk.EnrichRequest{Credentials: apiToken(pdsim.DemoUserToken)})
		wantSDKError(t, err, sdk.CodeInvalid, "Incident id required")
	})
	t.Run("unreachable stops at once", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := New(Config{APIURL: "http://" + addr, Logger: hclog.NewNullLogger()})
		_, err = p.Enrich(context.Background(), &sdk.EnrichRequest{Credentials: apiToken("t"), IncidentID: "P1", ServiceID: "S1", TriggeredAt: time.Now()})
		wantSDKError(t, err, sdk.CodeUpstream, msgUpstream)
	})
	t.Run("unknown incident degrades into notes", func(t *testing.T) {
		e := newSimEnv(t)
		en, err := e.p.Enrich(context.Background(), &sdk.EnrichRequest{Credentials: apiToken(pdsim.DemoUserToken), IncidentID: "PNOPE"})
		if err != nil || len(en.Evidence) != 0 || len(en.Notes) == 0 {
			t.Fatalf("Enrich = %+v, %v", en, err)
		}
	})
}

func TestEnrichPaginationCap(t *testing.T) {
	e := newSimEnv(t)
	base := time.Now().Add(-2 * time.Hour).UTC()
	for i := 0; i < 250; i++ {
		if _, ok := e.sim.AddAlert(pdsim.Alert{
			ID: fmt.Sprintf("QBULK%09d", i), IncidentID: pdsim.DemoIncidentID, AlertKey: fmt.Sprintf("bulk-%d", i),
			Summary: "bulk", CreatedAt: base.Add(time.Duration(i) * time.Second),
		}); !ok {
			t.Fatal("AddAlert")
		}
	}
	en, err := e.p.Enrich(context.Background(), demoEnrichRequest(t, e, apiToken(pdsim.DemoUserToken)))
	if err != nil {
		t.Fatalf("Enrich: %v", err)
	}
	if n := kindsOf(en)[sdk.EvidenceAlert]; n != maxAlerts {
		t.Errorf("alerts = %d, want %d", n, maxAlerts)
	}
	if !strings.Contains(strings.Join(en.Notes, "\n"), "Alerts truncated to the first 200") {
		t.Errorf("notes = %v", en.Notes)
	}
	var offsets []string
	for _, r := range e.sim.Requests() {
		if strings.HasSuffix(r.Path, "/alerts") {
			offsets = append(offsets, r.Query.Get("offset")+"/"+r.Query.Get("limit"))
		}
	}
	if strings.Join(offsets, ",") != "0/100,100/100" {
		t.Errorf("alert pages = %v", offsets)
	}
}

// TestEnrichSections: a request naming sections reads only those, and the
// answer says which sections it covers and how many REST calls it made.
func TestEnrichSections(t *testing.T) {
	all := []string{sdk.SectionAlerts, sdk.SectionLogEntries, sdk.SectionCustomFields, sdk.SectionChangeEvents,
		sdk.SectionDependencies, sdk.SectionRelatedIncidents, sdk.SectionPastIncidents}
	cases := []struct {
		name      string
		sections  []string
		noService bool
		covered   []string
		kinds     []string
		calls     int
	}{
		{"all", nil, false, all, []string{sdk.EvidenceAlert, sdk.EvidenceChangeEvent, sdk.EvidenceDependency, sdk.EvidencePastIncident}, 7},
		{"light", []string{sdk.SectionAlerts}, false, []string{sdk.SectionAlerts}, []string{sdk.EvidenceAlert}, 1},
		{"light without service reads no incident", []string{sdk.SectionAlerts}, true, []string{sdk.SectionAlerts}, []string{sdk.EvidenceAlert}, 1},
		{"service level", []string{sdk.SectionChangeEvents, sdk.SectionDependencies}, false,
			[]string{sdk.SectionChangeEvents, sdk.SectionDependencies}, []string{sdk.EvidenceChangeEvent, sdk.EvidenceDependency}, 2},
		{"service level, service unknown", []string{sdk.SectionChangeEvents, sdk.SectionDependencies}, true,
			[]string{sdk.SectionChangeEvents, sdk.SectionDependencies}, []string{sdk.EvidenceChangeEvent, sdk.EvidenceDependency}, 3},
		{"unknown names ignored", []string{"telepathy", sdk.SectionLogEntries}, false, []string{sdk.SectionLogEntries}, []string{sdk.EvidenceLogEntry}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			req := demoEnrichRequest(t, e, apiToken(pdsim.DemoUserToken))
			req.Sections = tc.sections
			if tc.noService {
				req.ServiceID, req.TriggeredAt = "", time.Time{}
			}
			e.sim.ResetRequests()
			en, err := e.p.Enrich(context.Background(), req)
			if err != nil {
				t.Fatalf("Enrich: %v", err)
			}
			if fmt.Sprint(en.Sections) != fmt.Sprint(tc.covered) {
				t.Errorf("sections = %v, want %v", en.Sections, tc.covered)
			}
			if got := len(e.sim.Requests()); en.APICalls != tc.calls || got != tc.calls {
				t.Errorf("APICalls = %d, simulator saw %d, want %d", en.APICalls, got, tc.calls)
			}
			kinds := kindsOf(en)
			for _, k := range tc.kinds {
				if kinds[k] == 0 {
					t.Errorf("no %s evidence (kinds %v)", k, kinds)
				}
			}
			if len(kinds) > len(tc.kinds) && tc.sections != nil {
				t.Errorf("evidence beyond the sections asked for: %v", kinds)
			}
		})
	}
}
