package alertmanager

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

const testToken = "0123456789abcdef-token"

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// payload wraps alerts (a JSON array) in a version 4 payload.
func payload(alerts string) string {
	return `{"version":"4","groupKey":"g","status":"firing","externalURL":"https://am.example.com","alerts":` + alerts + `}`
}

func wantSDKError(t *testing.T, err error, code sdk.Code, msg string) {
	t.Helper()
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != code || (msg != "" && se.Message != msg) {
		t.Fatalf("error = %v, want %s %q", err, code, msg)
	}
}

func TestParseSamples(t *testing.T) {
	groupKey := `{}/{severity=~"critical|warning"}:{alertname="HighErrorRate"}`
	genURL := "https://prometheus.example.com/graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29"
	started := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	checkout := sdk.Incident{
		ExternalID: "a1b2c3d4e5f60718", Title: "Checkout 5xx rate above 5%", Status: "triggered",
		Urgency: "high", Priority: "critical", Service: &sdk.Reference{ID: "checkout", Summary: "checkout"},
		IncidentKey: groupKey, HTMLURL: genURL, CreatedAt: started, HasCustomFields: true,
		CustomFields: []sdk.CustomField{
			{ID: "labels.alertname", Name: "alertname", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"HighErrorRate"`)},
			{ID: "labels.instance", Name: "instance", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"10.0.0.7:8080"`)},
			{ID: "labels.job", Name: "job", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"checkout-api"`)},
			{ID: "labels.service", Name: "service", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"checkout"`)},
			{ID: "labels.severity", Name: "severity", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"critical"`)},
			{ID: "annotations.runbook_url", Name: "runbook_url", Namespace: "annotations", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"https://runbooks.example.com/checkout-5xx"`)},
			{ID: "annotations.summary", Name: "summary", Namespace: "annotations", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"Checkout 5xx rate above 5%"`)},
		},
	}
	resolved := checkout
	resolved.Status = "resolved"
	tests := []struct {
		file string
		want []sdk.Event
	}{
		{"firing.json", []sdk.Event{
			{ID: "a1b2c3d4e5f60718:firing:2026-11-27T10:00:00.123456789Z", Type: EventFiring, ResourceType: "incident", OccurredAt: started, Incident: &checkout},
			{ID: "0f1e2d3c4b5a6978:firing:2026-11-27T10:00:00Z", Type: EventFiring, ResourceType: "incident",
				OccurredAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
				Incident: &sdk.Incident{
					ExternalID: "0f1e2d3c4b5a6978", Title: "HighErrorRate", Status: "triggered", Urgency: "low", Priority: "medium",
					Service: &sdk.Reference{ID: "payments", Summary: "payments"}, IncidentKey: groupKey,
					HTMLURL: "https://alertmanager.example.com", CreatedAt: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), HasCustomFields: true,
					CustomFields: []sdk.CustomField{
						{ID: "labels.alertname", Name: "alertname", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"HighErrorRate"`)},
						{ID: "labels.job", Name: "job", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"payments"`)},
						{ID: "labels.severity", Name: "severity", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"warning"`)},
					},
				}},
		}},
		{"resolved.json", []sdk.Event{
			{ID: "a1b2c3d4e5f60718:resolved:2026-11-27T10:00:00.123456789Z", Type: EventResolved, ResourceType: "incident",
				OccurredAt: time.Date(2026, 11, 27, 10, 25, 0, 0, time.UTC), Incident: &resolved},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parse(readFile(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Data == nil || !strings.HasPrefix(string(got[i].Data), `{"status":`) {
					t.Errorf("event %d: Data = %.40q, want the compact alert", i, got[i].Data)
				}
				got[i].Data = nil
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("event %d:\n got %+v\n     %+v\nwant %+v\n     %+v", i, got[i], *got[i].Incident, tt.want[i], *tt.want[i].Incident)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "  ", "Empty webhook body"},
		{"array", `[{"version":"4"}]`, "Webhook body must be a JSON object"},
		{"broken JSON", `{"version":"4",`, "Webhook body is not valid JSON"},
		{"too deep", `{"alerts":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "Webhook body is not valid JSON"},
		{"no version", `{"alerts":[]}`, `Not an Alertmanager webhook: "version" is missing`},
		{"version 3", `{"version":"3","alerts":[{}]}`, `Unsupported Alertmanager webhook version "3": this plugin reads version "4"`},
		{"PagerDuty body", `{"event":{"event_type":"incident.triggered"}}`, `Not an Alertmanager webhook: "version" is missing`},
		{"no alerts field", `{"version":"4"}`, `"alerts" must be a list of alerts`},
		{"alerts object", `{"version":"4","alerts":{"a":1}}`, `"alerts" must be a list of alerts`},
		{"alerts null", `{"version":"4","alerts":null}`, `No alerts in "alerts"`},
		{"alerts empty", payload(`[]`), `No alerts in "alerts"`},
		{"alert not an object", payload(`[{"fingerprint":"a"},7]`), "alerts[1] is not an object"},
		{"alert pending", payload(`[{"status":"pending","fingerprint":"a"}]`), `alerts[0]: status "pending" is neither "firing" nor "resolved"`},
		{"no status anywhere", `{"version":"4","alerts":[{"fingerprint":"a"}]}`, `alerts[0]: status "" is neither "firing" nor "resolved"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parse([]byte(tt.body))
			if evs != nil {
				t.Errorf("events %+v with an error", evs)
			}
			wantSDKError(t, err, sdk.CodeInvalid, tt.want)
		})
	}
}

