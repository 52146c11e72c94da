package pdsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func decodeEvent(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["event"] == nil {
		t.Fatalf("not a V3 body: %v %s", err, body)
	}
	return m["event"]
}

// hmacHex is an independent HMAC-SHA256 for checking signatures.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func subscriptionBody(url string, events []string, filter map[string]any) map[string]any {
	return map[string]any{"webhook_subscription": map[string]any{
		"type":            "webhook_subscription",
		"delivery_method": map[string]any{"type": "http_delivery_method", "url": url, "custom_headers": []any{map[string]any{"name": "X-Tenant", "value": "t1"}}},
		"events":          events, "filter": filter, "description": "hub",
	}}
}

func TestSubscriptionSecretShownOnce(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	r := e.do("POST", "/webhook_subscriptions", DemoUserToken,
		subscriptionBody(rcv.srv.URL, []string{"incident.triggered"}, map[string]any{"type": "account_reference"}))
	if r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	sub := r.json(t)["webhook_subscription"].(map[string]any)
	dm := sub["delivery_method"].(map[string]any)
	secret, _ := dm["secret"].(string)
	if secret == "" || sub["type"] != "webhook_subscription" || sub["active"] != true || dm["type"] != "http_delivery_method" || dm["url"] != rcv.srv.URL {
		t.Fatalf("created = %v", sub)
	}
	if h := dm["custom_headers"].([]any)[0].(map[string]any); h["value"] != "-- redacted --" {
		t.Errorf("custom header not redacted: %v", h)
	}
	id := sub["id"].(string)
	g := e.do("GET", "/webhook_subscriptions/"+id, DemoUserToken, nil).json(t)["webhook_subscription"].(map[string]any)
	if v, ok := g["delivery_method"].(map[string]any)["secret"]; !ok || v != nil {
		t.Errorf("GET shows secret %v", v)
	}
	l := e.do("GET", "/webhook_subscriptions", DemoUserToken, nil)
	if strings.Contains(string(l.body), secret) {
		t.Errorf("list shows the secret")
	}
	// The secret really signs deliveries; custom headers are sent.
	if err := e.sim.Ping(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	got := rcv.requests()[0]
	if got.header.Get(HeaderSignature) != "v1="+hmacHex(secret, got.body) || got.header.Get("X-Tenant") != "t1" {
		t.Errorf("headers = %v", got.header)
	}
	// Delete.
	if r := e.do("DELETE", "/webhook_subscriptions/"+id, DemoUserToken, nil); r.status != 204 {
		t.Errorf("delete = %d", r.status)
	}
	if r := e.do("GET", "/webhook_subscriptions/"+id, DemoUserToken, nil); r.status != 404 {
		t.Errorf("get after delete = %d", r.status)
	}
}

func TestSubscriptionValidation(t *testing.T) {
	e := newEnv(t, Options{RequireHTTPSWebhooks: false})
	ok := subscriptionBody("https://hub.example/webhooks", []string{"incident.triggered"}, map[string]any{"type": "account_reference"})
	mutate := func(f func(ws map[string]any)) map[string]any {
		raw, _ := json.Marshal(ok)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		f(m["webhook_subscription"].(map[string]any))
		return m
	}
	tests := map[string]any{
		"no body":             "",
		"no wrapper":          map[string]any{"type": "webhook_subscription"},
		"missing type":        mutate(func(ws map[string]any) { delete(ws, "type") }),
		"wrong delivery type": mutate(func(ws map[string]any) { ws["delivery_method"].(map[string]any)["type"] = "email" }),
		"missing url":         mutate(func(ws map[string]any) { delete(ws["delivery_method"].(map[string]any), "url") }),
		"relative url":        mutate(func(ws map[string]any) { ws["delivery_method"].(map[string]any)["url"] = "/hooks" }),
		"no events":           mutate(func(ws map[string]any) { ws["events"] = []any{} }),
		"unknown event":       mutate(func(ws map[string]any) { ws["events"] = []any{"incident.exploded"} }),
		"duplicate event":     mutate(func(ws map[string]any) { ws["events"] = []any{"incident.triggered", "incident.triggered"} }),
		"missing filter":      mutate(func(ws map[string]any) { delete(ws, "filter") }),
		"bad filter type":     mutate(func(ws map[string]any) { ws["filter"] = map[string]any{"type": "user_reference", "id": "P1"} }),
		"service filter no id": mutate(func(ws map[string]any) {
			ws["filter"] = map[string]any{"type": "service_reference"}
		}),
		"unknown service": mutate(func(ws map[string]any) {
			ws["filter"] = map[string]any{"type": "service_reference", "id": "PNOPE00"}
		}),
		"team filter no id": mutate(func(ws map[string]any) { ws["filter"] = map[string]any{"type": "team_reference"} }),
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/webhook_subscriptions", DemoUserToken, body)
			if r.status != 400 || r.errorCode(t) != 2001 {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}
	if n := len(e.sim.WebhookSubscriptions()); n != 0 {
		t.Fatalf("invalid creates made %d subscriptions", n)
	}
	for _, f := range []map[string]any{
		{"type": "service_reference", "id": DemoPaymentsServiceID},
		{"type": "team_reference", "id": DemoTeamPaymentsID},
	} {
		body := mutate(func(ws map[string]any) { ws["filter"] = f })
		if r := e.do("POST", "/webhook_subscriptions", DemoUserToken, body); r.status != 200 {
			t.Errorf("filter %v: %d %s", f, r.status, r.body)
		}
	}
	if r := e.do("POST", "/webhook_subscriptions", DemoReadOnlyToken, ok); r.status != 403 {
		t.Errorf("read-only create = %d", r.status)
	}
	tok := e.sim.IssueAccessToken(DemoAdminID, "openid webhook_subscriptions.read")
	if r := e.do("POST", "/webhook_subscriptions", "Bearer "+tok, ok); r.status != 403 {
		t.Errorf("create without write scope = %d", r.status)
	}
	if r := e.do("GET", "/webhook_subscriptions?filter_type=service&filter_id="+DemoPaymentsServiceID, "Bearer "+tok, nil); r.status != 200 ||
		len(r.json(t)["webhook_subscriptions"].([]any)) != 1 {
		t.Errorf("filtered list = %d %s", r.status, r.body)
	}
	e2 := newEnv(t, Options{RequireHTTPSWebhooks: true})
	if r := e2.do("POST", "/webhook_subscriptions", DemoUserToken, subscriptionBody("http://hub.example/x", []string{"incident.triggered"}, map[string]any{"type": "account_reference"})); r.status != 400 {
		t.Errorf("http URL with RequireHTTPSWebhooks = %d", r.status)
	}
}

var occurredAtRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestWebhookDeliveryAndSignature(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	ws := e.sim.AddWebhookSubscription(WebhookSubscription{
		ID: "PSUB001", URL: rcv.srv.URL, Events: []string{"incident.triggered", "incident.acknowledged"},
		FilterType: "service_reference", FilterID: DemoPaymentsServiceID, Secrets: []string{"s3cret-one"},
	})
	// An incident on another service matches no subscription.
	if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", "PINC002"); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("filtered-out event delivered (%d)", n)
	}
	if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID); err != nil {
		t.Fatal(err)
	}
	got := rcv.requests()[0]
	if sig := got.header.Get(HeaderSignature); sig != "v1="+hmacHex("s3cret-one", got.body) {
		t.Errorf("signature %q does not verify over the raw body", sig)
	}
	if !VerifySignature(got.header.Get(HeaderSignature), got.body, "s3cret-one") || VerifySignature(got.header.Get(HeaderSignature), got.body, "other") {
		t.Error("VerifySignature disagrees")
	}
	for h, want := range map[string]string{"User-Agent": "PagerDuty-Webhook/V3.0", "Content-Type": "application/json", HeaderSubscription: ws.ID} {
		if got.header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, got.header.Get(h), want)
		}
	}
	if got.header.Get(HeaderWebhookID) == "" {
		t.Error("no X-Webhook-Id")
	}
	ev := decodeEvent(t, got.body)
	if ev["event_type"] != "incident.triggered" || ev["resource_type"] != "incident" || ev["id"] == "" ||
		!occurredAtRE.MatchString(ev["occurred_at"].(string)) {
		t.Errorf("event envelope = %v", ev)
	}
	if _, ok := ev["agent"]; !ok {
		t.Error("agent key missing")
	}
	if _, ok := ev["client"]; !ok {
		t.Error("client key missing")
	}
	data := ev["data"].(map[string]any)
	for k, want := range map[string]any{"id": DemoIncidentID, "type": "incident", "number": float64(4), "status": "triggered",
		"title": "High error rate on payments-api", "urgency": "high", "html_url": "https://acme.pagerduty.com/incidents/" + DemoIncidentID} {
		if data[k] != want {
			t.Errorf("data.%s = %v, want %v", k, data[k], want)
		}
	}
	for _, k := range []string{"self", "incident_key", "created_at", "service", "assignees", "escalation_policy", "teams", "priority", "conference_bridge", "resolve_reason", "incident_type"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data.%s missing", k)
		}
	}
	if data["priority"].(map[string]any)["summary"] != "P1" || data["service"].(map[string]any)["summary"] != "payments-api" {
		t.Errorf("refs = %v %v", data["priority"], data["service"])
	}

	// Rotation: two secrets -> two v1= entries, each verifying.
	newSecret, err := e.sim.RotateWebhookSecret(ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.EmitIncidentEvent(t.Context(), "incident.acknowledged", DemoIncidentID); err != nil {
		t.Fatal(err)
	}
	got = rcv.requests()[1]
	parts := strings.Split(got.header.Get(HeaderSignature), ",")
	if len(parts) != 2 || parts[0] != "v1="+hmacHex("s3cret-one", got.body) || parts[1] != "v1="+hmacHex(newSecret, got.body) {
		t.Errorf("rotation header = %q", got.header.Get(HeaderSignature))
	}
	// Event types the subscription did not ask for are not sent.
	if err := e.sim.EmitIncidentEvent(t.Context(), "incident.resolved", DemoIncidentID); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.requests()); n != 2 {
		t.Errorf("unsubscribed event delivered: %d", n)
	}
	if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", "PNOPE00"); err == nil {
		t.Error("unknown incident: no error")
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name      string
		answers   []int
		attempts  int
		delivered bool
	}{
		{"5xx then success", []int{500, 503, 202}, 3, true},
		{"429 retried", []int{429, 200}, 2, true},
		{"5xx exhausted", []int{500, 502, 500, 500}, 3, false},
		{"400 not retried", []int{400, 202}, 1, false},
		{"404 not retried", []int{404}, 1, false},
		{"410 not retried", []int{410}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{WebhookMaxAttempts: 3, WebhookRetryDelay: time.Millisecond})
			rcv := newReceiver(t, tc.answers...)
			ws := e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: []string{"incident.triggered"}})
			err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID)
			if (err == nil) != tc.delivered {
				t.Fatalf("err = %v, delivered want %v", err, tc.delivered)
			}
			reqs := rcv.requests()
			if len(reqs) != tc.attempts {
				t.Fatalf("attempts = %d, want %d", len(reqs), tc.attempts)
			}
			for _, r := range reqs {
				if r.header.Get(HeaderWebhookID) != reqs[0].header.Get(HeaderWebhookID) || string(r.body) != string(reqs[0].body) {
					t.Error("retries must repeat X-Webhook-Id and the body")
				}
			}
			d := e.sim.Deliveries()
			if len(d) != 1 || len(d[0].Attempts) != tc.attempts || d[0].Delivered != tc.delivered || d[0].Dropped == tc.delivered ||
				d[0].SubscriptionID != ws.ID || d[0].EventType != "incident.triggered" {
				t.Errorf("delivery = %+v", d)
			}
		})
	}

	t.Run("timeout and connection errors retried", func(t *testing.T) {
		e := newEnv(t, Options{WebhookMaxAttempts: 2, WebhookRetryDelay: time.Millisecond, WebhookTimeout: 50 * time.Millisecond})
		slow := newReceiver(t)
		slow.delay = 300 * time.Millisecond
		e.sim.AddWebhookSubscription(WebhookSubscription{ID: "PSLOW01", URL: slow.srv.URL, Events: []string{"incident.triggered"}})
		dead := newReceiver(t)
		dead.srv.Close()
		e.sim.AddWebhookSubscription(WebhookSubscription{ID: "PDEAD01", URL: dead.srv.URL, Events: []string{"incident.triggered"}})
		if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID); err == nil {
			t.Fatal("no error")
		}
		for _, d := range e.sim.Deliveries() {
			if len(d.Attempts) != 2 || d.Attempts[0].Err == "" || !d.Dropped {
				t.Errorf("%s: %+v", d.SubscriptionID, d)
			}
		}
	})

	t.Run("three drops disable until enabled", func(t *testing.T) {
		e := newEnv(t, Options{})
		rcv := newReceiver(t, 400, 400, 400)
		ws := e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: []string{"incident.triggered"}})
		for i := 0; i < 3; i++ {
			_ = e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID)
		}
		sub := e.do("GET", "/webhook_subscriptions/"+ws.ID, DemoUserToken, nil).json(t)["webhook_subscription"].(map[string]any)
		if sub["delivery_method"].(map[string]any)["temporarily_disabled"] != true {
			t.Fatalf("not disabled: %v", sub)
		}
		if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID); err == nil || len(rcv.requests()) != 3 {
			t.Errorf("disabled subscription still delivered (err %v)", err)
		}
		r := e.do("POST", "/webhook_subscriptions/"+ws.ID+"/enable", DemoUserToken, nil)
		if r.status != 200 || r.json(t)["webhook_subscription"].(map[string]any)["delivery_method"].(map[string]any)["temporarily_disabled"] != false {
			t.Fatalf("enable = %d %s", r.status, r.body)
		}
		if err := e.sim.EmitIncidentEvent(t.Context(), "incident.triggered", DemoIncidentID); err != nil {
			t.Errorf("after enable: %v", err)
		}
	})
}

