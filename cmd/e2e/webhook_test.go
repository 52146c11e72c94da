package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// webhook posts body to the user's webhook URL, signed with secrets.
func (h *hubProc) webhook(userID string, body []byte, secrets ...string) response {
	h.t.Helper()
	req, err := pdsim.NewWebhookRequest(ctxT(h.t), h.URL+"/pagerduty/webhook/"+userID, body, secrets...)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("X-Webhook-Id", "wh-"+fmt.Sprint(time.Now().UnixNano()))
	req.Header.Set("X-Webhook-Subscription", "PSUB123")
	return doRequest(h.t, req)
}

// incidents lists the caller's incidents.
func (h *hubProc) incidents(c caller) []map[string]any {
	h.t.Helper()
	res := h.do(c, "GET", "/incidents?limit=500&includeCorrelated=true", nil)
	if res.Status != 200 {
		h.t.Fatalf("GET /incidents = %d %s", res.Status, res.Body)
	}
	var out []map[string]any
	list, _ := res.JSON["incidents"].([]any)
	for _, i := range list {
		out = append(out, i.(map[string]any))
	}
	return out
}

// incidentBySource waits until the incident of provider id ext satisfies cond.
func (h *hubProc) incidentBySource(c caller, ext string, cond func(map[string]any) bool) map[string]any {
	h.t.Helper()
	return h.incidentBySourceWithin(c, ext, 20*time.Second, cond)
}

func (h *hubProc) incidentBySourceWithin(c caller, ext string, d time.Duration, cond func(map[string]any) bool) map[string]any {
	h.t.Helper()
	var found map[string]any
	waitFor(h.t, "incident "+ext, d, func() bool {
		for _, in := range h.incidents(c) {
			if in["sourceAlertId"] == ext {
				res := h.do(c, "GET", "/incidents/"+in["id"].(string), nil)
				if res.Status == 200 && cond(res.JSON) {
					found = res.JSON
					return true
				}
			}
		}
		return false
	})
	return found
}

func incidentBody(eventType, id string, at time.Time, mut func(*pdsim.WebhookIncident)) []byte {
	inc := pdsim.WebhookIncident{
		ID: id, Number: 42, Title: "Checkout latency above SLO", Status: "triggered", Urgency: "high",
		IncidentKey: "checkout/latency", HTMLURL: "https://acme.pagerduty.com/incidents/" + id,
		CreatedAt: pdsim.FormatOccurredAt(at),
		Service:   &pdsim.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
		Priority:  &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
	}
	switch eventType {
	case "incident.acknowledged":
		inc.Status = "acknowledged"
	case "incident.resolved":
		inc.Status = "resolved"
	}
	if mut != nil {
		mut(&inc)
	}
	return pdsim.IncidentEvent(eventType, inc).At(at).Body()
}

const whSecret = "whsec-e2e-first-0001"

