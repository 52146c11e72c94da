package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

const incSecret = "test-internal-secret"

var incT0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func incApply(t *testing.T, db *bun.DB, src incidents.Source, ev sdk.Event) string {
	t.Helper()
	var id string
	err := db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id, _, err = incidents.Apply(ctx, tx, src, ev)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func incIncident(ext, status string, created time.Time) *sdk.Incident {
	return &sdk.Incident{
		ExternalID: ext, Number: 7, Title: "Checkout is down " + ext, Status: status, Urgency: "high", Priority: "P1",
		Service:          &sdk.Reference{ID: "PSVC", Summary: "Checkout", HTMLURL: "https://acme.pagerduty.com/service-directory/PSVC"},
		EscalationPolicy: &sdk.Reference{ID: "PEP", Type: "escalation_policy_reference", Summary: "On call"},
		Assignees:        []sdk.Reference{{ID: "PU1", Type: "user_reference", Summary: "Jane"}},
		Teams:            []sdk.Reference{{ID: "PT1", Type: "team_reference", Summary: "SRE"}},
		IncidentKey:      "dedup-" + ext, HTMLURL: "https://acme.pagerduty.com/incidents/" + ext, CreatedAt: created,
	}
}

// incGet calls the API as user (and org) and decodes the JSON answer.
func incGet(t *testing.T, srv *httpapi.Server, path, user, org string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("X-Internal-Secret", incSecret)
	if user != "" {
		req.Header.Set("X-User-ID", user)
	}
	if org != "" {
		req.Header.Set("X-Org-ID", org)
	}
	resp, err := srv.App().Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, body
}

func TestIncidentsAPI(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			st := storetest.Open(t, driver)
			srv := httpapi.New(httpapi.Deps{
				Config: &config.Config{InternalAPISecret: incSecret}, Logger: hclog.NewNullLogger(), Store: st,
			})
			src := incidents.Source{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1"}
			at := func(m int) time.Time { return incT0.Add(time.Duration(m) * time.Minute) }
			id := incApply(t, st.Bun(), src, sdk.Event{ID: "e1", Type: "incident.triggered", OccurredAt: at(0),
				Agent: &sdk.Reference{ID: "PSVC", Type: "service_reference", Summary: "Checkout"},
				Data:  []byte(`{"id":"PABC","type":"incident","status":"triggered"}`), Incident: incIncident("PABC", "triggered", at(-1))})
			incApply(t, st.Bun(), src, sdk.Event{ID: "e2", Type: "incident.custom_field_values.updated", OccurredAt: at(1),
				Incident: &sdk.Incident{ExternalID: "PABC", Partial: true, HasCustomFields: true, ChangedCustomFields: []sdk.CustomField{
					{ID: "F1", Name: "environment", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"prod"`)},
					{ID: "F2", Name: "regions", DataType: "string", FieldType: "multi_value", ValueJSON: []byte(`["eu"]`)},
				}}})
			incApply(t, st.Bun(), src, sdk.Event{ID: "e3", Type: "incident.resolved", OccurredAt: at(2), Incident: incIncident("PABC", "resolved", at(-1))})
			for i := 0; i < 3; i++ {
				incApply(t, st.Bun(), src, sdk.Event{ID: fmt.Sprint("o", i), Type: "incident.triggered", OccurredAt: at(10 + i),
					Incident: incIncident(fmt.Sprint("POPEN", i), "triggered", at(10+i))})
			}
			other := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u2", ConnectionID: "c2"}
			otherID := incApply(t, st.Bun(), other, sdk.Event{ID: "x", Type: "incident.triggered", OccurredAt: at(0), Incident: incIncident("PX", "triggered", at(0))})

			// The detail shape.
			code, d := incGet(t, srv, "/incidents/"+id, "u1", "org-1")
			if code != http.StatusOK {
				t.Fatalf("GET detail: %d %v", code, d)
			}
			want := map[string]any{
				"id": id, "sourceType": "pagerduty", "sourceAlertId": "PABC", "status": "resolved", "severity": "critical",
				"auroraStatus": "idle", "summary": nil, "analyzedAt": nil, "startedAt": "2026-03-03T10:00:00Z",
				"resolvedAt": "2026-03-03T10:02:00Z", "alertFiredAt": "2026-03-03T09:59:00Z", "correlatedAlertCount": float64(0),
				"providerStatus": "resolved", "urgency": "high", "priority": "P1", "incidentNumber": float64(7),
				"incidentKey": "dedup-PABC", "parentIncidentId": nil,
			}
			for k, v := range want {
				if got, ok := d[k]; !ok || got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
			shapes := map[string]string{
				"alert":            `{"metadata":{"escalationPolicy":"On call","incidentKey":"dedup-PABC","incidentNumber":7,"priority":"P1","providerStatus":"resolved","serviceId":"PSVC","urgency":"high"},"service":"Checkout","source":"pagerduty","sourceUrl":"https://acme.pagerduty.com/incidents/PABC","title":"Checkout is down PABC"}`,
				"affectedServices": `["Checkout"]`,
				"customFields":     `{"environment":{"dataType":"string","fieldType":"single_value","id":"F1","value":"prod"},"regions":{"dataType":"string","fieldType":"multi_value","id":"F2","value":["eu"]}}`,
				"assignees":        `[{"id":"PU1","summary":"Jane","type":"user_reference"}]`,
				"teams":            `[{"id":"PT1","summary":"SRE","type":"team_reference"}]`,
				"escalationPolicy": `{"id":"PEP","summary":"On call","type":"escalation_policy_reference"}`,
				"links":            `[{"href":"https://acme.pagerduty.com/incidents/PABC","rel":"provider"},{"href":"https://acme.pagerduty.com/service-directory/PSVC","rel":"service"}]`,
			}
			for k, v := range shapes {
				if got := js(d[k]); got != v {
					t.Errorf("%s = %s\n want %s", k, got, v)
				}
			}
			tl, _ := d["timeline"].([]any)
			if len(tl) != 3 {
				t.Fatalf("timeline: %v", d["timeline"])
			}
			if got := js(tl[0]); got != `{"agent":{"id":"PSVC","summary":"Checkout","type":"service_reference"},"data":{"id":"PABC","status":"triggered","type":"incident"},"id":"e1","occurredAt":"2026-03-03T10:00:00Z","type":"incident.triggered"}` {
				t.Errorf("timeline[0] = %s", got)
			}
			if got := js(tl[1]); got != `{"agent":null,"data":null,"id":"e2","occurredAt":"2026-03-03T10:01:00Z","type":"incident.custom_field_values.updated"}` {
				t.Errorf("timeline[1] = %s", got)
			}

			// The list, its filters and pagination.
			code, l := incGet(t, srv, "/incidents", "u1", "org-1")
			items, _ := l["incidents"].([]any)
			if code != http.StatusOK || len(items) != 4 || l["nextCursor"] != nil {
				t.Fatalf("list: %d %v", code, l)
			}
			if first := items[0].(map[string]any); first["sourceAlertId"] != "POPEN2" || first["resolvedAt"] != nil || first["status"] != "investigating" {
				t.Errorf("first item: %v", first)
			}
			if _, ok := items[0].(map[string]any)["timeline"]; ok {
				t.Error("list items carry the timeline")
			}
			var pages, seen int
			next := ""
			for {
				path := "/incidents?status=investigating&limit=2"
				if next != "" {
					path += "&cursor=" + url.QueryEscape(next)
				}
				code, l := incGet(t, srv, path, "u1", "org-1")
				if code != http.StatusOK {
					t.Fatalf("page: %d %v", code, l)
				}
				pages++
				seen += len(l["incidents"].([]any))
				if l["nextCursor"] == nil {
					break
				}
				next = l["nextCursor"].(string)
			}
			if pages != 2 || seen != 3 {
				t.Errorf("paged %d incidents in %d pages", seen, pages)
			}
			filters := []struct {
				query string
				want  int
			}{
				{"status=resolved", 1},
				{"severity=critical&source=pagerduty&service=Checkout", 4},
				{"severity=low", 0},
				{"since=2026-03-03T10:10:00Z", 3},
				{"until=2026-03-03T10:10:00Z", 1},
				{"since=2026-03-03T10:05:00%2B00:00&until=2026-03-03T10:11:00Z", 1},
				{"since=2026-03-03", 4},
			}
			for _, f := range filters {
				code, l := incGet(t, srv, "/incidents?"+f.query, "u1", "org-1")
				if n := len(l["incidents"].([]any)); code != http.StatusOK || n != f.want {
					t.Errorf("%s: %d, %d incidents, want %d", f.query, code, n, f.want)
				}
			}

			errorsTable := []struct {
				path, user, org string
				code            int
				msg             string
			}{
				{"/incidents?limit=0", "u1", "org-1", 400, "Invalid limit: must be an integer between 1 and 500"},
				{"/incidents?limit=501", "u1", "org-1", 400, "Invalid limit: must be an integer between 1 and 500"},
				{"/incidents?limit=ten", "u1", "org-1", 400, "Invalid limit: must be an integer between 1 and 500"},
				{"/incidents?cursor=%25%25", "u1", "org-1", 400, "Invalid cursor: pass the nextCursor of a previous page unchanged"},
				{"/incidents?since=yesterday", "u1", "org-1", 400, "Invalid since: use an RFC 3339 time such as 2026-03-03T10:00:00Z"},
				{"/incidents?until=2026-13-01T00:00:00Z", "u1", "org-1", 400, "Invalid until: use an RFC 3339 time such as 2026-03-03T10:00:00Z"},
				{"/incidents?status=open", "u1", "org-1", 400, `Invalid status "open": use investigating, analyzed, resolved, merged, triggered or acknowledged`},
				{"/incidents/" + otherID, "u1", "org-1", 404, "Incident not found"},
				{"/incidents/" + id, "u2", "", 404, "Incident not found"},
				{"/incidents/" + id, "u1", "", 404, "Incident not found"},
				{"/incidents/nope", "u1", "org-1", 404, "Incident not found"},
				{"/incidents", "", "", 401, "Unauthorized"},
			}
			for _, e := range errorsTable {
				code, body := incGet(t, srv, e.path, e.user, e.org)
				if code != e.code || body["error"] != e.msg {
					t.Errorf("GET %s as %s/%s: %d %v, want %d %q", e.path, e.user, e.org, code, body, e.code, e.msg)
				}
			}
			// Another tenant sees only its own.
			code, l = incGet(t, srv, "/incidents", "u2", "")
			if items := l["incidents"].([]any); code != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != otherID {
				t.Errorf("u2 list: %d %v", code, l)
			}
		})
	}
}