// TestParseLenient: odd shapes still give sensible events.
func TestParseLenient(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, evs []sdk.Event)
	}{
		{"version as a number", `{"version":4,"status":"firing","alerts":[{"fingerprint":"f"}]}`, func(t *testing.T, evs []sdk.Event) {
			if evs[0].ID != "f:firing:" || evs[0].Incident.Title != "Alert f" {
				t.Errorf("event = %+v", evs[0])
			}
		}},
		{"group status when the alert has none", `{"version":"4","status":"resolved","alerts":[{"fingerprint":"f","startsAt":"2026-01-01T00:00:00Z"}]}`, func(t *testing.T, evs []sdk.Event) {
			if evs[0].Type != EventResolved || !evs[0].OccurredAt.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("resolved without endsAt: %+v", evs[0])
			}
		}},
		{"upper-case status", payload(`[{"status":"FIRING","fingerprint":"f"}]`), func(t *testing.T, evs []sdk.Event) {
			if evs[0].Type != EventFiring {
				t.Errorf("type = %s", evs[0].Type)
			}
		}},
		{"odd label values", payload(`[{"fingerprint":"f","labels":{"port":8080,"up":true,"gone":null,"nested":{"a":1},"empty":"","severity":"PAGE"}}]`), func(t *testing.T, evs []sdk.Event) {
			in := evs[0].Incident
			var names []string
			for _, f := range in.CustomFields {
				names = append(names, f.Name+"="+string(f.ValueJSON))
			}
			if want := []string{`port="8080"`, `severity="PAGE"`, `up="true"`}; !reflect.DeepEqual(names, want) {
				t.Errorf("fields = %v, want %v", names, want)
			}
			if in.Priority != "critical" || in.Urgency != "high" {
				t.Errorf("priority %q urgency %q", in.Priority, in.Urgency)
			}
		}},
		{"label and annotation of one name", payload(`[{"fingerprint":"f","labels":{"severity":"critical","summary":"l"},"annotations":{"summary":"Checkout 5xx above 5%","severity":"pages on-call"}}]`), func(t *testing.T, evs []sdk.Event) {
			// Both kept: the label under its name, the annotation under
			// its namespaced name (the hub keys custom fields by name).
			var names []string
			for _, f := range evs[0].Incident.CustomFields {
				names = append(names, f.Namespace+":"+f.Name+"="+string(f.ValueJSON))
			}
			want := []string{`labels:severity="critical"`, `labels:summary="l"`,
				`annotations:annotations.severity="pages on-call"`, `annotations:annotations.summary="Checkout 5xx above 5%"`}
			if !reflect.DeepEqual(names, want) {
				t.Errorf("fields = %v, want %v", names, want)
			}
			if in := evs[0].Incident; in.Title != "Checkout 5xx above 5%" {
				t.Errorf("title = %q", in.Title)
			}
		}},
		{"labels not an object, no fingerprint", payload(`[{"labels":[1,2],"annotations":"x","startsAt":5}]`), func(t *testing.T, evs []sdk.Event) {
			in := evs[0].Incident
			if in.ExternalID != "cbf29ce484222325" || len(in.CustomFields) != 0 || !in.HasCustomFields || in.Service != nil {
				t.Errorf("incident = %+v", in)
			}
			if evs[0].ID != "cbf29ce484222325:firing:5" || !evs[0].OccurredAt.IsZero() {
				t.Errorf("event = %+v", evs[0])
			}
		}},
		{"fingerprint from labels", payload(`[{"labels":{"name":"garland, briggs","fear":"love is not enough"}}]`), func(t *testing.T, evs []sdk.Event) {
			if got := evs[0].Incident.ExternalID; got != "507a62d79ee76c9a" {
				t.Errorf("fingerprint = %s, want Alertmanager's 507a62d79ee76c9a", got)
			}
		}},
		{"unparseable startsAt", payload(`[{"fingerprint":"f","startsAt":"yesterday"}]`), func(t *testing.T, evs []sdk.Event) {
			if evs[0].ID != "f:firing:yesterday" || !evs[0].OccurredAt.IsZero() || !evs[0].Incident.CreatedAt.IsZero() {
				t.Errorf("event = %+v", evs[0])
			}
		}},
		{"duplicate alerts", payload(`[{"fingerprint":"f","startsAt":"2026-01-01T00:00:00Z"},{"fingerprint":"f","startsAt":"2026-01-01T01:00:00+01:00"},{"fingerprint":"g"}]`), func(t *testing.T, evs []sdk.Event) {
			if len(evs) != 2 || evs[1].Incident.ExternalID != "g" {
				t.Errorf("events = %+v", evs)
			}
		}},
		{"huge summary", payload(`[{"fingerprint":"f","annotations":{"summary":"` + strings.Repeat("é", 5000) + `"}}]`), func(t *testing.T, evs []sdk.Event) {
			if title := evs[0].Incident.Title; len(title) != webhook.MaxTitle || !strings.HasPrefix(title, "éé") {
				t.Errorf("title is %d bytes", len(title))
			}
		}},
		{"firing and resolved of one alert", payload(`[{"fingerprint":"f","status":"firing","startsAt":"2026-01-01T00:00:00Z"},{"fingerprint":"f","status":"resolved","startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:05:00Z"}]`), func(t *testing.T, evs []sdk.Event) {
			if len(evs) != 2 || evs[0].ID == evs[1].ID || evs[0].Incident.ExternalID != evs[1].Incident.ExternalID {
				t.Errorf("events = %+v", evs)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, evs)
		})
	}
}

