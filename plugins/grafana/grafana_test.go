package grafana

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

const (
	testSecret = "grafana-hmac-secret-0001"
	testToken  = "grafana-bearer-token-0001"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signed is a delivery as Grafana sends it with an HMAC secret and the
// timestamp header configured (ts "" leaves the timestamp out).
func signed(body []byte, secret, ts string) *sdk.WebhookRequest {
	h := http.Header{"Content-Type": {"application/json"}}
	h.Set(HeaderSignature, (&webhook.HMAC{}).Sign(secret, ts, body))
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	return &sdk.WebhookRequest{Body: body, Header: h, Secrets: []string{"hmac:" + secret}}
}

func now() string { return strconv.FormatInt(time.Now().Unix(), 10) }

func TestConformance(t *testing.T) {
	body := readFile(t, "firing.json")
	errorCases := []sdktest.ErrorCase{
		{
			Name: "unsupported version",
			Call: func(ctx context.Context, c *sdktest.Client) error {
				_, err := c.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte(`{"version":"0","alerts":[{}]}`), AllowUnsigned: true})
				return err
			},
			WantCode: sdk.CodeInvalid, WantMessage: `Not a Grafana Alerting webhook of version "1" (version "0")`,
		},
		{
			Name:     "short secret refused when stored",
			Call:     func(ctx context.Context, c *sdktest.Client) error { return c.ValidateWebhookSecret(ctx, "hmac:short") },
			WantCode: sdk.CodeInvalid, WantMessage: "The hmac secret must be at least 16 characters",
		},
	}
	for _, tt := range []struct {
		name   string
		valid  func() *sdk.WebhookRequest
		tamper func(*sdk.WebhookRequest)
	}{
		{"hmac with timestamp", func() *sdk.WebhookRequest { return signed(body, testSecret, now()) }, nil},
		{"hmac over the body", func() *sdk.WebhookRequest { return signed(body, testSecret, "") }, nil},
		{"bearer", func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{Body: body, Header: http.Header{"Authorization": {"Bearer " + testToken}},
				Secrets: []string{"hmac:previous-secret-000000", "bearer:" + testToken}}
		}, func(r *sdk.WebhookRequest) { r.Header.Set("Authorization", "Bearer "+testToken[1:]) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.Conformance(t, New(), sdktest.ConformanceOptions{ValidWebhook: tt.valid, Tamper: tt.tamper, ErrorCases: errorCases})
		})
	}
}

func TestHandleWebhookAuthentication(t *testing.T) {
	body := readFile(t, "firing.json")
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for _, tt := range []struct {
		name     string
		req      *sdk.WebhookRequest
		wantCode sdk.Code
		verified bool
	}{
		{"hmac", signed(body, testSecret, now()), "", true},
		{"bare secret is hmac", func() *sdk.WebhookRequest {
			r := signed(body, testSecret, "")
			r.Secrets = []string{testSecret}
			return r
		}(), "", true},
		{"rotated: second secret matches", func() *sdk.WebhookRequest {
			r := signed(body, testSecret, now())
			r.Secrets = []string{"hmac:old-secret-00000000", "hmac:" + testSecret}
			return r
		}(), "", true},
		{"stale timestamp (replay)", signed(body, testSecret, stale), sdk.CodeUnauthenticated, false},
		{"timestamp changed", func() *sdk.WebhookRequest {
			r := signed(body, testSecret, now())
			r.Header.Set(HeaderTimestamp, stale)
			return r
		}(), sdk.CodeUnauthenticated, false},
		{"wrong secret", func() *sdk.WebhookRequest {
			r := signed(body, "other-secret-000000", "")
			r.Secrets = []string{"hmac:" + testSecret}
			return r
		}(), sdk.CodeUnauthenticated, false},
		{"bearer token is no hmac key", func() *sdk.WebhookRequest {
			r := signed(body, testToken, "")
			r.Secrets = []string{"bearer:" + testToken}
			return r
		}(), sdk.CodeUnauthenticated, false},
		{"no secret stored", &sdk.WebhookRequest{Body: body}, sdk.CodeUnauthenticated, false},
		{"unsigned allowed", &sdk.WebhookRequest{Body: body, AllowUnsigned: true}, "", false},
		{"authentication before parsing", func() *sdk.WebhookRequest {
			r := signed([]byte("garbage"), "x", "")
			r.Secrets = []string{"hmac:" + testSecret}
			return r
		}(), sdk.CodeUnauthenticated, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := New().HandleWebhook(context.Background(), tt.req)
			if tt.wantCode != "" {
				if sdk.ErrorCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != tt.verified {
				t.Errorf("Verified = %v, want %v", res.Verified, tt.verified)
			}
		})
	}
}