func TestPingThroughAPI(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	ws := e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: []string{"incident.triggered"}})
	if r := e.do("POST", "/webhook_subscriptions/"+ws.ID+"/ping", DemoUserToken, nil); r.status != 202 {
		t.Fatalf("ping = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/webhook_subscriptions/PNOPE00/ping", DemoUserToken, nil); r.status != 404 {
		t.Errorf("ping unknown = %d", r.status)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := e.sim.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	ev := decodeEvent(t, rcv.requests()[0].body)
	data := ev["data"].(map[string]any)
	if ev["event_type"] != "pagey.ping" || ev["resource_type"] != "pagey" || data["type"] != "ping" || ev["agent"] != nil {
		t.Errorf("ping = %v", ev)
	}
}

func TestEventBuilders(t *testing.T) {
	if got := Sign("secret", []byte(`{"event":{}}`)); got != "v1=2c984a26b96792f49173390b114619a17f5699a0bb42f13aff472b980b3080b5" {
		t.Errorf("Sign = %s", got)
	}
	tests := []struct {
		name         string
		ev           Event
		eventType    string
		resourceType string
		dataType     string
	}{
		{"incident", IncidentEvent("incident.resolved", WebhookIncident{ID: "PABC123", Title: "t", Status: "resolved"}), "incident.resolved", "incident", "incident"},
		{"custom fields", CustomFieldValuesEvent(Reference{ID: "PABC123"}, []CustomFieldValue{{Name: "env", Value: "prod"}, {Name: "n", DataType: "integer", Value: 3}}, []CustomFieldValue{{Name: "env", Value: nil}}),
			"incident.custom_field_values.updated", "incident", "incident_field_values"},
		{"ping", PingEvent(), "pagey.ping", "pagey", "ping"},
		{"service", ServiceEvent("service.updated", WebhookService{ID: "PSVC123", Name: "api"}), "service.updated", "service", "service"},
		{"note", NoteEvent(Reference{ID: "PABC123"}, "PNOTE01", "hello"), "incident.annotated", "incident", "incident_note"},
		{"generic unknown", NewEvent("incident.something_new", map[string]any{"type": "mystery"}), "incident.something_new", "incident", "mystery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.ev.Body()
			ev := decodeEvent(t, body)
			if ev["event_type"] != tc.eventType || ev["resource_type"] != tc.resourceType || ev["data"].(map[string]any)["type"] != tc.dataType ||
				!occurredAtRE.MatchString(ev["occurred_at"].(string)) || len(ev["id"].(string)) < 26 {
				t.Errorf("event = %s", body)
			}
		})
	}
	cf := decodeEvent(t, tests[1].ev.Body())["data"].(map[string]any)
	inc := cf["incident"].(map[string]any)
	if v, ok := inc["summary"]; !ok || v != nil || inc["type"] != "incident_reference" {
		t.Errorf("field values incident ref = %v", inc)
	}
	f := cf["custom_fields"].([]any)[0].(map[string]any)
	if f["type"] != "field_value" || f["namespace"] != "incidents" || f["field_type"] == "" || f["data_type"] != "string" {
		t.Errorf("field = %v", f)
	}

	body := IncidentEvent("incident.triggered", WebhookIncident{ID: "PABC123"}).Body()
	req, err := NewWebhookRequest(t.Context(), "http://127.0.0.1:1/hook", body, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.Header.Get("User-Agent") != UserAgentV3 || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get(HeaderWebhookID) == "" || req.Header.Get(HeaderSubscription) == "" ||
		req.Header.Get(HeaderSignature) != "v1="+hmacHex("a", body)+",v1="+hmacHex("b", body) {
		t.Errorf("headers = %v", req.Header)
	}
	if req, _ := NewWebhookRequest(t.Context(), "http://x/", body); req.Header.Get(HeaderSignature) != "" {
		t.Error("signature without secrets")
	}
	if _, err := NewWebhookRequest(t.Context(), "://bad", body); err == nil {
		t.Error("bad URL accepted")
	}

	for name, b := range map[string][]byte{"v1": V1Body(), "v2": V2Body()} {
		var m struct {
			Messages []map[string]any `json:"messages"`
		}
		if err := json.Unmarshal(b, &m); err != nil || len(m.Messages) != 1 {
			t.Fatalf("%s: %v %s", name, err, b)
		}
		msg := m.Messages[0]
		switch name {
		case "v1":
			if msg["type"] != "incident.trigger" || msg["data"].(map[string]any)["incident"] == nil {
				t.Errorf("v1 = %v", msg)
			}
		case "v2":
			if msg["event"] != "incident.trigger" || msg["incident"].(map[string]any)["incident_number"] == nil {
				t.Errorf("v2 = %v", msg)
			}
		}
	}
	// Unencodable data must not panic.
	if b := NewEvent("incident.triggered", map[string]any{"f": func() {}}).Body(); !strings.Contains(string(b), `"data":null`) {
		t.Errorf("unencodable data body = %s", b)
	}
}
