package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// Aurora's frontend, replayed: the requests its Next.js routes send to
// ${BACKEND_URL}/api/incidents... (AURORA-INCIDENTS.md section 1), with
// exactly their headers, against a real hub with the real PagerDuty plugin.

// frontend sends what getAuthenticatedUser() sets: X-User-ID, X-Org-ID
// when the session has an org, X-Internal-Secret; Content-Type only on
// writes. No cookie, no bearer token.
func (h *hubProc) frontend(c caller, method, path, body string) response {
	h.t.Helper()
	var req *http.Request
	var err error
	if body == "" {
		req, err = http.NewRequest(method, h.URL+path, nil)
	} else {
		req, err = http.NewRequest(method, h.URL+path, strings.NewReader(body))
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-User-ID", c.user)
	if c.org != "" {
		req.Header.Set("X-Org-ID", c.org)
	}
	req.Header.Set("X-Internal-Secret", internalSecret)
	return doRequest(h.t, req)
}

// jsonType names a decoded JSON value's type as the frontend sees it.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// checkFields checks that obj has each field (a dotted path) with one of
// the allowed types ("string|null"); "time" is an RFC 3339 string.
func checkFields(t *testing.T, what string, obj map[string]any, fields map[string]string) {
	t.Helper()
	for path, allowed := range fields {
		var v any = obj
		present := true
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				present = false
				break
			}
			if v, ok = m[k]; !ok {
				present = false
				break
			}
		}
		if !present {
			t.Errorf("%s: %s is missing", what, path)
			continue
		}
		typ := jsonType(v)
		okType := false
		for _, a := range strings.Split(allowed, "|") {
			if a == "time" {
				if s, ok := v.(string); ok {
					_, err := time.Parse(time.RFC3339Nano, s)
					okType = err == nil
				}
			} else if a == typ {
				okType = true
			}
		}
		if !okType {
			t.Errorf("%s: %s = %#v (%s), want %s", what, path, v, typ, allowed)
		}
	}
}

// The fields the list page reads, with their types (section 2).
var listFields = map[string]string{
	"id": "string", "sourceType": "string", "alert": "object", "alert.title": "string", "alert.service": "string",
	"alert.sourceUrl": "string", "severity": "string", "status": "string", "auroraStatus": "string", "summary": "string",
	"correlatedAlertCount": "number", "startedAt": "time", "analyzedAt": "time|null", "createdAt": "time",
	"updatedAt": "time", "alertFiredAt": "time|null", "resolvedAt": "time|null",
}

// The fields the detail page renders (section 3), with their types.
var detailFields = map[string]string{
	"id": "string", "sourceType": "string", "severity": "string", "status": "string", "auroraStatus": "string",
	"alert.title": "string", "alert.service": "string", "alert.source": "string", "alert.sourceUrl": "string",
	"alert.rawPayload": "string", "alert.metadata": "object", "alertFiredAt": "time|null", "startedAt": "time",
	"updatedAt": "time", "summary": "string", "chatSessionId": "string|null", "correlatedAlerts": "array",
	"suggestions": "array", "streamingThoughts": "array", "citations": "array", "tokenUsage": "object|null",
	"correlatedAlertCount": "number",
}

var correlatedAlertFields = map[string]string{
	"id": "string", "sourceType": "string", "alertTitle": "string", "alertService": "string", "receivedAt": "time",
	"correlationStrategy": "string", "correlationScore": "number", "correlationDetails": "object",
}

var (
	incidentStatuses = map[string]bool{"investigating": true, "analyzed": true, "resolved": true, "merged": true}
	auroraStatuses   = map[string]bool{"idle": true, "running": true, "summarizing": true, "complete": true, "error": true}
	strategies       = map[string]bool{"primary": true, "topology": true, "time_window": true, "similarity": true, "manual": true}
)

// auroraSSE is the list page's EventSource on /api/incidents/stream: it
// keeps every line, so the wire format can be checked too.
type auroraSSE struct {
	mu    sync.Mutex
	lines []string
}

