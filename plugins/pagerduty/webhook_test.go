package pagerduty

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

func testProvider(t testing.TB) *Provider {
	t.Helper()
	return New(Config{Logger: hclog.NewNullLogger()})
}

func sign(body, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// wantSDKError checks err is an *sdk.Error with code and exact message.
func wantSDKError(t *testing.T, err error, code sdk.Code, msg string) *sdk.Error {
	t.Helper()
	var se *sdk.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want *sdk.Error %s %q", err, err, code, msg)
	}
	if se.Code != code || (msg != "" && se.Message != msg) {
		t.Fatalf("error = %s %q, want %s %q", se.Code, se.Message, code, msg)
	}
	return se
}

func TestWebhookSignature(t *testing.T) {
	p := testProvider(t)
	const secret, other = "s3cr3t-current", "s3cr3t-previous"
	body := bodyTriggered
	good := sign(body, secret)
	tests := []struct {
		name    string
		header  map[string][]string
		secrets []string
		allow   bool
		code    sdk.Code // "" = success
		msg     string
		verifed bool
	}{
		{name: "single", header: map[string][]string{"X-Pagerduty-Signature": {good}}, secrets: []string{secret}, verifed: true},
		{name: "header name as sent", header: map[string][]string{"X-PagerDuty-Signature": {good}}, secrets: []string{secret}, verifed: true},
		{name: "lower-case header name", header: map[string][]string{"x-pagerduty-signature": {good}}, secrets: []string{secret}, verifed: true},
		{name: "rotated: second entry matches", header: map[string][]string{"X-Pagerduty-Signature": {sign(body, "old") + "," + good}}, secrets: []string{secret}, verifed: true},
		{name: "rotated: spaces after comma", header: map[string][]string{"X-Pagerduty-Signature": {good + ", " + sign(body, other)}}, secrets: []string{other}, verifed: true},
		{name: "rotated: second secret matches", header: map[string][]string{"X-Pagerduty-Signature": {sign(body, other)}}, secrets: []string{secret, other}, verifed: true},
		{name: "split over two header values", header: map[string][]string{"X-Pagerduty-Signature": {sign(body, "old"), good}}, secrets: []string{secret}, verifed: true},
		{name: "other schemes ignored", header: map[string][]string{"X-Pagerduty-Signature": {"v0=abc,v2=" + strings.TrimPrefix(good, "v1=") + "," + good}}, secrets: []string{secret}, verifed: true},
		{name: "upper-case hex", header: map[string][]string{"X-Pagerduty-Signature": {"v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1="))}}, secrets: []string{secret}, verifed: true},
		{name: "only another scheme", header: map[string][]string{"X-Pagerduty-Signature": {"v2=" + strings.TrimPrefix(good, "v1=")}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "missing", header: nil, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "missing even with allow-unsigned", header: nil, secrets: []string{secret}, allow: true, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "malformed: no scheme", header: map[string][]string{"X-Pagerduty-Signature": {strings.TrimPrefix(good, "v1=")}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "malformed: not hex", header: map[string][]string{"X-Pagerduty-Signature": {"v1=zzzz"}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "malformed: empty value", header: map[string][]string{"X-Pagerduty-Signature": {"v1="}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "malformed: truncated", header: map[string][]string{"X-Pagerduty-Signature": {good[:20]}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "malformed: commas only", header: map[string][]string{"X-Pagerduty-Signature": {",,,"}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "wrong secret", header: map[string][]string{"X-Pagerduty-Signature": {sign(body, "nope")}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "signature of another body", header: map[string][]string{"X-Pagerduty-Signature": {sign(body+" ", secret)}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "empty entries do not count against the cap", header: map[string][]string{"X-Pagerduty-Signature": {strings.Repeat(",", 40) + good}}, secrets: []string{secret}, verifed: true},
		{name: "more v1 entries than the cap", header: map[string][]string{"X-Pagerduty-Signature": {strings.Repeat("v1=00,", maxSignatureEntries) + good}}, secrets: []string{secret}, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "no secret configured", header: map[string][]string{"X-Pagerduty-Signature": {good}}, code: sdk.CodeUnauthenticated, msg: msgNoSecret},
		{name: "only empty secrets count as none", header: map[string][]string{"X-Pagerduty-Signature": {sign(body, "")}}, secrets: []string{"", "  "}, code: sdk.CodeUnauthenticated, msg: msgNoSecret},
		{name: "no secret, unsigned allowed", header: nil, allow: true, verifed: false},
		{name: "no secret, allowed, signature ignored", header: map[string][]string{"X-Pagerduty-Signature": {"v1=00"}}, allow: true, verifed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.HandleWebhook(context.Background(), &sdk.WebhookRequest{
				Body: []byte(body), Header: tc.header, Secrets: tc.secrets, AllowUnsigned: tc.allow,
			})
			if tc.code != "" {
				wantSDKError(t, err, tc.code, tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("HandleWebhook: %v", err)
			}
			if res.Verified != tc.verifed {
				t.Errorf("Verified = %v, want %v", res.Verified, tc.verifed)
			}
			if len(res.Events) != 1 || res.Events[0].Type != "incident.triggered" {
				t.Errorf("events = %+v", res.Events)
			}
		})
	}
}

func TestWebhookLegacyAndMalformedBodies(t *testing.T) {
	p := testProvider(t)
	const secret = "whsec"
	tests := []struct {
		name     string
		body     string
		signed   bool
		badSig   bool
		noSecret bool
		code     sdk.Code
		msg      string
	}{
		{name: "V2 unsigned to a connection with secrets", body: bodyV2, code: sdk.CodeInvalid, msg: msgNotV3},
		{name: "V1 unsigned", body: bodyV1, code: sdk.CodeInvalid, msg: msgNotV3},
		{name: "V2 with no secret configured", body: bodyV2, noSecret: true, code: sdk.CodeInvalid, msg: msgNotV3},
		{name: "V2 signed", body: bodyV2, signed: true, code: sdk.CodeInvalid, msg: msgNotV3},
		{name: "V2 with a wrong signature is a 401", body: bodyV2, badSig: true, code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "not JSON", body: "event=incident.triggered", signed: true, code: sdk.CodeInvalid, msg: msgInvalidJSON},
		{name: "truncated JSON", body: bodyTriggered[:100], signed: true, code: sdk.CodeInvalid, msg: msgInvalidJSON},
		{name: "empty body", body: "", signed: true, code: sdk.CodeInvalid, msg: msgInvalidJSON},
		{name: "unsigned garbage is a 401 first", body: "garbage", code: sdk.CodeUnauthenticated, msg: msgInvalidSignature},
		{name: "JSON array", body: `[{"event":{}}]`, signed: true, code: sdk.CodeInvalid, msg: msgInvalidJSON + ": expected a JSON object"},
		{name: "no event", body: `{"foo":1}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event"},
		{name: "event null", body: `{"event":null}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event"},
		{name: "event not an object", body: `{"event":"incident.triggered"}`, signed: true, code: sdk.CodeInvalid, msg: "Invalid event: expected an object"},
		{name: "no event_type", body: `{"event":{"id":"x","resource_type":"incident"}}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event.event_type"},
		{name: "no resource_type", body: `{"event":{"id":"x","event_type":"incident.triggered"}}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event.resource_type"},
		{name: "neither", body: `{"event":{"id":"x"}}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event.event_type and event.resource_type"},
		{name: "blank event_type", body: `{"event":{"event_type":"  ","resource_type":"incident"}}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event.event_type"},
		{name: "event in another case is no event", body: `{"Event":{"event_type":"pagey.ping","resource_type":"pagey"}}`, signed: true, code: sdk.CodeInvalid, msg: "Missing event"},
		{name: "messages null and no event", body: `{"messages":null}`, signed: true, code: sdk.CodeInvalid, msg: msgNotV3},
		{name: "invalid JSON after the event", body: `{"event":{"event_type":"pagey.ping","resource_type":"pagey"},"x":tru}`, signed: true, code: sdk.CodeInvalid, msg: msgInvalidJSON},
		{name: "messages and event is V3", body: `{"messages":[],"event":{"event_type":"pagey.ping","resource_type":"pagey"}}`, signed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{"X-Webhook-Id": {"d1"}}
			if tc.signed {
				h["X-Pagerduty-Signature"] = []string{sign(tc.body, secret)}
			}
			if tc.badSig {
				h["X-Pagerduty-Signature"] = []string{sign(tc.body, "wrong")}
			}
			secrets := []string{secret}
			if tc.noSecret {
				secrets = nil
			}
			res, err := p.HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte(tc.body), Header: h, Secrets: secrets})
			if tc.code == "" {
				if err != nil || len(res.Events) != 1 {
					t.Fatalf("HandleWebhook = %+v, %v", res, err)
				}
				return
			}
			wantSDKError(t, err, tc.code, tc.msg)
		})
	}
}

func handleSigned(t *testing.T, body string, header map[string][]string) *sdk.WebhookResult {
	t.Helper()
	h := map[string][]string{"X-Pagerduty-Signature": {sign(body, "k")}}
	for k, v := range header {
		h[k] = v
	}
	res, err := testProvider(t).HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: []byte(body), Header: h, Secrets: []string{"k"}})
	if err != nil {
		t.Fatalf("HandleWebhook: %v", err)
	}
	if !res.Verified || len(res.Events) != 1 {
		t.Fatalf("result = %+v", res)
	}
	return res
}

func TestWebhookParseIncident(t *testing.T) {
	res := handleSigned(t, bodyTriggered, map[string][]string{
		"X-Webhook-Id": {"6e1b1d0a-delivery"}, "X-Webhook-Subscription": {"PSUB123"},
		"User-Agent": {"PagerDuty-Webhook/V3.0"},
	})
	if res.DeliveryID != "6e1b1d0a-delivery" || res.SubscriptionID != "PSUB123" {
		t.Errorf("delivery/subscription = %q/%q", res.DeliveryID, res.SubscriptionID)
	}
	ev := res.Events[0]
	if ev.ID != "5ac64822-4adc-4fda-ade0-410becf0de4f" || ev.Type != "incident.triggered" || ev.ResourceType != "incident" {
		t.Errorf("event = %+v", ev)
	}
	if want := time.Date(2020, 10, 2, 18, 45, 22, 169e6, time.UTC); !ev.OccurredAt.Equal(want) {
		t.Errorf("OccurredAt = %v", ev.OccurredAt)
	}
	if ev.Agent == nil || ev.Agent.ID != "PLH1HKV" || ev.Agent.Type != "user_reference" || ev.Agent.Summary != "Tenex Engineer" {
		t.Errorf("Agent = %+v", ev.Agent)
	}
	if !strings.HasPrefix(string(ev.Data), `{`) || !strings.Contains(string(ev.Data), `"PGR0VU2"`) {
		t.Errorf("Data = %s", ev.Data)
	}
	in := ev.Incident
	if in == nil {
		t.Fatal("no incident")
	}
	checks := []struct{ got, want any }{
		{in.ExternalID, "PGR0VU2"}, {in.Number, int64(2)}, {in.Title, "A little bump in the road"},
		{in.Status, "triggered"}, {in.Urgency, "high"}, {in.Priority, "P1"},
		{in.IncidentKey, "d3640fbd41094207a1c11e58e46b1662"}, {in.HTMLURL, "https://acme.pagerduty.com/incidents/PGR0VU2"},
		{in.CreatedAt, time.Date(2020, 4, 9, 15, 16, 27, 0, time.UTC)}, {in.ResolveReason, ""}, {in.Partial, false},
		{in.HasCustomFields, false}, {in.Service.ID, "PF9KMXH"}, {in.Service.Summary, "API Service"},
		{in.EscalationPolicy.ID, "PUS0KTE"}, {len(in.Assignees), 1}, {in.Assignees[0].ID, "PTUXL6G"},
		{len(in.Teams), 1}, {in.Teams[0].Summary, "Engineering"},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %v, want %v", i, c.got, c.want)
		}
	}
}

func TestWebhookParseCustomFields(t *testing.T) {
	ev := handleSigned(t, bodyCustomFields, nil).Events[0]
	in := ev.Incident
	if in == nil || !in.Partial || in.ExternalID != "Q2ZRUJHI3WRB8Q" || !in.HasCustomFields {
		t.Fatalf("incident = %+v", in)
	}
	if in.Title != "" {
		t.Errorf("partial incident has title %q", in.Title)
	}
	wantAll := []struct{ id, name, dataType, fieldType, value string }{
		{"PT4KHLK", "environment", "string", "single_value", `"production"`},
		{"PX1A2B3", "customers_affected", "integer", "single_value", `1200`},
		{"PQ9R8S7", "regions", "string", "multi_value_fixed", `["us-east-1", "eu-west-1"]`},
		{"PB00L01", "customer_facing", "boolean", "single_value", `null`},
	}
	if len(in.CustomFields) != len(wantAll) {
		t.Fatalf("CustomFields = %+v", in.CustomFields)
	}
	for i, w := range wantAll {
		f := in.CustomFields[i]
		if f.ID != w.id || f.Name != w.name || f.DataType != w.dataType || f.FieldType != w.fieldType || string(f.ValueJSON) != w.value || f.Namespace != "incidents" {
			t.Errorf("field %d = %+v (value %s), want %+v", i, f, f.ValueJSON, w)
		}
	}
	if len(in.ChangedCustomFields) != 2 || in.ChangedCustomFields[0].ID != "PT4KHLK" || string(in.ChangedCustomFields[1].ValueJSON) != "null" {
		t.Errorf("ChangedCustomFields = %+v", in.ChangedCustomFields)
	}

	// An empty set is present; an absent one is not; a missing value is null.
	empty := `{"event":{"event_type":"incident.custom_field_values.updated","resource_type":"incident","data":{"type":"incident_field_values","incident":{"id":"PX"},"custom_fields":[],"changed_custom_fields":[{"id":"F1","name":"f"}]}}}`
	in = handleSigned(t, empty, nil).Events[0].Incident
	if in == nil || !in.HasCustomFields || len(in.CustomFields) != 0 || len(in.ChangedCustomFields) != 1 || string(in.ChangedCustomFields[0].ValueJSON) != "null" {
		t.Errorf("empty set: %+v", in)
	}
	absent := `{"event":{"event_type":"incident.custom_field_values.updated","resource_type":"incident","data":{"type":"incident_field_values","incident":{"id":"PX"}}}}`
	in = handleSigned(t, absent, nil).Events[0].Incident
	if in == nil || in.HasCustomFields || in.CustomFields != nil {
		t.Errorf("absent set: %+v", in)
	}
}

func TestWebhookParseOtherEvents(t *testing.T) {
	t.Run("annotated note is a partial incident", func(t *testing.T) {
		ev := handleSigned(t, bodyAnnotated, nil).Events[0]
		if ev.Incident == nil || !ev.Incident.Partial || ev.Incident.ExternalID != "PGR0VU2" || ev.Incident.HTMLURL == "" {
			t.Errorf("incident = %+v", ev.Incident)
		}
		if !strings.Contains(string(ev.Data), "Restarted the API pods") {
			t.Errorf("Data = %s", ev.Data)
		}
	})
	t.Run("ping", func(t *testing.T) {
		ev := handleSigned(t, bodyPing, nil).Events[0]
		if ev.Type != "pagey.ping" || ev.ResourceType != "pagey" || ev.Incident != nil || ev.Agent != nil || len(ev.Data) == 0 {
			t.Errorf("event = %+v", ev)
		}
	})
	t.Run("service event has no incident", func(t *testing.T) {
		ev := handleSigned(t, bodyServiceUpdated, nil).Events[0]
		if ev.ResourceType != "service" || ev.Incident != nil {
			t.Errorf("event = %+v", ev)
		}
	})
	t.Run("unknown event type is kept", func(t *testing.T) {
		body := `{"event":{"id":"E1","event_type":"widget.exploded","resource_type":"widget","occurred_at":"2024-01-01T00:00:00Z","data":{"id":"W1","type":"widget"}}}`
		ev := handleSigned(t, body, nil).Events[0]
		if ev.Type != "widget.exploded" || ev.ResourceType != "widget" || ev.Incident != nil || ev.ID != "E1" {
			t.Errorf("event = %+v", ev)
		}
	})
	t.Run("unknown incident sub-object", func(t *testing.T) {
		body := `{"event":{"event_type":"incident.future_thing","resource_type":"incident","data":{"type":"incident_future","incident":{"id":"PINC","type":"incident_reference"}}}}`
		in := handleSigned(t, body, nil).Events[0].Incident
		if in == nil || !in.Partial || in.ExternalID != "PINC" {
			t.Errorf("incident = %+v", in)
		}
	})
	t.Run("responder added", func(t *testing.T) {
		body := `{"event":{"event_type":"incident.responder.added","resource_type":"incident","data":{"incident":{"id":"PRSP","type":"incident_reference"},"user":{"id":"PU"},"message":"help","state":"pending","type":"incident_responder"}}}`
		in := handleSigned(t, body, nil).Events[0].Incident
		if in == nil || !in.Partial || in.ExternalID != "PRSP" {
			t.Errorf("incident = %+v", in)
		}
	})
	t.Run("data null", func(t *testing.T) {
		body := `{"event":{"event_type":"incident.triggered","resource_type":"incident","data":null}}`
		ev := handleSigned(t, body, nil).Events[0]
		if ev.Incident != nil || ev.Data != nil {
			t.Errorf("event = %+v", ev)
		}
	})
}

func TestWebhookParseOddTypes(t *testing.T) {
	ev := handleSigned(t, bodyOdd, nil).Events[0]
	if ev.ID != "12345" || !ev.OccurredAt.IsZero() || ev.Agent != nil {
		t.Errorf("event = %+v", ev)
	}
	in := ev.Incident
	if in == nil {
		t.Fatal("no incident")
	}
	if in.ExternalID != "PODD001" || in.Number != 42 || in.Title != "7" || in.Priority != "" || in.Urgency != "" ||
		in.Service != nil || in.EscalationPolicy != nil || len(in.Teams) != 0 || !in.CreatedAt.IsZero() ||
		in.ResolveReason != "merged" || in.IncidentKey != "" || in.HTMLURL != "" {
		t.Errorf("incident = %+v", in)
	}
	if len(in.Assignees) != 2 || in.Assignees[0].ID != "PU1" || in.Assignees[1].Summary != "no id" {
		t.Errorf("assignees = %+v", in.Assignees)
	}

	// conference_number as a string or a number, priority as a bare string,
	// number as a float, resolve_reason as an object.
	for _, body := range []string{
		`{"event":{"event_type":"incident.conference_bridge.updated","resource_type":"incident","data":{"id":"P1","type":"incident","number":7.0,"priority":"P2","conference_bridge":{"conference_number":"+1 555","conference_url":"https://x"},"resolve_reason":{"type":"merge_resolve_reason","incident":{"id":"P0"}}}}}`,
		`{"event":{"event_type":"incident.conference_bridge.updated","resource_type":"incident","data":{"id":"P1","type":"incident","number":"7","priority":{"summary":"P2"},"conference_bridge":{"conference_number":15551234},"resolve_reason":"merged"}}}`,
	} {
		in := handleSigned(t, body, nil).Events[0].Incident
		if in == nil || in.Number != 7 || in.Priority != "P2" || in.ResolveReason != "merged" {
			t.Errorf("incident = %+v", in)
		}
	}
}

// TestWebhookParseReferences: the references of an incident (priority,
// service, escalation policy, teams, assignees, agent) are decoded in the
// body's one pass; each takes any JSON value, and the last of repeated
// names wins.
func TestWebhookParseReferences(t *testing.T) {
	tests := []struct {
		value    string // priority, service, escalation_policy and agent; teams [value]; assignees [value, value]
		priority string
		ref      *sdk.Reference
	}{
		{value: `{"id":"PX","type":"service_reference","summary":"s","html_url":"https://h"}`, priority: "s",
			ref: &sdk.Reference{ID: "PX", Type: "service_reference", Summary: "s", HTMLURL: "https://h"}},
		{value: `{"name":"n"}`, priority: "n", ref: &sdk.Reference{Summary: "n"}},
		{value: `{"id":"PX","summary":"s","name":"n","Summary":"last"}`, priority: "last", ref: &sdk.Reference{ID: "PX", Summary: "last"}},
		{value: `{"id":7}`, ref: &sdk.Reference{ID: "7"}},
		{value: `{"type":"only"}`},
		{value: `{}`},
		{value: `null`},
		{value: `"P1"`, priority: "P1"},
		{value: `"caf\u00e9"`, priority: "café"},
		{value: `7`, priority: "7"},
		{value: `true`, priority: "true"},
		{value: `[{"id":"PX"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			body := `{"event":{"event_type":"incident.triggered","resource_type":"incident","agent":` + tc.value +
				`,"data":{"id":"P1","type":"incident","priority":` + tc.value + `,"service":` + tc.value +
				`,"escalation_policy":` + tc.value + `,"teams":[` + tc.value + `],"assignees":[` + tc.value + `,` + tc.value + `]}}}`
			ev := handleSigned(t, body, nil).Events[0]
			in := ev.Incident
			if in == nil {
				t.Fatal("no incident")
			}
			if in.Priority != tc.priority {
				t.Errorf("priority = %q, want %q", in.Priority, tc.priority)
			}
			var refs, teams, assignees []sdk.Reference
			if tc.ref != nil {
				refs = []sdk.Reference{*tc.ref}
				teams, assignees = refs, []sdk.Reference{*tc.ref, *tc.ref}
			}
			for name, got := range map[string]*sdk.Reference{"agent": ev.Agent, "service": in.Service, "escalation policy": in.EscalationPolicy} {
				if !reflect.DeepEqual(got, tc.ref) {
					t.Errorf("%s = %+v, want %+v", name, got, tc.ref)
				}
			}
			if !reflect.DeepEqual(in.Teams, teams) || !reflect.DeepEqual(in.Assignees, assignees) {
				t.Errorf("teams = %+v, assignees = %+v, want %+v", in.Teams, in.Assignees, refs)
			}
		})
	}

	// A repeated event: the last one is the delivery's.
	ev := handleSigned(t, `{"event":{"event_type":"incident.triggered","resource_type":"incident","data":{"id":"P1","type":"incident"}},`+
		`"event":{"event_type":"incident.acknowledged","resource_type":"incident","data":{"id":"P2","type":"incident"}}}`, nil).Events[0]
	if ev.Type != "incident.acknowledged" || ev.Incident == nil || ev.Incident.ExternalID != "P2" {
		t.Errorf("repeated event: %+v %+v", ev, ev.Incident)
	}
}

func TestHeaderValuesAnyCase(t *testing.T) {
	h := map[string][]string{"X-Webhook-Id": {"a"}, "x-webhook-subscription": {"b"}}
	if firstHeader(h, HeaderWebhookID) != "a" || firstHeader(h, HeaderSubscription) != "b" || firstHeader(h, "Nope") != "" {
		t.Error("firstHeader")
	}
}
