package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/uptrace/bun"
)

// apiCall sends what Aurora's Next.js routes send: X-User-ID, X-Org-ID,
// X-Internal-Secret and, with a body, Content-Type: application/json.
func apiCall(t *testing.T, srv *httpapi.Server, method, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.App().Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

var orgUser = map[string]string{"X-Internal-Secret": incSecret, "X-User-ID": "u1", "X-Org-ID": "org-1"}

type auroraFixture struct {
	srv *httpapi.Server
	db  *bun.DB
	// reads is what the API's GET handlers read through (store.Reads).
	reads                 *bun.DB
	open, open2, resolved string // incidents of org-1
	placeholder           string // made from a partial event only
	other                 string // another tenant's
	complete              string // analysis complete
}

func newAuroraFixture(t *testing.T, driver string) *auroraFixture {
	st := storetest.Open(t, driver)
	srv := httpapi.New(httpapi.Deps{
		Config: &config.Config{InternalAPISecret: incSecret}, Logger: hclog.NewNullLogger(), Store: st,
		Live: live.New(st, false, hclog.NewNullLogger()),
	})
	src := incidents.Source{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1"}
	now := time.Now().UTC().Truncate(time.Second)
	at := func(m int) time.Time { return now.Add(time.Duration(m) * time.Minute) }
	f := &auroraFixture{srv: srv, db: st.Bun(), reads: st.Reads()}
	f.open = incApply(t, st.Bun(), src, sdk.Event{ID: "e1", Type: "incident.triggered", OccurredAt: at(-5),
		Data: []byte(`{"id":"PA","type":"incident","title":"Checkout is down PA","note":"café ✓"}`), Incident: incIncident("PA", "triggered", at(-6))})
	incApply(t, st.Bun(), src, sdk.Event{ID: "e2", Type: "incident.custom_field_values.updated", OccurredAt: at(-4),
		Incident: &sdk.Incident{ExternalID: "PA", Partial: true, HasCustomFields: true, ChangedCustomFields: []sdk.CustomField{
			{ID: "F1", Name: "runbook_link", DataType: "url", FieldType: "single_value", ValueJSON: []byte(`"https://wiki.example.com/rb"`)},
			{ID: "F2", Name: "environment", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"prod"`)},
		}}})
	f.open2 = incApply(t, st.Bun(), src, sdk.Event{ID: "e3", Type: "incident.triggered", OccurredAt: at(-3),
		Incident: incIncident("PB", "triggered", at(-3))})
	f.resolved = incApply(t, st.Bun(), src, sdk.Event{ID: "e4", Type: "incident.resolved", OccurredAt: at(-2),
		Incident: incIncident("PC", "resolved", at(-2))})
	f.complete = incApply(t, st.Bun(), src, sdk.Event{ID: "e5", Type: "incident.triggered", OccurredAt: at(-1),
		Incident: incIncident("PD", "triggered", at(-1))})
	if err := incidents.RecordAnalysis(context.Background(), st.Bun(), f.complete, incidents.AnalysisUpdate{AuroraStatus: hub.AuroraComplete, At: now}); err != nil {
		t.Fatal(err)
	}
	f.placeholder = incApply(t, st.Bun(), src, sdk.Event{ID: "e6", Type: "incident.custom_field_values.updated", OccurredAt: at(0),
		Incident: &sdk.Incident{ExternalID: "PZ", Partial: true, HasCustomFields: true, ChangedCustomFields: []sdk.CustomField{
			{ID: "F2", Name: "environment", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"prod"`)},
		}}})
	f.other = incApply(t, st.Bun(), incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u2", ConnectionID: "c2"},
		sdk.Event{ID: "x", Type: "incident.triggered", OccurredAt: at(0), Incident: incIncident("PX", "triggered", at(0))})
	return f
}

func TestAuroraAPIErrors(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			f := newAuroraFixture(t, driver)
			unknown := "7d1c8a4e-2b7f-4a53-9a51-0c3f6e1d2b99"
			long := func(n int) string { return strings.Repeat("x", n) }
			cases := []struct {
				name, method, path, body string
				hdr                      map[string]string
				code                     int
				err                      string
			}{
				{"no user", "GET", "/api/incidents", "", map[string]string{"X-Internal-Secret": incSecret}, 401, "Unauthorized"},
				{"wrong secret", "GET", "/api/incidents", "", map[string]string{"X-User-ID": "u1", "X-Internal-Secret": "nope"}, 403, "Forbidden: invalid or missing X-Internal-Secret header"},
				{"unknown api route", "GET", "/api/nothing", "", orgUser, 404, "Not found"},
				{"detail bad id", "GET", "/api/incidents/not-a-uuid", "", orgUser, 400, "Invalid incident ID format"},
				{"detail unknown", "GET", "/api/incidents/" + unknown, "", orgUser, 404, "Incident not found"},
				{"detail other tenant", "GET", "/api/incidents/" + f.other, "", orgUser, 404, "Incident not found"},
				{"patch bad id", "PATCH", "/api/incidents/123", `{"status":"resolved"}`, orgUser, 400, "Invalid incident ID format"},
				{"patch no body", "PATCH", "/api/incidents/" + f.open, "", orgUser, 400, "Missing request body"},
				{"patch empty body", "PATCH", "/api/incidents/" + f.open, `{}`, orgUser, 400, "Missing request body"},
				{"patch bad status", "PATCH", "/api/incidents/" + f.open, `{"status":"closed"}`, orgUser, 400, "Invalid status. Must be one of: investigating, analyzed, merged, resolved"},
				{"patch status not a string", "PATCH", "/api/incidents/" + f.open, `{"status":1}`, orgUser, 400, "Invalid status. Must be one of: investigating, analyzed, merged, resolved"},
				{"patch bad auroraStatus", "PATCH", "/api/incidents/" + f.open, `{"auroraStatus":"done"}`, orgUser, 400, "Invalid auroraStatus. Must be one of: idle, running, summarizing, complete, error"},
				{"patch bad activeTab", "PATCH", "/api/incidents/" + f.open, `{"activeTab":"x"}`, orgUser, 400, "Invalid activeTab. Must be one of: thoughts, chat"},
				{"patch long summary", "PATCH", "/api/incidents/" + f.open, `{"summary":"` + long(10001) + `"}`, orgUser, 400, "Summary too long (max 10000 characters)"},
				{"patch nothing known", "PATCH", "/api/incidents/" + f.open, `{"title":"x"}`, orgUser, 400, "No valid fields to update"},
				{"patch not json", "PATCH", "/api/incidents/" + f.open, `{`, orgUser, 400, "Invalid JSON body: expected an object"},
				{"patch unknown", "PATCH", "/api/incidents/" + unknown, `{"status":"resolved"}`, orgUser, 404, "Incident not found"},
				{"patch other tenant", "PATCH", "/api/incidents/" + f.other, `{"status":"resolved"}`, orgUser, 404, "Incident not found"},
				{"merge bad target", "POST", "/api/incidents/x/merge-alert", `{"sourceIncidentId":"` + f.open2 + `"}`, orgUser, 400, "Invalid target incident ID format"},
				{"merge no body", "POST", "/api/incidents/" + f.open + "/merge-alert", "", orgUser, 400, "Missing request body"},
				{"merge bad source", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"sourceIncidentId":"x"}`, orgUser, 400, "Invalid or missing sourceIncidentId"},
				{"merge missing source", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"other":1}`, orgUser, 400, "Invalid or missing sourceIncidentId"},
				{"merge itself", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"sourceIncidentId":"` + f.open + `"}`, orgUser, 400, "Cannot merge incident into itself"},
				{"merge source unknown", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"sourceIncidentId":"` + unknown + `"}`, orgUser, 404, "Source incident not found"},
				{"merge source other tenant", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"sourceIncidentId":"` + f.other + `"}`, orgUser, 404, "Source incident not found"},
				{"merge source placeholder", "POST", "/api/incidents/" + f.open + "/merge-alert", `{"sourceIncidentId":"` + f.placeholder + `"}`, orgUser, 404, "Source incident not found"},
				{"merge target unknown", "POST", "/api/incidents/" + unknown + "/merge-alert", `{"sourceIncidentId":"` + f.open2 + `"}`, orgUser, 404, "Target incident not found"},
				{"feedback get bad id", "GET", "/api/incidents/x/feedback", "", orgUser, 400, "Invalid incident ID format"},
				{"feedback get unknown", "GET", "/api/incidents/" + unknown + "/feedback", "", orgUser, 404, "Incident not found"},
				{"feedback bad id", "POST", "/api/incidents/x/feedback", `{"feedback_type":"helpful"}`, orgUser, 400, "Invalid incident ID format"},
				{"feedback no body", "POST", "/api/incidents/" + f.complete + "/feedback", "", orgUser, 400, "Missing request body"},
				{"feedback bad type", "POST", "/api/incidents/" + f.complete + "/feedback", `{"feedback_type":"great"}`, orgUser, 400, "Invalid feedback_type. Must be one of: helpful, not_helpful"},
				{"feedback long comment", "POST", "/api/incidents/" + f.complete + "/feedback", `{"feedback_type":"helpful","comment":"` + long(2001) + `"}`, orgUser, 400, "Comment too long (max 2000 characters)"},
				{"feedback not complete", "POST", "/api/incidents/" + f.open + "/feedback", `{"feedback_type":"helpful"}`, orgUser, 400, "Can only provide feedback on completed analyses"},
				{"feedback unknown", "POST", "/api/incidents/" + unknown + "/feedback", `{"feedback_type":"helpful"}`, orgUser, 404, "Incident not found"},
				{"findings bad id", "GET", "/api/incidents/x/findings", "", orgUser, 400, "Invalid incident ID format"},
				{"findings unknown", "GET", "/api/incidents/" + unknown + "/findings", "", orgUser, 404, "Incident not found"},
				{"finding bad agent", "GET", "/api/incidents/" + f.open + "/findings/a.b", "", orgUser, 400, "Invalid agent ID format"},
				{"finding unknown", "GET", "/api/incidents/" + f.open + "/findings/agent_1", "", orgUser, 404, "Finding not found"},
				{"list bad limit", "GET", "/api/incidents?limit=0", "", orgUser, 400, "Invalid limit: must be an integer between 1 and 500"},
				{"list bad status", "GET", "/api/incidents?status=closed", "", orgUser, 400, `Invalid status "closed": use investigating, analyzed, resolved, merged, triggered or acknowledged`},
			}
			for _, tc := range cases {
				code, body := apiCall(t, f.srv, tc.method, tc.path, tc.body, tc.hdr)
				if code != tc.code || body["error"] != tc.err {
					t.Errorf("%s: %d %v, want %d %q", tc.name, code, body, tc.code, tc.err)
				}
			}
			// Nothing the failed requests carried was stored.
			_, d := apiCall(t, f.srv, "GET", "/api/incidents/"+f.open, "", orgUser)
			inc := d["incident"].(map[string]any)
			if inc["status"] != "investigating" || inc["summary"] != "" || inc["auroraStatus"] != "idle" {
				t.Errorf("a failed request changed the incident: %v %v %v", inc["status"], inc["summary"], inc["auroraStatus"])
			}

			// Feedback is final: a second one is 409.
			code, body := apiCall(t, f.srv, "POST", "/api/incidents/"+f.complete+"/feedback", `{"feedback_type":"not_helpful","comment":"missed the deploy"}`, orgUser)
			if code != 201 || body["feedbackType"] != "not_helpful" || body["success"] != true {
				t.Fatalf("feedback: %d %v", code, body)
			}
			code, body = apiCall(t, f.srv, "POST", "/api/incidents/"+f.complete+"/feedback", `{"feedback_type":"helpful"}`, orgUser)
			if code != 409 || body["error"] != "Feedback already submitted for this incident. Feedback cannot be changed." {
				t.Errorf("second feedback: %d %v", code, body)
			}
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/"+f.complete+"/feedback", "", orgUser)
			fb, _ := body["feedback"].(map[string]any)
			if fb == nil || fb["feedbackType"] != "not_helpful" || fb["comment"] != "missed the deploy" {
				t.Errorf("feedback read back: %v", body)
			}
			// Feedback is the requesting user's: another user of the org has none.
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/"+f.complete+"/feedback", "", map[string]string{"X-Internal-Secret": incSecret, "X-User-ID": "u9", "X-Org-ID": "org-1"})
			if v, ok := body["feedback"]; !ok || v != nil {
				t.Errorf("another user's feedback: %v", body)
			}

			// Merging into a merged incident, or a merged one again.
			if code, body := apiCall(t, f.srv, "POST", "/api/incidents/"+f.open+"/merge-alert", `{"sourceIncidentId":"`+f.open2+`"}`, orgUser); code != 200 {
				t.Fatalf("merge: %d %v", code, body)
			}
			for _, tc := range []struct{ target, source, err string }{
				{f.resolved, f.open2, "Source incident is already merged into another incident"},
				{f.open2, f.resolved, "Cannot merge into an incident that is already merged"},
			} {
				code, body := apiCall(t, f.srv, "POST", "/api/incidents/"+tc.target+"/merge-alert", `{"sourceIncidentId":"`+tc.source+`"}`, orgUser)
				if code != 400 || body["error"] != tc.err {
					t.Errorf("merge %s into %s: %d %v, want 400 %q", tc.source, tc.target, code, body, tc.err)
				}
			}
		})
	}
}

func TestAuroraAPIMapping(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			f := newAuroraFixture(t, driver)
			ctx := context.Background()
			// An automatic correlation: open2 attached to open.
			parts := `{"sameService":1,"dependency":0,"sameKey":0,"title":0.4,"time":0.7}`
			parent, err := incidents.LoadFacts(ctx, f.db, f.open)
			if err != nil {
				t.Fatal(err)
			}
			if err := incidents.Attach(ctx, f.db, incidents.Attachment{
				IncidentID: f.open2, ParentID: f.open, AffectedServices: parent.AffectedServices, Score: 0.82, Parts: parts, At: time.Now().UTC(),
			}); err != nil {
				t.Fatal(err)
			}
			// The analysis records, as the analysis writes them.
			err = store.AppendThoughts(ctx, f.db, f.open, []hub.Thought{{Content: "Checking pod restarts", Type: hub.ThoughtAnalysis, Timestamp: time.Now()}, {Content: "Found a deploy", Timestamp: time.Now()}})
			if err != nil {
				t.Fatal(err)
			}
			err = store.ReplaceFindings(ctx, f.db, f.open,
				[]hub.Citation{{Key: "2", ToolName: "kubectl", Command: "kubectl get pods", Output: "crashloop"}, {Key: "1", Output: "x"}, {Key: "note", Output: "dropped"}},
				[]hub.Suggestion{{Title: "Roll back", Description: "Roll back the deploy", Type: hub.SuggestionMitigation, Risk: hub.RiskMedium, Command: "kubectl rollout undo", Rationale: "the deploy broke it"}, {Title: "Look"}})
			if err != nil {
				t.Fatal(err)
			}
			// An attached incident cannot take a merge: parents stay top-level.
			if code, body := apiCall(t, f.srv, "POST", "/api/incidents/"+f.open2+"/merge-alert", `{"sourceIncidentId":"`+f.complete+`"}`, orgUser); code != 400 ||
				body["error"] != "Cannot merge into an incident that is itself attached to another incident" {
				t.Errorf("merge into an attached incident: %d %v", code, body)
			}
			// A resolved incident merged into open: a manual correlation.
			if code, body := apiCall(t, f.srv, "POST", "/api/incidents/"+f.open+"/merge-alert", `{"sourceIncidentId":"`+strings.ToUpper(f.resolved)+`"}`, orgUser); code != 200 ||
				body["newAlertId"] != f.resolved || body["targetIncidentId"] != f.open || body["message"] != "Alert merged successfully" {
				t.Fatalf("merge: %d %v", code, body)
			}

			// The detail page polls: its cost does not grow with the related rows.
			hook := &queryCounter{}
			f.reads.AddQueryHook(hook)
			apiCall(t, f.srv, "GET", "/api/incidents/"+f.complete, "", orgUser)
			bare := hook.n.Swap(0)
			code, body := apiCall(t, f.srv, "GET", "/api/incidents/"+f.open, "", orgUser)
			if code != 200 {
				t.Fatalf("detail: %d %v", code, body)
			}
			if full := hook.n.Load(); bare < 7 || full > 9 || full > bare+1 {
				t.Errorf("detail with related rows took %d queries (%d without)", full, bare)
			}
			inc := body["incident"].(map[string]any)
			js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
			alert := inc["alert"].(map[string]any)
			if got, want := js(alert["metadata"]), `{"customFields":{"environment":"prod","runbook_link":"https://wiki.example.com/rb"},"incidentId":"PA","incidentKey":"dedup-PA","incidentUrl":"https://acme.pagerduty.com/incidents/PA","priority":"P1","urgency":"high"}`; got != want {
				t.Errorf("metadata = %s\nwant %s", got, want)
			}
			raw, _ := alert["rawPayload"].(string)
			var payload struct {
				Event struct {
					EventType    string                    `json:"event_type"`
					Data         map[string]any            `json:"data"`
					CustomFields map[string]map[string]any `json:"custom_fields"`
				} `json:"event"`
			}
			if err := json.Unmarshal([]byte(raw), &payload); err != nil || !strings.Contains(raw, "\n  \"event\": {") {
				t.Fatalf("rawPayload is not indented JSON (%v): %q", err, raw)
			}
			if payload.Event.EventType != "incident.triggered" || payload.Event.Data["id"] != "PA" ||
				js(payload.Event.Data["customFields"]) != `{"environment":"prod","runbook_link":"https://wiki.example.com/rb"}` ||
				payload.Event.CustomFields["runbook_link"]["value"] != "https://wiki.example.com/rb" || payload.Event.Data["note"] != "café ✓" {
				t.Errorf("rawPayload = %s", raw)
			}
			if !strings.Contains(raw, `caf\u00e9 \u2713`) {
				t.Errorf("rawPayload is not ASCII-escaped: %s", raw)
			}
			if inc["correlatedAlertCount"] != float64(2) || js(inc["affectedServices"]) != `["Checkout"]` {
				t.Errorf("count %v services %v", inc["correlatedAlertCount"], inc["affectedServices"])
			}
			ca, _ := inc["correlatedAlerts"].([]any)
			if len(ca) != 3 {
				t.Fatalf("correlatedAlerts: %s", js(inc["correlatedAlerts"]))
			}
			wantAlerts := []struct{ id, strategy, details string }{
				{f.open, "primary", `{}`},
				{f.open2, "topology", `{"correlated_alert_count":1,"similarity":0.4,"time_window":0.7,"topology":1}`},
				{f.resolved, "manual", `{"merged_from_incident":"` + f.resolved + `"}`},
			}
			for i, w := range wantAlerts {
				a := ca[i].(map[string]any)
				if a["id"] != w.id || a["correlationStrategy"] != w.strategy || js(a["correlationDetails"]) != w.details {
					t.Errorf("correlatedAlerts[%d] = %s, want %s %s %s", i, js(a), w.id, w.strategy, w.details)
				}
			}
			if ca[1].(map[string]any)["correlationScore"] != 0.82 || ca[2].(map[string]any)["correlationScore"] != float64(1) {
				t.Errorf("scores: %s", js(ca))
			}
			if got := js(inc["streamingThoughts"]); !strings.Contains(got, `"content":"Checking pod restarts"`) || !strings.Contains(got, `"type":"analysis"`) {
				t.Errorf("streamingThoughts = %s", got)
			}
			cits, _ := inc["citations"].([]any)
			if len(cits) != 2 || cits[0].(map[string]any)["key"] != "1" || cits[0].(map[string]any)["toolName"] != "Unknown" || cits[1].(map[string]any)["command"] != "kubectl get pods" {
				t.Errorf("citations = %s", js(cits))
			}
			sug, _ := inc["suggestions"].([]any)
			if len(sug) != 2 {
				t.Fatalf("suggestions = %s", js(sug))
			}
			s0, s1 := sug[0].(map[string]any), sug[1].(map[string]any)
			if s0["type"] != "mitigation" || s0["risk"] != "medium" || s0["command"] != "kubectl rollout undo" || s0["rationale"] != "the deploy broke it" ||
				s1["type"] != "diagnostic" || s1["risk"] != "safe" || s1["command"] != nil {
				t.Errorf("suggestions = %s", js(sug))
			}
			for _, k := range []string{"chatSessions", "tokenUsage", "chatSessionId"} {
				if _, ok := inc[k]; !ok {
					t.Errorf("detail lacks %s", k)
				}
			}

			// The merged incident: its banner fields; it left the list.
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/"+f.resolved, "", orgUser)
			m := body["incident"].(map[string]any)
			if m["status"] != "merged" || m["auroraStatus"] != "complete" || m["mergedIntoIncidentId"] != f.open || m["mergedIntoTitle"] != "Checkout is down PA" {
				t.Errorf("merged incident: %s", js(m))
			}
			_, body = apiCall(t, f.srv, "GET", "/api/incidents", "", orgUser)
			var ids []string
			for _, it := range body["incidents"].([]any) {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			// open2 is attached, resolved merged, placeholder has no state yet.
			if want := []string{f.complete, f.open}; fmt.Sprint(ids) != fmt.Sprint(want) || body["total"] != float64(2) {
				t.Errorf("list = %v total %v, want %v", ids, body["total"], want)
			}
			if _, body = apiCall(t, f.srv, "GET", "/api/incidents?status=merged", "", orgUser); body["total"] != float64(0) {
				t.Errorf("merged incidents listed: %v", body)
			}

			// Resolve: status, resolvedAt.
			if code, body := apiCall(t, f.srv, "PATCH", "/api/incidents/"+f.open, `{"status":"resolved","activeTab":"chat"}`, orgUser); code != 200 || body["success"] != true || body["id"] != f.open {
				t.Fatalf("resolve: %d %v", code, body)
			}
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/"+f.open, "", orgUser)
			if inc := body["incident"].(map[string]any); inc["status"] != "resolved" || inc["resolvedAt"] == nil {
				t.Errorf("after resolve: %v %v", inc["status"], inc["resolvedAt"])
			}

			// Recent unlinked: investigating, not attached, not excluded.
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/recent-unlinked?exclude="+f.complete, "", orgUser)
			if got := js(body); got != `{"incidents":[]}` {
				t.Errorf("recent-unlinked = %s", got)
			}
			_, body = apiCall(t, f.srv, "GET", "/api/incidents/recent-unlinked?exclude=bad", "", orgUser)
			rec, _ := body["incidents"].([]any)
			if len(rec) != 1 || rec[0].(map[string]any)["id"] != f.complete || rec[0].(map[string]any)["alertTitle"] != "Checkout is down PD" {
				t.Errorf("recent-unlinked = %s", js(body))
			}
			if _, body = apiCall(t, f.srv, "GET", "/api/incidents/"+f.open+"/findings", "", orgUser); js(body) != `{"findings":[]}` {
				t.Errorf("findings = %s", js(body))
			}
		})
	}
}

// queryCounter counts the statements a bun.DB runs, not the transaction
// around them.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	switch e.Operation() {
	case "BEGIN", "COMMIT", "ROLLBACK":
	default:
		q.n.Add(1)
	}
	return ctx
}

func (q *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

func TestAuroraMetadataURLs(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			st := storetest.Open(t, driver)
			srv := httpapi.New(httpapi.Deps{Config: &config.Config{InternalAPISecret: incSecret}, Logger: hclog.NewNullLogger(), Store: st})
			src := incidents.Source{Provider: "alertmanager", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1"}
			in := &sdk.Incident{
				ExternalID: "fp1", Title: "HighLatency", Status: "triggered", Priority: "critical", Urgency: "high",
				Service: &sdk.Reference{ID: "api", Summary: "api"}, HTMLURL: "javascript:alert(1)", CreatedAt: incT0, HasCustomFields: true,
				CustomFields: []sdk.CustomField{
					{ID: "labels.alertname", Name: "alertname", Namespace: "labels", ValueJSON: []byte(`"HighLatency"`)},
					{ID: "annotations.runbook_url", Name: "runbook_url", Namespace: "annotations", ValueJSON: []byte(`"https://runbooks.example.com/latency"`)},
					{ID: "annotations.dashboard_url", Name: "dashboard_url", Namespace: "annotations", ValueJSON: []byte(`"data:text/html,x"`)},
				},
			}
			id := incApply(t, st.Bun(), src, sdk.Event{ID: "a1", Type: "alert.firing", OccurredAt: incT0, Data: []byte(`{"labels":{"alertname":"HighLatency"}}`), Incident: in})
			_, body := apiCall(t, srv, "GET", "/api/incidents/"+id, "", orgUser)
			alert := body["incident"].(map[string]any)["alert"].(map[string]any)
			b, _ := json.Marshal(alert["metadata"])
			if got, want := string(b), `{"annotations":{"dashboard_url":"data:text/html,x","runbook_url":"https://runbooks.example.com/latency"},"incidentId":"fp1","labels":{"alertname":"HighLatency"},"priority":"critical","runbookUrl":"https://runbooks.example.com/latency","urgency":"high"}`; got != want {
				t.Errorf("metadata = %s\nwant %s", got, want)
			}
			if alert["sourceUrl"] != "" {
				t.Errorf("sourceUrl = %v: a javascript: URL left the hub", alert["sourceUrl"])
			}
			if alert["rawPayload"] != "{\n  \"labels\": {\n    \"alertname\": \"HighLatency\"\n  }\n}" {
				t.Errorf("rawPayload = %q", alert["rawPayload"])
			}
		})
	}
}