func (h *hubProc) auroraStream(t *testing.T, c caller) *auroraSSE {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", h.URL+"/api/incidents/stream", nil)
	req.Header.Set("X-User-ID", c.user)
	req.Header.Set("X-Internal-Secret", internalSecret)
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy waits for the headers: they must not wait for an event.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stream headers took %v", d)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" ||
		res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("stream = %d %v", res.StatusCode, res.Header)
	}
	s := &auroraSSE{}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	return s
}

// events are the data: lines decoded, as es.onmessage would.
func (s *auroraSSE) events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range s.lines {
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			var ev map[string]any
			if json.Unmarshal([]byte(d), &ev) == nil {
				out = append(out, ev)
			}
		}
	}
	return out
}

func (s *auroraSSE) waitFor(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	return s.waitForAfter(t, 0, match)
}

// waitForAfter waits for a matching event after the first n.
func (s *auroraSSE) waitForAfter(t *testing.T, n int, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	waitFor(t, "SSE event", 20*time.Second, func() bool {
		for _, e := range s.events()[n:] {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestAuroraFrontendReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		now := time.Now().UTC().Truncate(time.Second)
		inc := pipelineAccount(sim, now)
		sim.AddService(pdsim.Service{ID: "PSVCOTH", Name: "search-indexer"})
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_RCA_DELAY": "0s"}})
		connectWithSecret(t, h, whSecret)
		fe := alice
		stream := h.auroraStream(t, fe)

		// 1. An incident arrives: the list page's SSE consumer hears
		// incident_update, refetches GET /api/incidents and finds it.
		body := pdsim.IncidentEvent("incident.triggered", pdsim.WebhookIncident{
			ID: inc.ID, Number: inc.Number, Title: inc.Title, Status: "triggered", Urgency: "high",
			IncidentKey: "payments/errors", CreatedAt: pdsim.FormatOccurredAt(now.Add(-time.Minute)),
			Service:  &pdsim.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
			Priority: &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
		}).At(now).Body()
		if res := h.webhook(fe.user, body, whSecret); res.Status != 202 {
			t.Fatalf("trigger = %d %s", res.Status, res.Body)
		}
		var id string
		waitFor(t, "incident in GET /api/incidents", 20*time.Second, func() bool {
			res := h.frontend(fe, "GET", "/api/incidents", "")
			if res.Status != 200 {
				t.Fatalf("GET /api/incidents = %d %s", res.Status, res.Body)
			}
			list, _ := res.JSON["incidents"].([]any)
			for _, it := range list {
				m := it.(map[string]any)
				if md, _ := m["alert"].(map[string]any)["metadata"].(map[string]any); md != nil && md["incidentId"] == inc.ID {
					id = m["id"].(string)
					checkFields(t, "list item", m, listFields)
					if _, ok := res.JSON["total"].(float64); !ok {
						t.Errorf("total = %v", res.JSON["total"])
					}
					return true
				}
			}
			return false
		})
		ev := stream.waitFor(t, func(e map[string]any) bool { return e["type"] == "incident_update" && e["incident_id"] == id })
		if ev["source"] != "pagerduty" || keys(ev) != "incident_id,source,type" {
			t.Errorf("incident_update = %v", ev)
		}

		// 2. PagerDuty custom fields: incident_update with custom_fields_updated,
		// and the runbook link the detail page shows.
		cf := pdsim.CustomFieldValuesEvent(pdsim.Reference{ID: inc.ID}, nil, []pdsim.CustomFieldValue{
			{ID: "PCF0001", Type: "field_value", Name: "runbook_link", DataType: "url", FieldType: "single_value", Value: "https://wiki.example.com/runbooks/payments"},
		}).At(now.Add(time.Second)).Body()
		if res := h.webhook(fe.user, cf, whSecret); res.Status != 202 {
			t.Fatalf("custom fields = %d %s", res.Status, res.Body)
		}
		stream.waitFor(t, func(e map[string]any) bool {
			return e["type"] == "incident_update" && e["incident_id"] == id && e["custom_fields_updated"] == true
		})

		// 3. The detail page polls until the analysis is complete.
		var detail map[string]any
		waitFor(t, "analysis complete in GET /api/incidents/{id}", 30*time.Second, func() bool {
			res := h.frontend(fe, "GET", "/api/incidents/"+id, "")
			if res.Status != 200 {
				t.Fatalf("GET detail = %d %s", res.Status, res.Body)
			}
			detail, _ = res.JSON["incident"].(map[string]any)
			return detail != nil && detail["auroraStatus"] == "complete"
		})
		checkFields(t, "detail", detail, detailFields)
		checkFields(t, "detail", detail, map[string]string{"alert.metadata.customFields.runbook_link": "string"})
		if !incidentStatuses[detail["status"].(string)] || !auroraStatuses[detail["auroraStatus"].(string)] {
			t.Errorf("status %v auroraStatus %v", detail["status"], detail["auroraStatus"])
		}
		alert := detail["alert"].(map[string]any)
		md := alert["metadata"].(map[string]any)
		if alert["title"] != inc.Title || alert["service"] != "payments-api" || detail["severity"] != "critical" ||
			md["incidentId"] != inc.ID || md["priority"] != "P1" || md["urgency"] != "high" || md["incidentKey"] != "payments/errors" ||
			!strings.HasPrefix(alert["sourceUrl"].(string), "https://") {
			t.Errorf("detail alert = %v severity %v", alert, detail["severity"])
		}
		if s, _ := detail["summary"].(string); s == "" {
			t.Errorf("complete analysis without summary")
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(alert["rawPayload"].(string)), &raw); err != nil {
			t.Fatalf("rawPayload: %v", err)
		}
		rawEvent, _ := raw["event"].(map[string]any)
		rawData, _ := rawEvent["data"].(map[string]any)
		if rawEvent["event_type"] != "incident.triggered" || rawData["id"] != inc.ID ||
			rawData["customFields"].(map[string]any)["runbook_link"] != "https://wiki.example.com/runbooks/payments" {
			t.Errorf("rawPayload = %s", alert["rawPayload"])
		}
		for _, kind := range []string{"streamingThoughts", "citations", "suggestions"} {
			for i, x := range detail[kind].([]any) {
				m, _ := x.(map[string]any)
				checkFields(t, fmt.Sprintf("%s[%d]", kind, i), m, map[string]string{"id": "string"})
			}
		}

		// 4. A second incident on the service joins the first: alert_correlated
		// on the stream, one more related alert, and it stays out of the list.
		again := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5% (eu)", ServiceID: "PSVC001", Urgency: "high"})
		if res := h.webhook(fe.user, triggerBody(again, "PSVC001", "payments-api", now.Add(time.Minute)), whSecret); res.Status != 202 {
			t.Fatalf("second trigger = %d %s", res.Status, res.Body)
		}
		ev = stream.waitFor(t, func(e map[string]any) bool { return e["type"] == "alert_correlated" && e["incident_id"] == id })
		if keys(ev) != "alert_title,correlation_score,incident_id,source,type" || ev["alert_title"] != again.Title || jsonType(ev["correlation_score"]) != "number" {
			t.Errorf("alert_correlated = %v", ev)
		}
		res := h.frontend(fe, "GET", "/api/incidents/"+id, "")
		detail = res.JSON["incident"].(map[string]any)
		ca := detail["correlatedAlerts"].([]any)
		if len(ca) != 2 || detail["correlatedAlertCount"] != float64(1) {
			t.Fatalf("correlatedAlerts = %v count %v", ca, detail["correlatedAlertCount"])
		}
		for i, a := range ca {
			checkFields(t, fmt.Sprintf("correlatedAlerts[%d]", i), a.(map[string]any), correlatedAlertFields)
			if s := a.(map[string]any)["correlationStrategy"].(string); !strategies[s] || (i == 0) != (s == "primary") {
				t.Errorf("correlatedAlerts[%d] strategy %q", i, s)
			}
		}
		if d := ca[1].(map[string]any)["correlationDetails"].(map[string]any); keys(d) != "correlated_alert_count,similarity,time_window,topology" {
			t.Errorf("correlationDetails = %v", d)
		}

		// 5. An unrelated incident, with automatic analyses off so it stays
		// investigating: RecentAlertsSection offers it; merging it moves it
		// out of the list and into the first incident's alerts.
		if res := h.do(fe, "PUT", "/settings", map[string]any{"automatedRca": false}); res.Status != 200 {
			t.Fatalf("PUT /settings = %d %s", res.Status, res.Body)
		}
		other := sim.AddIncident(pdsim.Incident{Title: "Search indexer lagging", ServiceID: "PSVCOTH", Urgency: "low"})
		if res := h.webhook(fe.user, triggerBody(other, "PSVCOTH", "search-indexer", now.Add(2*time.Hour)), whSecret); res.Status != 202 {
			t.Fatalf("third trigger = %d %s", res.Status, res.Body)
		}
		var otherID string
		waitFor(t, "recent-unlinked", 20*time.Second, func() bool {
			res := h.frontend(fe, "GET", "/api/incidents/recent-unlinked?exclude="+id, "")
			if res.Status != 200 {
				t.Fatalf("recent-unlinked = %d %s", res.Status, res.Body)
			}
			for _, it := range res.JSON["incidents"].([]any) {
				m := it.(map[string]any)
				checkFields(t, "recent-unlinked", m, map[string]string{"id": "string", "alertTitle": "string", "alertService": "string", "sourceType": "string", "createdAt": "time"})
				if m["id"] == id {
					t.Errorf("recent-unlinked lists the excluded incident")
				}
				if m["alertTitle"] == other.Title {
					otherID = m["id"].(string)
				}
			}
			return otherID != ""
		})
		stream.waitFor(t, func(e map[string]any) bool { return e["type"] == "incident_update" && e["incident_id"] == otherID })
		if res := h.frontend(fe, "POST", "/api/incidents/"+id+"/merge-alert", `{"sourceIncidentId":"`+otherID+`"}`); res.Status != 200 ||
			res.JSON["success"] != true || res.JSON["newAlertId"] != otherID {
			t.Fatalf("merge-alert = %d %s", res.Status, res.Body)
		}
		list := h.frontend(fe, "GET", "/api/incidents", "")
		var listed []string
		for _, it := range list.JSON["incidents"].([]any) {
			listed = append(listed, it.(map[string]any)["id"].(string))
		}
		if fmt.Sprint(listed) != fmt.Sprint([]string{id}) || list.JSON["total"] != float64(1) {
			t.Errorf("list after merge = %v total %v, want only %s", listed, list.JSON["total"], id)
		}
		merged := h.frontend(fe, "GET", "/api/incidents/"+otherID, "").JSON["incident"].(map[string]any)
		if merged["status"] != "merged" || merged["mergedIntoIncidentId"] != id || merged["mergedIntoTitle"] != inc.Title {
			t.Errorf("merged incident = %v %v %v", merged["status"], merged["mergedIntoIncidentId"], merged["mergedIntoTitle"])
		}
		detail = h.frontend(fe, "GET", "/api/incidents/"+id, "").JSON["incident"].(map[string]any)
		ca = detail["correlatedAlerts"].([]any)
		last := ca[len(ca)-1].(map[string]any)
		if len(ca) != 3 || detail["correlatedAlertCount"] != float64(2) || last["correlationStrategy"] != "manual" ||
			last["correlationScore"] != float64(1) || last["correlationDetails"].(map[string]any)["merged_from_incident"] != otherID {
			t.Errorf("after merge: count %v alerts %v", detail["correlatedAlertCount"], ca)
		}

		// 6. Feedback on the complete analysis, read back by IncidentFeedback.
		if res := h.frontend(fe, "GET", "/api/incidents/"+id+"/feedback", ""); res.Status != 200 || string(res.Body) != `{"feedback":null}` {
			t.Errorf("feedback before = %d %s", res.Status, res.Body)
		}
		fb := h.frontend(fe, "POST", "/api/incidents/"+id+"/feedback", `{"feedback_type":"helpful","comment":"spot on"}`)
		if fb.Status != 201 || fb.JSON["success"] != true || fb.JSON["feedbackType"] != "helpful" || jsonType(fb.JSON["feedbackId"]) != "string" {
			t.Fatalf("feedback = %d %s", fb.Status, fb.Body)
		}
		got := h.frontend(fe, "GET", "/api/incidents/"+id+"/feedback", "").JSON["feedback"].(map[string]any)
		if got["feedbackType"] != "helpful" || got["comment"] != "spot on" || got["id"] != fb.JSON["feedbackId"] {
			t.Errorf("feedback read back = %v", got)
		}
		if res := h.frontend(fe, "GET", "/api/incidents/"+id+"/findings", ""); res.Status != 200 || string(res.Body) != `{"findings":[]}` {
			t.Errorf("findings = %d %s", res.Status, res.Body)
		}

		// 7. Resolve, as IncidentCard's button does; the list shows it.
		seen := len(stream.events())
		if res := h.frontend(fe, "PATCH", "/api/incidents/"+id, `{"status":"resolved"}`); res.Status != 200 || res.JSON["success"] != true || res.JSON["id"] != id {
			t.Fatalf("resolve = %d %s", res.Status, res.Body)
		}
		// Other open list pages refetch.
		stream.waitForAfter(t, seen, func(e map[string]any) bool { return e["type"] == "incident_update" && e["incident_id"] == id })
		item := h.frontend(fe, "GET", "/api/incidents", "").JSON["incidents"].([]any)[0].(map[string]any)
		if item["status"] != "resolved" || item["resolvedAt"] == nil {
			t.Errorf("list after resolve: status %v resolvedAt %v", item["status"], item["resolvedAt"])
		}

		// 8. Errors the pages meet, with the contract's messages.
		for _, tc := range []struct {
			method, path, body string
			code               int
			err                string
		}{
			{"GET", "/api/incidents/not-a-uuid", "", 400, "Invalid incident ID format"},
			{"GET", "/api/incidents/00000000-0000-4000-8000-000000000000", "", 404, "Incident not found"},
			{"PATCH", "/api/incidents/" + id, `{"status":"closed"}`, 400, "Invalid status. Must be one of: investigating, analyzed, merged, resolved"},
			{"POST", "/api/incidents/" + id + "/merge-alert", `{"sourceIncidentId":"` + otherID + `"}`, 400, "Source incident is already merged into another incident"},
			{"POST", "/api/incidents/" + id + "/feedback", `{"feedback_type":"helpful"}`, 409, "Feedback already submitted for this incident. Feedback cannot be changed."},
		} {
			res := h.frontend(fe, tc.method, tc.path, tc.body)
			if res.Status != tc.code || res.JSON["error"] != tc.err {
				t.Errorf("%s %s = %d %s, want %d %q", tc.method, tc.path, res.Status, res.Body, tc.code, tc.err)
			}
		}
		if res := h.frontend(caller{}, "GET", "/api/incidents", ""); res.Status != 401 || res.JSON["error"] != "Unauthorized" {
			t.Errorf("no user = %d %s", res.Status, res.Body)
		}

		// 9. The wire: data: lines and ": keepalive" after 10 idle seconds,
		// nothing else (no event:, id: or retry:).
		waitFor(t, "keepalive", 25*time.Second, func() bool {
			stream.mu.Lock()
			defer stream.mu.Unlock()
			for _, l := range stream.lines {
				if l == ": keepalive" {
					return true
				}
			}
			return false
		})
		stream.mu.Lock()
		for _, l := range stream.lines {
			if l != "" && l != ": keepalive" && !strings.HasPrefix(l, "data: {") {
				t.Errorf("unexpected SSE line %q", l)
			}
		}
		stream.mu.Unlock()
	})
}
