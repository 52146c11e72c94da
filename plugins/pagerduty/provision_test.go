package pagerduty

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// receiver is a webhook endpoint that authenticates deliveries with
// HandleWebhook, as the hub does, and keeps what it parsed.
type receiver struct {
	p   *Provider
	srv *httptest.Server

	mu      sync.Mutex
	secrets []string
	results []*sdk.WebhookResult
	errs    []error
}

func newReceiver(t *testing.T, p *Provider) *receiver {
	rc := &receiver{p: p}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secrets := append([]string(nil), rc.secrets...)
		rc.mu.Unlock()
		// r.Header has Go's canonical names (X-Pagerduty-Signature).
		res, err := p.HandleWebhook(r.Context(), &sdk.WebhookRequest{Body: body, Header: r.Header, Secrets: secrets})
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err != nil {
			rc.errs = append(rc.errs, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.results = append(rc.results, res)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecrets(s ...string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets = s
}

func (rc *receiver) got() ([]*sdk.WebhookResult, []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*sdk.WebhookResult(nil), rc.results...), append([]error(nil), rc.errs...)
}

func waitWebhooks(t *testing.T, sim *pdsim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.WaitWebhooks(ctx); err != nil {
		t.Fatalf("WaitWebhooks: %v", err)
	}
}

func TestProvisionCreatePingDelete(t *testing.T) {
	e := newSimEnv(t)
	rc := newReceiver(t, e.p)
	creds := apiToken(pdsim.DemoUserToken)
	ctx := context.Background()

	sub, err := e.p.CreateWebhookSubscription(ctx, &sdk.SubscriptionRequest{
		Credentials: creds, URL: rc.srv.URL + "/pagerduty/webhook/u1", Description: "Aurora Hub (test)",
	})
	if err != nil {
		t.Fatalf("CreateWebhookSubscription: %v", err)
	}
	if sub.ID == "" || sub.Secret == "" || sub.URL != rc.srv.URL+"/pagerduty/webhook/u1" ||
		strings.Join(sub.Events, ",") != strings.Join(DefaultSubscriptionEvents, ",") {
		t.Fatalf("subscription = %+v", sub)
	}
	w := e.writes()
	if len(w) != 1 || w[0].Path != "/webhook_subscriptions" || w[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("writes = %+v", w)
	}
	var sent struct {
		WS struct {
			Type           string                     `json:"type"`
			DeliveryMethod struct{ Type, URL string } `json:"delivery_method"`
			Events         []string                   `json:"events"`
			Filter         map[string]string          `json:"filter"`
			Description    string                     `json:"description"`
		} `json:"webhook_subscription"`
	}
	if err := json.Unmarshal(w[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.WS.Type != "webhook_subscription" || sent.WS.DeliveryMethod.Type != "http_delivery_method" ||
		sent.WS.Filter["type"] != "account_reference" || sent.WS.Description != "Aurora Hub (test)" {
		t.Errorf("request body = %s", w[0].Body)
	}

	// The secret returned is the one deliveries are signed with.
	rc.setSecrets(sub.Secret)
	if err := e.p.PingWebhookSubscription(ctx, creds, sub.ID); err != nil {
		t.Fatalf("PingWebhookSubscription: %v", err)
	}
	waitWebhooks(t, e.sim)
	results, errs := rc.got()
	if len(errs) != 0 || len(results) != 1 {
		t.Fatalf("receiver: results %d, errors %v", len(results), errs)
	}
	if r := results[0]; !r.Verified || r.SubscriptionID != sub.ID || r.DeliveryID == "" || r.Events[0].Type != "pagey.ping" || r.Events[0].ResourceType != "pagey" {
		t.Errorf("ping result = %+v", r)
	}

	if err := e.p.DeleteWebhookSubscription(ctx, creds, sub.ID); err != nil {
		t.Fatalf("DeleteWebhookSubscription: %v", err)
	}
	if n := len(e.sim.WebhookSubscriptions()); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
	if err := e.p.DeleteWebhookSubscription(ctx, creds, sub.ID); err != nil {
		t.Errorf("deleting again (404) = %v, want nil", err)
	}
	wantSDKError(t, e.p.PingWebhookSubscription(ctx, creds, sub.ID), sdk.CodeNotFound, "Webhook subscription not found")
}

func TestProvisionScopes(t *testing.T) {
	tests := []struct {
		scopeType, scopeID string
		wantType, wantID   string
		events             []string
		code               sdk.Code
	}{
		{scopeType: "", wantType: "account_reference"},
		{scopeType: "account", wantType: "account_reference"},
		{scopeType: "service", scopeID: pdsim.DemoPaymentsServiceID, wantType: "service_reference", wantID: pdsim.DemoPaymentsServiceID},
		{scopeType: "team", scopeID: pdsim.DemoTeamPaymentsID, wantType: "team_reference", wantID: pdsim.DemoTeamPaymentsID,
			events: []string{"incident.triggered", " incident.triggered ", "", "incident.resolved"}},
		{scopeType: "service", code: sdk.CodeInvalid},
		{scopeType: "team", code: sdk.CodeInvalid},
		{scopeType: "galaxy", scopeID: "x", code: sdk.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.scopeType+"/"+tc.scopeID, func(t *testing.T) {
			e := newSimEnv(t)
			sub, err := e.p.CreateWebhookSubscription(context.Background(), &sdk.SubscriptionRequest{
				Credentials: apiToken(pdsim.DemoUserToken), URL: "https://hooks.example/pd", Events: tc.events,
				ScopeType: tc.scopeType, ScopeID: tc.scopeID,
			})
			if tc.code != "" {
				wantSDKError(t, err, tc.code, "")
				if n := len(e.sim.Requests()); n != 0 {
					t.Errorf("%d requests for an invalid request", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateWebhookSubscription: %v", err)
			}
			subs := e.sim.WebhookSubscriptions()
			if len(subs) != 1 || subs[0].ID != sub.ID || subs[0].FilterType != tc.wantType || subs[0].FilterID != tc.wantID {
				t.Fatalf("sim subscriptions = %+v", subs)
			}
			if tc.events != nil && strings.Join(subs[0].Events, ",") != "incident.triggered,incident.resolved" {
				t.Errorf("events = %v", subs[0].Events)
			}
		})
	}
}

func TestProvisionErrors(t *testing.T) {
	ctx := context.Background()
	req := func(tok, url string) *sdk.SubscriptionRequest {
		return &sdk.SubscriptionRequest{Credentials: apiToken(tok), URL: url}
	}
	t.Run("bad URL is refused locally", func(t *testing.T) {
		e := newSimEnv(t)
		for _, u := range []string{"", "not a url", "ftp://x/y", "/relative"} {
			_, err := e.p.CreateWebhookSubscription(ctx, req(pdsim.DemoUserToken, u))
			wantSDKError(t, err, sdk.CodeInvalid, "Webhook URL must be an absolute http(s) URL")
		}
		if n := len(e.sim.Requests()); n != 0 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("PagerDuty's 400 is shown", func(t *testing.T) {
		e := newSimEnv(t)
		_, err := e.p.CreateWebhookSubscription(ctx, &sdk.SubscriptionRequest{
			Credentials: apiToken(pdsim.DemoUserToken), URL: "https://hooks.example/pd", ScopeType: "service", ScopeID: "PNOPE",
		})
		se := wantSDKError(t, err, sdk.CodeInvalid, "")
		if !strings.HasPrefix(se.Message, "PagerDuty rejected the webhook subscription: ") || !strings.Contains(se.Message, "filter.id") {
			t.Errorf("message = %q", se.Message)
		}
	})
	t.Run("read-only key is 403", func(t *testing.T) {
		e := newSimEnv(t)
		_, err := e.p.CreateWebhookSubscription(ctx, req(pdsim.DemoReadOnlyToken, "https://hooks.example/pd"))
		wantSDKError(t, err, sdk.CodePermissionDenied, msgPermissionDenied)
		if len(e.sim.WebhookSubscriptions()) != 0 {
			t.Error("subscription created")
		}
	})
	t.Run("bad token is 401", func(t *testing.T) {
		e := newSimEnv(t)
		_, err := e.p.CreateWebhookSubscription(ctx, req("nope", "https://hooks.example/pd"))
		wantSDKError(t, err, sdk.CodeUnauthenticated, msgUnauthorized)
	})
	t.Run("429", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Method: "POST", Path: "/webhook_subscriptions", Status: 429, Header: http.Header{"Ratelimit-Reset": {"9"}}})
		_, err := e.p.CreateWebhookSubscription(ctx, req(pdsim.DemoUserToken, "https://hooks.example/pd"))
		if se := wantSDKError(t, err, sdk.CodeRateLimited, msgRateLimited); se.RetryAfter != 9*time.Second {
			t.Errorf("RetryAfter = %v", se.RetryAfter)
		}
	})
	t.Run("answer without id", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Method: "POST", Path: "/webhook_subscriptions", Status: 201, Body: `{"webhook_subscription":{}}`})
		_, err := e.p.CreateWebhookSubscription(ctx, req(pdsim.DemoUserToken, "https://hooks.example/pd"))
		wantSDKError(t, err, sdk.CodeUpstream, msgUpstream)
	})
	t.Run("delete failures", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Method: "DELETE", Path: "/webhook_subscriptions/*", Status: 500, Times: 1})
		wantSDKError(t, e.p.DeleteWebhookSubscription(ctx, apiToken(pdsim.DemoUserToken), "PSUB1"), sdk.CodeUpstream, msgUpstream)
		wantSDKError(t, e.p.DeleteWebhookSubscription(ctx, apiToken("nope"), "PSUB1"), sdk.CodeUnauthenticated, msgUnauthorized)
		wantSDKError(t, e.p.DeleteWebhookSubscription(ctx, apiToken(pdsim.DemoUserToken), " "), sdk.CodeInvalid, "")
	})
	t.Run("ping with a read-only key", func(t *testing.T) {
		e := newSimEnv(t)
		ws := e.sim.AddWebhookSubscription(pdsim.WebhookSubscription{URL: "https://hooks.example/pd", Events: []string{"incident.triggered"}})
		wantSDKError(t, e.p.PingWebhookSubscription(ctx, apiToken(pdsim.DemoReadOnlyToken), ws.ID), sdk.CodePermissionDenied, msgPermissionDenied)
	})
	t.Run("id is path-escaped", func(t *testing.T) {
		e := newSimEnv(t)
		_ = e.p.DeleteWebhookSubscription(ctx, apiToken(pdsim.DemoUserToken), "../incidents/PINC001")
		for _, r := range e.sim.Requests() {
			if r.Method == "DELETE" && !strings.HasPrefix(r.Path, "/webhook_subscriptions/") {
				t.Errorf("request escaped its path: %s", r.Path)
			}
		}
		if _, ok := e.sim.Incident(pdsim.DemoIncidentID); !ok {
			t.Error("incident gone")
		}
	})
}