// connectWithSecret connects alice and stores a signing secret.
func connectWithSecret(t *testing.T, h *hubProc, secret string) {
	t.Helper()
	if res := h.do(alice, "POST", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 200 {
		t.Fatalf("connect = %d %s", res.Status, res.Body)
	}
	if secret != "" {
		if res := h.do(alice, "PUT", "/pagerduty/webhook-secret", map[string]any{"secret": secret}); res.Status != 200 {
			t.Fatalf("PUT secret = %d %s", res.Status, res.Body)
		}
	}
}

func TestWebhookVerification(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})
		connectWithSecret(t, h, "")
		t0 := time.Now().Add(-time.Hour)
		body := incidentBody("incident.triggered", "PINCV01", t0, nil)

		// No secret yet: rejected with a message saying how to set one.
		res := h.webhook(alice.user, body, "anything")
		if res.Status != 401 || !strings.Contains(string(res.Body), "PUT /pagerduty/webhook-secret") {
			t.Fatalf("without a secret = %d %s", res.Status, res.Body)
		}
		if st := h.do(alice, "GET", "/pagerduty", nil); !strings.Contains(string(st.Body), `"secretConfigured":false`) || !strings.Contains(string(st.Body), "webhook-secret") {
			t.Fatalf("status lacks the webhook warning: %s", st.Body)
		}
		if res := h.do(alice, "PUT", "/pagerduty/webhook-secret", map[string]any{"secret": whSecret}); res.Status != 200 {
			t.Fatalf("PUT secret = %d %s", res.Status, res.Body)
		}

		wrongSig := func(r *http.Request) { r.Header.Set("X-PagerDuty-Signature", "v1="+strings.Repeat("0", 64)) }
		tests := []struct {
			name    string
			body    []byte
			secrets []string
			mutate  func(*http.Request)
			status  int
			want    string
		}{
			{"missing signature", body, nil, nil, 401, "signature"},
			{"malformed signature", body, nil, func(r *http.Request) { r.Header.Set("X-PagerDuty-Signature", "v1=zz,garbage") }, 401, "signature"},
			{"wrong secret", body, []string{"not-the-secret"}, nil, 401, "signature"},
			{"wrong digest", body, nil, wrongSig, 401, "signature"},
			{"other scheme only", body, nil, func(r *http.Request) { r.Header.Set("X-PagerDuty-Signature", "v0="+pdsim.Sign(whSecret, body)[3:]) }, 401, "signature"},
			{"body altered after signing", append(append([]byte{}, body...), ' '), nil, func(r *http.Request) { r.Header.Set("X-PagerDuty-Signature", pdsim.Sign(whSecret, body)) }, 401, "signature"},
			{"V2 body", pdsim.V2Body(), nil, nil, 400, "V3"},
			{"V1 body", pdsim.V1Body(), nil, nil, 400, "V3"},
			{"signed V2 body", pdsim.V2Body(), []string{whSecret}, nil, 400, "V3"},
			{"not JSON", []byte("hello"), []string{whSecret}, nil, 400, "JSON"},
			{"no event", []byte(`{"foo":1}`), []string{whSecret}, nil, 400, "event"},
			{"no event_type", []byte(`{"event":{"id":"e1","resource_type":"incident"}}`), []string{whSecret}, nil, 400, "event_type"},
			{"no resource_type", []byte(`{"event":{"id":"e1","event_type":"incident.triggered"}}`), []string{whSecret}, nil, 400, "resource_type"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := pdsim.NewWebhookRequest(ctxT(t), h.URL+"/pagerduty/webhook/"+alice.user, tt.body, tt.secrets...)
				if tt.mutate != nil {
					tt.mutate(req)
				}
				res := doRequest(t, req)
				if res.Status != tt.status || !strings.Contains(string(res.Body), tt.want) {
					t.Fatalf("= %d %s, want %d containing %q", res.Status, res.Body, tt.status, tt.want)
				}
			})
		}
		if n := len(h.incidents(alice)); n != 0 {
			t.Fatalf("%d incidents stored from rejected deliveries", n)
		}
		if st := h.do(alice, "GET", "/pagerduty", nil); !strings.Contains(string(st.Body), `"lastError":`) {
			t.Fatalf("status lacks the last error: %s", st.Body)
		}

		// Unknown user and oversized bodies.
		if res := h.webhook("nobody", body, whSecret); res.Status != 404 || string(res.Body) != `{"error":"PagerDuty not connected for this user"}` {
			t.Fatalf("unknown user = %d %s", res.Status, res.Body)
		}
		big := bytes.Repeat([]byte("x"), 300<<10)
		if res := h.webhook(alice.user, big, whSecret); res.Status != 413 {
			t.Fatalf("300 KB body = %d %s", res.Status, res.Body)
		}

		// A valid signature, then a rotation: old and new both verify.
		if res := h.webhook(alice.user, body, whSecret); res.Status != 202 || string(res.Body) != `{"received":true}` ||
			res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("valid = %d %s (%s)", res.Status, res.Body, res.Header.Get("Content-Type"))
		}
		if res := h.do(alice, "PUT", "/pagerduty/webhook-secret", map[string]any{"secret": "whsec-e2e-second-0002"}); res.Status != 200 || res.JSON["activeSecrets"] != float64(2) {
			t.Fatalf("rotate = %d %s", res.Status, res.Body)
		}
		for i, secrets := range [][]string{{whSecret}, {"whsec-e2e-second-0002"}, {"stale", "whsec-e2e-second-0002"}} {
			b := incidentBody("incident.acknowledged", "PINCV01", t0.Add(time.Duration(i+1)*time.Minute), nil)
			if res := h.webhook(alice.user, b, secrets...); res.Status != 202 {
				t.Fatalf("rotation %d = %d %s", i, res.Status, res.Body)
			}
		}
		inc := h.incidentBySource(alice, "PINCV01", func(m map[string]any) bool { return len(m["timeline"].([]any)) == 4 })
		if inc["status"] != "investigating" || inc["severity"] != "critical" || inc["sourceType"] != "pagerduty" {
			t.Fatalf("incident = %v", inc)
		}
		// DELETE removes the secrets: deliveries are rejected again.
		if res := h.do(alice, "DELETE", "/pagerduty/webhook-secret", nil); res.Status != 200 {
			t.Fatalf("DELETE secret = %d %s", res.Status, res.Body)
		}
		if res := h.webhook(alice.user, body, whSecret); res.Status != 401 {
			t.Fatalf("after DELETE = %d %s", res.Status, res.Body)
		}
		if !strings.Contains(h.Logs(), "PSUB123") {
			t.Error("no log line names the subscription of a rejected delivery")
		}
	})
}

func TestWebhookLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})
		connectWithSecret(t, h, whSecret)
		t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

		trig := incidentBody("incident.triggered", "PINCL01", t0, nil)
		for i := 0; i < 3; i++ { // redeliveries change nothing
			res := h.webhook(alice.user, trig, whSecret)
			if res.Status != 202 {
				t.Fatalf("trigger #%d = %d %s", i, res.Status, res.Body)
			}
			if i > 0 && !strings.Contains(string(res.Body), "duplicate") {
				t.Fatalf("redelivery #%d not reported as duplicate: %s", i, res.Body)
			}
		}
		// Out of order: resolved (t0+10m) arrives before acknowledged (t0+5m).
		resolvedAt := t0.Add(10 * time.Minute)
		if res := h.webhook(alice.user, incidentBody("incident.resolved", "PINCL01", resolvedAt, nil), whSecret); res.Status != 202 {
			t.Fatalf("resolve = %d %s", res.Status, res.Body)
		}
		if res := h.webhook(alice.user, incidentBody("incident.acknowledged", "PINCL01", t0.Add(5*time.Minute), nil), whSecret); res.Status != 202 {
			t.Fatalf("ack = %d %s", res.Status, res.Body)
		}
		inc := h.incidentBySource(alice, "PINCL01", func(m map[string]any) bool { return len(m["timeline"].([]any)) == 3 })
		if inc["status"] != "resolved" || inc["resolvedAt"] == nil {
			t.Fatalf("after out-of-order ack: status %v resolvedAt %v", inc["status"], inc["resolvedAt"])
		}
		if ts, _ := time.Parse(time.RFC3339Nano, inc["resolvedAt"].(string)); !ts.Equal(resolvedAt) {
			t.Errorf("resolvedAt = %v, want %v", inc["resolvedAt"], resolvedAt)
		}
		// A reopen (newer) clears resolvedAt.
		reopen := incidentBody("incident.reopened", "PINCL01", t0.Add(20*time.Minute), func(i *pdsim.WebhookIncident) { i.Status = "triggered" })
		if res := h.webhook(alice.user, reopen, whSecret); res.Status != 202 {
			t.Fatalf("reopen = %d %s", res.Status, res.Body)
		}
		inc = h.incidentBySource(alice, "PINCL01", func(m map[string]any) bool { return m["status"] == "investigating" })
		if inc["resolvedAt"] != nil {
			t.Fatalf("reopen kept resolvedAt %v", inc["resolvedAt"])
		}

		// Custom fields: set two, then change one and clear the other.
		ref := pdsim.Reference{ID: "PINCL01"}
		runbook := pdsim.CustomFieldValue{ID: "F1", Name: "runbook_link", DataType: "url", FieldType: "single_value", Value: "https://runbooks/x"}
		region := pdsim.CustomFieldValue{ID: "F2", Name: "region", DataType: "string", FieldType: "single_value_fixed", Value: "eu-west-1"}
		ev := pdsim.CustomFieldValuesEvent(ref, []pdsim.CustomFieldValue{runbook, region}, []pdsim.CustomFieldValue{runbook, region}).At(t0.Add(21 * time.Minute))
		if res := h.webhook(alice.user, ev.Body(), whSecret); res.Status != 202 {
			t.Fatalf("fields = %d %s", res.Status, res.Body)
		}
		h.incidentBySource(alice, "PINCL01", func(m map[string]any) bool {
			f, _ := m["customFields"].(map[string]any)
			return len(f) == 2
		})
		region.Value = nil
		runbook.Value = "https://runbooks/y"
		ev = pdsim.CustomFieldValuesEvent(ref, []pdsim.CustomFieldValue{runbook, region}, []pdsim.CustomFieldValue{runbook, region}).At(t0.Add(22 * time.Minute))
		if res := h.webhook(alice.user, ev.Body(), whSecret); res.Status != 202 {
			t.Fatalf("fields 2 = %d %s", res.Status, res.Body)
		}
		inc = h.incidentBySource(alice, "PINCL01", func(m map[string]any) bool {
			f, _ := m["customFields"].(map[string]any)
			return len(f) == 1
		})
		rb, _ := inc["customFields"].(map[string]any)["runbook_link"].(map[string]any)
		if rb["value"] != "https://runbooks/y" {
			t.Fatalf("customFields = %v", inc["customFields"])
		}

		// Ping and service events are acknowledged without touching incidents.
		for _, e := range []pdsim.Event{pdsim.PingEvent(), pdsim.ServiceEvent("service.updated", pdsim.WebhookService{ID: "PSVC001", Name: "payments-api"})} {
			res := h.webhook(alice.user, e.Body(), whSecret)
			if res.Status != 202 || res.JSON["received"] != true {
				t.Fatalf("%s = %d %s", e.EventType, res.Status, res.Body)
			}
		}
		if n := len(h.incidents(alice)); n != 1 {
			t.Fatalf("%d incidents, want 1", n)
		}
		// Another tenant cannot see it.
		if n := len(h.incidents(caller{user: "user-mallory"})); n != 0 {
			t.Fatalf("another tenant sees %d incidents", n)
		}
		if res := h.do(caller{user: "user-mallory"}, "GET", "/incidents/"+inc["id"].(string), nil); res.Status != 404 {
			t.Fatalf("another tenant's GET = %d", res.Status)
		}
		if st := h.do(alice, "GET", "/pagerduty", nil); !strings.Contains(string(st.Body), `"lastDeliveryAt":"`) {
			t.Fatalf("status lacks lastDeliveryAt: %s", st.Body)
		}
	})
}