func TestHandleWebhookParses(t *testing.T) {
	p := New()
	res, err := p.HandleWebhook(context.Background(), signed(readFile(t, "firing.json"), testSecret, now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 {
		t.Fatalf("%d events, want 2", len(res.Events))
	}
	ev, in := res.Events[0], res.Events[0].Incident
	want := sdk.Incident{
		ExternalID: "5c0f1a7b9d2e3f40", Title: "p99 latency above 2s on checkout-api", Status: sdk.StatusTriggered,
		Urgency: sdk.UrgencyHigh, Priority: sdk.SeverityCritical, HTMLURL: "https://grafana.example.com/d/checkout?viewPanel=2",
		IncidentKey: `{}/{service="checkout-api"}:{alertname="HighLatency"}`,
	}
	if ev.ID != "5c0f1a7b9d2e3f40:firing:2026-03-01T10:00:00Z" || ev.Type != EventFiring || ev.ResourceType != sdk.ResourceIncident {
		t.Errorf("event = %q %q %q", ev.ID, ev.Type, ev.ResourceType)
	}
	if in.ExternalID != want.ExternalID || in.Title != want.Title || in.Status != want.Status || in.Urgency != want.Urgency ||
		in.Priority != want.Priority || in.HTMLURL != want.HTMLURL || in.IncidentKey != want.IncidentKey {
		t.Errorf("incident = %+v\nwant %+v", in, want)
	}
	if in.Service == nil || in.Service.ID != "checkout-api" || !in.HasCustomFields || len(in.CustomFields) != 6 {
		t.Errorf("service %+v, %d custom fields", in.Service, len(in.CustomFields))
	}
	var data map[string]any
	if json.Unmarshal(ev.Data, &data) != nil || data["valueString"] == nil {
		t.Errorf("Data does not keep the alert: %s", ev.Data)
	}
	second := res.Events[1].Incident
	if second.Service == nil || second.Service.ID != "checkout-api" || second.Priority != sdk.SeverityMedium || second.Urgency != sdk.UrgencyLow ||
		second.Title != "ErrorRate" || second.HTMLURL != "https://grafana.example.com/alerting/grafana/def456/view" {
		t.Errorf("second incident = %+v", second)
	}

	res, err = p.HandleWebhook(context.Background(), signed(readFile(t, "resolved.json"), testSecret, ""))
	if err != nil {
		t.Fatal(err)
	}
	ev = res.Events[0]
	if ev.Type != EventResolved || ev.Incident.Status != sdk.StatusResolved || !ev.OccurredAt.Equal(time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)) ||
		ev.Incident.ExternalID != "5c0f1a7b9d2e3f40" {
		t.Errorf("resolved event = %+v %+v", ev, ev.Incident)
	}
}

func TestValidateWebhookSecret(t *testing.T) {
	for _, tt := range []struct {
		secret string
		ok     bool
	}{
		{"hmac:" + testSecret, true}, {testSecret, true}, {"bearer:" + testToken, true},
		{"hmac:short", false}, {"bearer:", false}, {"", false}, {"bearer:tok\nen-0123456789", false},
	} {
		err := New().ValidateWebhookSecret(context.Background(), tt.secret)
		if (err == nil) != tt.ok || (err != nil && sdk.ErrorCode(err) != sdk.CodeInvalid) {
			t.Errorf("ValidateWebhookSecret(%q) = %v, want ok=%v", tt.secret, err, tt.ok)
		}
	}
}