// TestWebhookFromSimulator checks the parser against deliveries the
// simulator signs and sends, including during a secret rotation.
func TestWebhookFromSimulator(t *testing.T) {
	e := newSimEnv(t)
	rc := newReceiver(t, e.p)
	ws := e.sim.AddWebhookSubscription(pdsim.WebhookSubscription{
		URL: rc.srv.URL, Events: []string{"incident.triggered", "incident.custom_field_values.updated"},
	})
	rc.setSecrets(ws.Secrets...)
	ctx := context.Background()
	if err := e.sim.EmitIncidentEvent(ctx, "incident.triggered", pdsim.DemoIncidentID); err != nil {
		t.Fatalf("EmitIncidentEvent: %v", err)
	}
	// Rotation: deliveries now carry two signatures; the receiver knows only the new secret.
	newSecret, err := e.sim.RotateWebhookSecret(ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	rc.setSecrets(newSecret)
	if err := e.sim.EmitIncidentEvent(ctx, "incident.triggered", pdsim.DemoIncidentID); err != nil {
		t.Fatalf("EmitIncidentEvent after rotation: %v", err)
	}
	// A receiver that only knows a stale secret refuses.
	rc.setSecrets("stale")
	_ = e.sim.EmitIncidentEvent(ctx, "incident.triggered", pdsim.DemoIncidentID)

	results, errs := rc.got()
	if len(results) != 2 {
		t.Fatalf("results = %d, errors = %v", len(results), errs)
	}
	if len(errs) == 0 || sdk.ErrorCode(errs[0]) != sdk.CodeUnauthenticated {
		t.Errorf("stale secret: errors = %v", errs)
	}
	inc, _ := e.sim.Incident(pdsim.DemoIncidentID)
	for _, r := range results {
		in := r.Events[0].Incident
		if !r.Verified || in == nil || in.ExternalID != inc.ID || in.Title != inc.Title || in.Status != "triggered" ||
			in.Priority != "P1" || in.Service == nil || in.Service.ID != pdsim.DemoPaymentsServiceID || in.Number != int64(inc.Number) || in.HTMLURL == "" {
			t.Errorf("parsed = %+v", in)
		}
	}
}
