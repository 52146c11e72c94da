package alertmanager

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// FuzzHandleWebhook feeds arbitrary bodies and Authorization headers through
// HandleWebhook. Nothing may panic; only *sdk.Error values come back, invalid
// or unauthenticated; the right credentials are never refused as
// unauthenticated and a fuzzed header gets in only if it carries the token;
// every event has a unique ID, a type that agrees with its incident's status,
// valid UTF-8 strings (they cross gRPC) and JSON where JSON is due; the parse
// does not depend on authentication; and the same input answers the same.
//
//	go test -run '^$' -fuzz FuzzHandleWebhook -fuzztime 30s .
func FuzzHandleWebhook(f *testing.F) {
	seeds := []string{
		string(readFile(f, "firing.json")), string(readFile(f, "resolved.json")),
		payload(`[{"labels":{"a":1,"b":null,"c":[]},"annotations":"x","startsAt":5,"status":"FIRING"}]`),
		payload(`[{"fingerprint":"f"},{"fingerprint":"f"},null]`),
		`{"version":4,"status":"resolved","alerts":[{"endsAt":"2026-01-01T00:00:00Z"}]}`,
		`{"version":"3","alerts":[]}`, `{"alerts":{}}`, `[]`, `null`, ``, `{`, "\xff\xfe",
		`{"version":"4","alerts":[{"annotations":{"summary":"\xff\xfe"},"labels":{"\xff":"\xc3\x28"}}],"status":"firing"}`,
	}
	for _, s := range seeds {
		for mode := uint8(0); mode < 4; mode++ {
			f.Add([]byte(s), mode, "Bearer x")
		}
	}
	p := New()
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, junk string) {
		req := &sdk.WebhookRequest{Body: body}
		switch mode % 4 {
		case 0: // the right token, after a wrong secret
			req.Secrets = []string{"bearer:another-token-000000", testToken}
			req.Header = auth("Bearer " + testToken)
		case 1: // no secret, unsigned allowed
			req.AllowUnsigned = true
			req.Header = auth(junk)
		case 2: // a fuzzed header against a secret
			req.Secrets = []string{"bearer:" + testToken, "basic:am:" + testToken}
			req.Header = auth(junk)
		case 3: // no secret, unsigned refused
			req.Header = auth(junk)
		}
		res, err := p.HandleWebhook(context.Background(), req)
		res2, err2 := p.HandleWebhook(context.Background(), req)
		if !reflect.DeepEqual(res, res2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("not deterministic: %+v/%v vs %+v/%v", res, err, res2, err2)
		}
		if err != nil {
			var se *sdk.Error
			if !errors.As(err, &se) || se.Message == "" || !utf8.ValidString(se.Message) {
				t.Fatalf("error %#v is not an *sdk.Error with a UTF-8 message", err)
			}
			if se.Code != sdk.CodeInvalid && se.Code != sdk.CodeUnauthenticated {
				t.Fatalf("code %s", se.Code)
			}
			if res != nil {
				t.Fatal("a result and an error")
			}
			if se.Code == sdk.CodeUnauthenticated && mode%4 < 2 {
				t.Fatalf("mode %d refused as unauthenticated: %v", mode%4, err)
			}
			return
		}
		switch mode % 4 {
		case 2:
			carried := junk
			if scheme, v, ok := strings.Cut(strings.TrimSpace(junk), " "); ok && strings.EqualFold(scheme, "basic") {
				if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v)); err == nil {
					carried = string(d)
				}
			}
			if !strings.Contains(carried, testToken) {
				t.Fatalf("header %q got in", junk)
			}
		case 3:
			t.Fatal("accepted with no secret and unsigned refused")
		}
		if res.Verified != (mode%4 == 0 || mode%4 == 2) {
			t.Fatalf("Verified = %v in mode %d", res.Verified, mode%4)
		}
		if len(res.Events) == 0 {
			t.Fatal("accepted with no events")
		}
		ids := map[string]bool{}
		for _, ev := range res.Events {
			checkEvent(t, ev)
			if ids[ev.ID] {
				t.Fatalf("event ID %q twice", ev.ID)
			}
			ids[ev.ID] = true
		}
		unsigned, uerr := p.HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: body, AllowUnsigned: true})
		if uerr != nil || !reflect.DeepEqual(unsigned.Events, res.Events) {
			t.Fatalf("the parse depends on authentication: %+v/%v vs %+v", unsigned, uerr, res)
		}
	})
}

func checkEvent(t *testing.T, ev sdk.Event) {
	t.Helper()
	in := ev.Incident
	if in == nil || in.ExternalID == "" || !strings.HasPrefix(ev.ID, in.ExternalID+":") {
		t.Fatalf("event %+v: no incident, or its ID does not start with the fingerprint", ev)
	}
	switch {
	case ev.Type == EventFiring && in.Status == "triggered":
	case ev.Type == EventResolved && in.Status == "resolved":
	default:
		t.Fatalf("type %q with status %q", ev.Type, in.Status)
	}
	strs := []string{ev.ID, ev.Type, ev.ResourceType, in.ExternalID, in.Title, in.Status, in.Urgency, in.Priority, in.IncidentKey, in.HTMLURL}
	if in.Service != nil {
		strs = append(strs, in.Service.ID, in.Service.Summary)
	}
	for _, f := range in.CustomFields {
		strs = append(strs, f.ID, f.Name, f.Namespace)
		if !json.Valid(f.ValueJSON) {
			t.Fatalf("field %q: value %q is not JSON", f.Name, f.ValueJSON)
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q would not cross gRPC", s)
		}
	}
	if len(in.Title) > webhook.MaxTitle || in.Title == "" {
		t.Fatalf("title of %d bytes", len(in.Title))
	}
	if !json.Valid(ev.Data) {
		t.Fatalf("Data %q is not JSON", ev.Data)
	}
}