func TestUnsignedWebhooksWhenAllowed(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite", env: map[string]string{"PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED": "true"}})
	connectWithSecret(t, h, "")
	res := h.webhook(alice.user, incidentBody("incident.triggered", "PINCU01", time.Now(), nil))
	if res.Status != 202 || res.JSON["verified"] != false {
		t.Fatalf("unsigned = %d %s", res.Status, res.Body)
	}
	if st := h.do(alice, "GET", "/pagerduty", nil); !strings.Contains(string(st.Body), "unverified") {
		t.Fatalf("status lacks the unverified warning: %s", st.Body)
	}
	h.incidentBySource(alice, "PINCU01", func(map[string]any) bool { return true })
}

func TestWebhookSubscriptionProvisioning(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		addr := freePort(t)
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_LISTEN": addr, "NEXT_PUBLIC_BACKEND_URL": "http://" + addr}})
		reader := caller{user: "user-reader"}
		if res := h.do(reader, "POST", "/pagerduty", map[string]any{"token": readerToken}); res.Status != 200 {
			t.Fatalf("connect reader = %d %s", res.Status, res.Body)
		}
		if res := h.do(reader, "POST", "/pagerduty/webhook-subscription", nil); res.Status != 403 {
			t.Fatalf("read-only provisioning = %d %s", res.Status, res.Body)
		}
		connectWithSecret(t, h, "")
		res := h.do(alice, "POST", "/pagerduty/webhook-subscription", map[string]any{"scope": map[string]any{"type": "service", "id": "PSVC001"}})
		if res.Status != 201 || res.JSON["pinged"] != true || res.JSON["secretStored"] != true {
			t.Fatalf("create = %d %s", res.Status, res.Body)
		}
		subID := res.JSON["subscription"].(map[string]any)["id"].(string)
		subs := sim.WebhookSubscriptions()
		if len(subs) != 1 || subs[0].ID != subID {
			t.Fatalf("sim subscriptions = %+v", subs)
		}
		if res := h.do(alice, "POST", "/pagerduty/webhook-subscription", nil); res.Status != 409 {
			t.Fatalf("second create = %d %s", res.Status, res.Body)
		}
		// The ping went through the loop and was verified.
		sim.WaitWebhooks(ctxT(t))
		var pinged bool
		for _, d := range sim.Deliveries() {
			if d.EventType == "pagey.ping" && d.Delivered {
				pinged = true
			}
		}
		if !pinged {
			t.Fatalf("ping not delivered: %+v", sim.Deliveries())
		}
		// An incident created in PagerDuty reaches the hub, signed.
		inc := sim.AddIncident(pdsim.Incident{Title: "DB down", ServiceID: "PSVC001", Urgency: "high"})
		if err := sim.EmitIncidentEvent(ctxT(t), "incident.triggered", inc.ID); err != nil {
			t.Fatal(err)
		}
		h.incidentBySource(alice, inc.ID, func(m map[string]any) bool { return m["alert"].(map[string]any)["title"] == "DB down" })
		if st := h.do(alice, "GET", "/pagerduty", nil); !strings.Contains(string(st.Body), `"subscriptionId":"`+subID+`"`) {
			t.Fatalf("status lacks the subscription: %s", st.Body)
		}
		if res := h.do(alice, "GET", "/pagerduty/webhook-subscription", nil); res.Status != 200 {
			t.Fatalf("GET subscription = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "DELETE", "/pagerduty/webhook-subscription", nil); res.Status != 200 {
			t.Fatalf("DELETE = %d %s", res.Status, res.Body)
		}
		if n := len(sim.WebhookSubscriptions()); n != 0 {
			t.Fatalf("%d subscriptions left in PagerDuty", n)
		}
		if res := h.do(alice, "GET", "/pagerduty/webhook-subscription", nil); res.Status != 404 {
			t.Fatalf("GET after DELETE = %d %s", res.Status, res.Body)
		}
	})
}
