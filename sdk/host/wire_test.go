package host_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
)

// echo answers every call with what the test set, and keeps the requests it
// received, so a test sees exactly what crossed gRPC in each direction.
type echo struct {
	mu         sync.Mutex
	err        error
	events     []sdk.Event
	validation *sdk.Validation
	gotReq     *sdk.WebhookRequest
	gotCreds   sdk.Credentials
}

func (e *echo) set(err error, events []sdk.Event, v *sdk.Validation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.err, e.events, e.validation = err, events, v
}

func (e *echo) received() (*sdk.WebhookRequest, sdk.Credentials) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gotReq, e.gotCreds
}

func (e *echo) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "echo", DisplayName: "Echo", Version: "1"}
}

func (e *echo) HandleWebhook(_ context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gotReq = req
	if e.err != nil {
		return nil, e.err
	}
	return &sdk.WebhookResult{Verified: true, DeliveryID: "D1", SubscriptionID: "S1", Events: e.events}, nil
}

func (e *echo) ValidateCredentials(_ context.Context, c sdk.Credentials) (*sdk.Validation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gotCreds = c
	if e.err != nil {
		return nil, e.err
	}
	return e.validation, nil
}

func TestErrorsCrossGRPC(t *testing.T) {
	p := &echo{}
	c := sdktest.Start(t, p)
	tests := []struct {
		name      string
		err       error
		wantCode  sdk.Code
		wantMsg   string
		wantRetry time.Duration
	}{
		{"invalid", sdk.Errorf(sdk.CodeInvalid, "Token required"), sdk.CodeInvalid, "Token required", 0},
		{"unauthenticated", sdk.Errorf(sdk.CodeUnauthenticated, "Invalid webhook signature"), sdk.CodeUnauthenticated, "Invalid webhook signature", 0},
		{"permission denied", sdk.Errorf(sdk.CodePermissionDenied, "Needs write access"), sdk.CodePermissionDenied, "Needs write access", 0},
		{"not found", sdk.Errorf(sdk.CodeNotFound, "No such subscription"), sdk.CodeNotFound, "No such subscription", 0},
		{"rate limited", &sdk.Error{Code: sdk.CodeRateLimited, Message: "Slow down", RetryAfter: 90 * time.Second}, sdk.CodeRateLimited, "Slow down", 90 * time.Second},
		{"rate limited, fractional", &sdk.Error{Code: sdk.CodeRateLimited, Message: "Slow down", RetryAfter: 1500 * time.Millisecond}, sdk.CodeRateLimited, "Slow down", 1500 * time.Millisecond},
		{"upstream", sdk.Errorf(sdk.CodeUpstream, "PagerDuty answered 502"), sdk.CodeUpstream, "PagerDuty answered 502", 0},
		{"unavailable with retry", &sdk.Error{Code: sdk.CodeUnavailable, Message: "Restarting", RetryAfter: 30 * time.Second}, sdk.CodeUnavailable, "Restarting", 30 * time.Second},
		{"unimplemented, said by the plugin", sdk.Errorf(sdk.CodeUnimplemented, "Not for this account"), sdk.CodeUnimplemented, "Not for this account", 0},
		{"internal", sdk.Errorf(sdk.CodeInternal, "bug"), sdk.CodeInternal, "bug", 0},
		{"unicode message", sdk.Errorf(sdk.CodeInvalid, "Ungültiges Feld „name“ ✓"), sdk.CodeInvalid, "Ungültiges Feld „name“ ✓", 0},
		{"wrapped", fmt.Errorf("validating: %w", sdk.Errorf(sdk.CodeNotFound, "Gone")), sdk.CodeNotFound, "Gone", 0},
		{"cause stays in the plugin", &sdk.Error{Code: sdk.CodeUpstream, Message: "Upstream failed", Err: errors.New("dial tcp 10.0.0.1: secret-host")}, sdk.CodeUpstream, "Upstream failed", 0},
		{"plain error becomes internal", errors.New("token abc123 leaked"), sdk.CodeInternal, "internal plugin error", 0},
		{"unknown code becomes internal", &sdk.Error{Code: "teapot", Message: "Short and stout"}, sdk.CodeInternal, "Short and stout", 0},
		{"no code is internal", &sdk.Error{Message: "Forgot the code"}, sdk.CodeInternal, "Forgot the code", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.set(tt.err, nil, nil)
			for call, err := range map[string]error{
				"HandleWebhook":       second(c.HandleWebhook(context.Background(), &sdk.WebhookRequest{})),
				"ValidateCredentials": second(c.ValidateCredentials(context.Background(), sdk.Credentials{})),
			} {
				var se *sdk.Error
				if !errors.As(err, &se) {
					t.Fatalf("%s: %T %v, want *sdk.Error", call, err, err)
				}
				if se.Code != tt.wantCode || se.Message != tt.wantMsg || se.RetryAfter != tt.wantRetry {
					t.Errorf("%s: got %s %q retry %v, want %s %q retry %v", call, se.Code, se.Message, se.RetryAfter, tt.wantCode, tt.wantMsg, tt.wantRetry)
				}
				if strings.Contains(err.Error(), "secret-host") || strings.Contains(err.Error(), "abc123") {
					t.Errorf("%s: the plugin-side cause crossed the wire: %v", call, err)
				}
			}
		})
	}
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		t.Run(ctxErr.Error(), func(t *testing.T) {
			p.set(fmt.Errorf("calling upstream: %w", ctxErr), nil, nil)
			if _, err := c.HandleWebhook(context.Background(), &sdk.WebhookRequest{}); !errors.Is(err, ctxErr) {
				t.Errorf("got %v, want %v", err, ctxErr)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func ptr(s string) *string { return &s }

func TestEventsCrossGRPC(t *testing.T) {
	p := &echo{}
	c := sdktest.Start(t, p)
	cet := time.FixedZone("CET", 3600)
	full := sdk.Event{
		ID: "Q1", Type: "incident.triggered", ResourceType: "incident",
		OccurredAt: time.Date(2026, 3, 4, 5, 6, 7, 123456789, cet),
		Agent:      &sdk.Reference{ID: "U1", Type: "user_reference", Summary: "Ada", HTMLURL: "https://x/u/U1"},
		Incident: &sdk.Incident{
			ExternalID: "P1", Number: 42, Title: "Disk full ✓", Status: "triggered", Urgency: "high", Priority: "P1",
			Service:          &sdk.Reference{ID: "S1", Summary: "checkout"},
			EscalationPolicy: &sdk.Reference{ID: "E1"},
			Assignees:        []sdk.Reference{{ID: "U1"}, {ID: "U2", Summary: "Bo"}},
			Teams:            []sdk.Reference{{ID: "T1"}},
			IncidentKey:      "key", HTMLURL: "https://x/i/P1",
			CreatedAt:     time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC),
			ResolveReason: "fixed", HasCustomFields: true,
			CustomFields: []sdk.CustomField{
				{ID: "F1", Name: "env", Namespace: "labels", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"prod"`)},
				{ID: "F2", Name: "gone", ValueJSON: []byte("null")},
			},
			ChangedCustomFields: []sdk.CustomField{{ID: "F2", Name: "gone", ValueJSON: []byte("null")}},
		},
		Data: []byte(`{"raw":true}`),
	}
	tests := []struct {
		name   string
		events []sdk.Event
	}{
		{"no events", nil},
		{"minimal", []sdk.Event{{ID: "e1", Type: "pagey.ping"}}},
		{"full incident", []sdk.Event{full}},
		{"partial incident", []sdk.Event{{ID: "e2", Type: "incident.custom_field_values.updated", Incident: &sdk.Incident{ExternalID: "P1", Partial: true}}}},
		{"empty custom field set", []sdk.Event{{ID: "e3", Type: "t", Incident: &sdk.Incident{ExternalID: "P1", HasCustomFields: true}}}},
		{"order kept", []sdk.Event{{ID: "a", Type: "t"}, {ID: "b", Type: "t"}, {ID: "c", Type: "t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.set(nil, tt.events, nil)
			res, err := c.HandleWebhook(context.Background(), &sdk.WebhookRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Verified || res.DeliveryID != "D1" || res.SubscriptionID != "S1" {
				t.Errorf("result = %+v", res)
			}
			if got, want := normalize(res.Events), normalize(tt.events); !reflect.DeepEqual(got, want) {
				t.Errorf("events over gRPC:\n%+v\nwant\n%+v", got, want)
			}
			for i, ev := range res.Events {
				if ev.Incident != nil && ev.Incident.HasCustomFields != tt.events[i].Incident.HasCustomFields {
					t.Errorf("event %d: HasCustomFields lost", i)
				}
			}
		})
	}
}

// normalize maps what gRPC cannot tell apart (nil and empty slices, time
// zones) to one form.
func normalize(evs []sdk.Event) []sdk.Event {
	var out []sdk.Event
	for _, ev := range evs {
		ev.OccurredAt = utc(ev.OccurredAt)
		ev.Data = nilIfEmpty(ev.Data)
		if ev.Incident != nil {
			in := *ev.Incident
			in.CreatedAt = utc(in.CreatedAt)
			if len(in.Assignees) == 0 {
				in.Assignees = nil
			}
			if len(in.Teams) == 0 {
				in.Teams = nil
			}
			if len(in.CustomFields) == 0 {
				in.CustomFields = nil
			}
			if len(in.ChangedCustomFields) == 0 {
				in.ChangedCustomFields = nil
			}
			ev.Incident = &in
		}
		out = append(out, ev)
	}
	return out
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func TestRequestsCrossGRPC(t *testing.T) {
	p := &echo{}
	c := sdktest.Start(t, p)
	req := &sdk.WebhookRequest{
		Body:          []byte("\x00\xffraw body, not UTF-8"),
		Header:        map[string][]string{"X-Signature": {"v1=a", "v1=b"}, "Content-Type": {"application/json"}},
		Secrets:       []string{"s1", "s2"},
		AllowUnsigned: true,
	}
	if _, err := c.HandleWebhook(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.received(); !reflect.DeepEqual(got, req) {
		t.Errorf("plugin received %+v, want %+v", got, req)
	}

	id := sdk.Identity{UserID: ptr("U1"), UserEmail: ptr("a@x"), AccountSubdomain: "acme", AccountID: "A1"}
	tests := []struct {
		name  string
		creds sdk.Credentials
		v     *sdk.Validation
	}{
		{"account-level, no user", sdk.Credentials{Kind: "api_token", Token: "t"}, &sdk.Validation{Identity: sdk.Identity{AccountLevel: true, AccountSubdomain: "acme"}}},
		{"user", sdk.Credentials{Kind: "oauth", Token: "t", Scope: "read write", Fields: map[string]string{"from": "a@x"}}, &sdk.Validation{Identity: id, Capabilities: map[string]bool{"can_read": true, "can_write": false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.set(nil, nil, tt.v)
			got, err := c.ValidateCredentials(context.Background(), tt.creds)
			if err != nil {
				t.Fatal(err)
			}
			if _, creds := p.received(); !reflect.DeepEqual(creds, tt.creds) {
				t.Errorf("plugin received %+v, want %+v", creds, tt.creds)
			}
			if !reflect.DeepEqual(got.Identity, tt.v.Identity) || len(got.Capabilities) != len(tt.v.Capabilities) {
				t.Errorf("validation over gRPC = %+v, want %+v", got, tt.v)
			}
			for k, v := range tt.v.Capabilities {
				if got.Capabilities[k] != v {
					t.Errorf("capability %s = %v, want %v", k, got.Capabilities[k], v)
				}
			}
		})
	}
}
