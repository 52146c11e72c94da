package webhook_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

func TestVerifier(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := webhook.Verifier{
		Kinds:     []string{webhook.KindHMAC, webhook.KindBearer, webhook.KindBasic},
		HMAC:      &webhook.HMAC{SignatureHeader: "X-Sig", TimestampHeader: "X-Ts", Now: func() time.Time { return now }},
		MinLength: 8,
		Policy:    webhook.Policy{NoSecret: "store one", Rejected: "nope"},
	}
	body := []byte(`{}`)
	sig := v.HMAC.Sign("hmac-key-1", "", body)
	for _, tt := range []struct {
		name     string
		secrets  []string
		header   http.Header
		wantMsg  string
		verified bool
	}{
		{"hmac", []string{"hmac-key-1"}, http.Header{"X-Sig": {sig}}, "", true},
		{"bearer fallback", []string{"hmac-key-1", "bearer:token-123"}, http.Header{"Authorization": {"Bearer token-123"}}, "", true},
		{"basic", []string{"basic:u:pass-123"}, http.Header{"Authorization": {"Basic dTpwYXNzLTEyMw=="}}, "", true},
		{"a bearer secret is no hmac key", []string{"bearer:hmac-key-1"}, http.Header{"X-Sig": {sig}}, "nope", false},
		{"an hmac key is no bearer token", []string{"hmac:token-123"}, http.Header{"Authorization": {"Bearer token-123"}}, "nope", false},
		{"nothing stored", nil, http.Header{"X-Sig": {sig}}, "store one", false},
	} {
		got, err := v.Verify(&sdk.WebhookRequest{Body: body, Header: tt.header, Secrets: tt.secrets})
		var msg string
		if err != nil {
			msg = err.(*sdk.Error).Message
		}
		if got != tt.verified || msg != tt.wantMsg {
			t.Errorf("%s: Verify = %v, %q; want %v, %q", tt.name, got, msg, tt.verified, tt.wantMsg)
		}
	}
	for secret, ok := range map[string]bool{"hmac-key-1": true, "bearer:short": false, "basic:u:pass-123": true, "basic:u": false, "": false} {
		if err := v.ValidateSecret(secret); (err == nil) != ok || (err != nil && sdk.ErrorCode(err) != sdk.CodeInvalid) {
			t.Errorf("ValidateSecret(%q) = %v, want ok=%v", secret, err, ok)
		}
	}
}

func TestAlertGroupEvents(t *testing.T) {
	g := webhook.AlertGroup{Status: "firing", GroupKey: "g", ExternalURL: "https://am.example.com", FiringType: "fire", ResolvedType: "ok"}
	raws := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i, x := range s {
			out[i] = json.RawMessage(x)
		}
		return out
	}
	evs, err := g.Events(raws(
		`{"fingerprint":"a","labels":{"alertname":"Up","job":"api","severity":"warning"},"startsAt":"2026-01-02T03:04:05+01:00"}`,
		`{"fingerprint":"a","labels":{"alertname":"Up"},"startsAt":"2026-01-02T03:04:05+01:00"}`,
		`{"status":"resolved","fingerprint":"b","annotations":{"summary":"Disk\u0000 full"},"endsAt":"2026-01-02T05:00:00Z","panelURL":"javascript:x","generatorURL":"https://g.example.com/x"}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2 (the repeat of a dropped)", len(evs))
	}
	a, b := evs[0], evs[1]
	if a.ID != "a:firing:2026-01-02T02:04:05Z" || a.Type != "fire" || a.Incident.Status != sdk.StatusTriggered || a.Incident.Priority != sdk.SeverityMedium ||
		a.Incident.Urgency != sdk.UrgencyLow || a.Incident.Service.ID != "api" || a.Incident.HTMLURL != "https://am.example.com" || a.Incident.IncidentKey != "g" {
		t.Errorf("firing event = %+v %+v", a, a.Incident)
	}
	if b.Type != "ok" || b.Incident.Status != sdk.StatusResolved || b.Incident.Title != "Disk full" ||
		!b.OccurredAt.Equal(time.Date(2026, 1, 2, 5, 0, 0, 0, time.UTC)) || b.Incident.HTMLURL != "https://g.example.com/x" || b.Incident.Service != nil {
		t.Errorf("resolved event = %+v %+v", b, b.Incident)
	}
	for body, want := range map[string]string{
		`7`:                      "alerts[0] is not an object",
		`{"status":"pending"}`:   `alerts[0]: status "pending" is neither "firing" nor "resolved"`,
		`{"status":"\u001bbad"}`: `alerts[0]: status "bad" is neither`,
	} {
		_, err := webhook.AlertGroup{}.Events(raws(body))
		if sdk.ErrorCode(err) != sdk.CodeInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("Events(%s) = %v, want CodeInvalid %q", body, err, want)
		}
	}
}