func TestPriority(t *testing.T) {
	for sev, want := range map[string]string{
		"critical": "critical", " Page ": "critical", "P1": "critical", "error": "high", "high": "high",
		"warning": "medium", "warn": "medium", "info": "low", "low": "low", "none": "", "": "", "bogus": "",
	} {
		if got := webhook.DefaultSeverities.Severity(sev); got != want {
			t.Errorf("priority(%q) = %q, want %q", sev, got, want)
		}
	}
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestWebhookAuthentication(t *testing.T) {
	body := readFile(t, "firing.json")
	tests := []struct {
		name          string
		secrets       []string
		header        map[string][]string
		allowUnsigned bool
		body          string
		wantCode      sdk.Code // "" = accepted
		wantMsg       string
		wantVerified  bool
	}{
		{name: "bearer", secrets: []string{"bearer:" + testToken}, header: auth("Bearer " + testToken), wantVerified: true},
		{name: "bare secret is a bearer token", secrets: []string{testToken}, header: auth("Bearer " + testToken), wantVerified: true},
		{name: "scheme in any case", secrets: []string{"Bearer:" + testToken}, header: auth("bearer  " + testToken + " "), wantVerified: true},
		{name: "basic", secrets: []string{"basic:am:p@ss:w0rd"}, header: auth(basicHeader("am", "p@ss:w0rd")), wantVerified: true},
		{name: "rotation: the second secret matches", secrets: []string{"bearer:old-token-0000000000", "bearer:" + testToken}, header: auth("Bearer " + testToken), wantVerified: true},
		{name: "lower-case header name", secrets: []string{testToken}, header: map[string][]string{"authorization": {"Bearer " + testToken}}, wantVerified: true},
		{name: "wrong token", secrets: []string{testToken}, header: auth("Bearer " + testToken + "x"), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "wrong password", secrets: []string{"basic:am:pw"}, header: auth(basicHeader("am", "pW")), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "no header", secrets: []string{testToken}, wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "basic header for a bearer secret", secrets: []string{"bearer:am:pw"}, header: auth(basicHeader("am", "pw")), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "bad base64", secrets: []string{"basic:am:pw"}, header: auth("Basic %%%"), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "other scheme", secrets: []string{testToken}, header: auth("Token " + testToken), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "no secret", header: auth("Bearer " + testToken), wantCode: sdk.CodeUnauthenticated, wantMsg: msgNoCredentials},
		{name: "only unusable secrets", secrets: []string{"bearer:", "basic:no-password-separator", " "}, header: auth("Bearer "), wantCode: sdk.CodeUnauthenticated, wantMsg: msgNoCredentials},
		{name: "no secret, unsigned allowed", allowUnsigned: true, wantVerified: false},
		{name: "unsigned allowed does not excuse a wrong token", secrets: []string{testToken}, allowUnsigned: true, header: auth("Bearer nope"), wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "authentication comes before parsing", secrets: []string{testToken}, body: "garbage", wantCode: sdk.CodeUnauthenticated, wantMsg: msgBadCredentials},
		{name: "authenticated garbage is invalid", secrets: []string{testToken}, header: auth("Bearer " + testToken), body: "garbage", wantCode: sdk.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			if tt.body != "" {
				b = []byte(tt.body)
			}
			res, err := New().HandleWebhook(context.Background(), &sdk.WebhookRequest{
				Body: b, Header: tt.header, Secrets: tt.secrets, AllowUnsigned: tt.allowUnsigned,
			})
			if tt.wantCode != "" {
				wantSDKError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Verified != tt.wantVerified || len(res.Events) != 2 {
				t.Errorf("Verified = %v, %d events", res.Verified, len(res.Events))
			}
		})
	}
	if _, err := New().HandleWebhook(context.Background(), nil); sdk.ErrorCode(err) != sdk.CodeInvalid {
		t.Errorf("nil request: %v", err)
	}
}

func auth(v string) map[string][]string { return map[string][]string{"Authorization": {v}} }

// TestParseUnsafeLinks: a generatorURL that is not an absolute http(s) URL
// gives way to the payload's externalURL; neither safe, no link.
func TestParseUnsafeLinks(t *testing.T) {
	alert := func(gen string) string {
		return `[{"status":"firing","fingerprint":"fp","labels":{"alertname":"A"},"generatorURL":` + strconv.Quote(gen) + `}]`
	}
	tests := []struct {
		name, body, want string
	}{
		{"safe generatorURL", payload(alert("https://prom.example.com/graph?g0.expr=up")), "https://prom.example.com/graph?g0.expr=up"},
		{"javascript", payload(alert("javascript:alert(document.cookie)")), "https://am.example.com"},
		{"upper case", payload(alert("JAVASCRIPT:alert(1)")), "https://am.example.com"},
		{"whitespace prefixed", payload(alert("  javascript:alert(1)")), "https://am.example.com"},
		{"data", payload(alert("data:text/html,<script>alert(1)</script>")), "https://am.example.com"},
		{"relative", payload(alert("/graph?g0.expr=up")), "https://am.example.com"},
		{"unsafe externalURL too", `{"version":"4","status":"firing","externalURL":"javascript:alert(2)","alerts":` + alert("javascript:alert(1)") + `}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parse([]byte(tt.body))
			if err != nil || len(evs) != 1 {
				t.Fatalf("parse = %v, %v", evs, err)
			}
			if got := evs[0].Incident.HTMLURL; got != tt.want {
				t.Fatalf("HTMLURL = %q, want %q", got, tt.want)
			}
			if !strings.Contains(string(evs[0].Data), "generatorURL") {
				t.Errorf("the alert's data lost its generatorURL: %s", evs[0].Data)
			}
		})
	}
}
