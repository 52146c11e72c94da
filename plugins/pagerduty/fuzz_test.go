package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// FuzzHandleWebhook feeds arbitrary bodies and signature headers through
// HandleWebhook. It asserts that nothing panics and that the results are
// consistent: only *sdk.Error values come back; a correct signature is never
// refused as unauthenticated and a wrong one always is; a parsed delivery
// has exactly one event with a type and a resource type; the parse does not
// depend on how the body was authenticated; and the same input gives the
// same answer twice.
//
//	go test -run '^$' -fuzz FuzzHandleWebhook -fuzztime 60s .
func FuzzHandleWebhook(f *testing.F) {
	for _, b := range []string{
		bodyTriggered, bodyCustomFields, bodyAnnotated, bodyPing, bodyServiceUpdated, bodyOdd, bodyV1, bodyV2,
		`{"event":{"event_type":"incident.custom_field_values.updated","resource_type":"incident","data":{"type":"incident_field_values","incident":{"id":"PX"},"custom_fields":[{"id":"a","value":[1,{"x":null}]}],"changed_custom_fields":null}}}`,
		`{"event":{"event_type":1,"resource_type":true,"data":{"id":{},"number":1e400}}}`,
		`{"event":{"event_type":"incident.triggered","resource_type":"incident","data":{"id":"P","type":"incident","assignments":[{"assignee":{"id":"U"}}]}}}`,
		`{"messages":null}`, `{"event":[]}`, `[]`, `""`, `null`, ``, `{`, "\xff\xfe",
	} {
		for mode := uint8(0); mode < 4; mode++ {
			f.Add([]byte(b), mode, "v1=00,v2=ff")
		}
	}
	p := testProvider(f)
	const secret = "fuzz-secret"
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, junkSig string) {
		req := &sdk.WebhookRequest{Body: body, Header: map[string][]string{"X-Webhook-Id": {"d"}}}
		switch mode % 4 {
		case 0: // correctly signed, between a wrong entry and junk
			req.Secrets = []string{"other", secret}
			req.Header["X-Pagerduty-Signature"] = []string{sign(string(body), "other-secret") + "," + sign(string(body), secret) + "," + junkSig}
		case 1: // no secret, unsigned allowed
			req.AllowUnsigned = true
		case 2: // junk signature only
			req.Secrets = []string{secret}
			req.Header["X-Pagerduty-Signature"] = []string{junkSig}
		case 3: // no secret, unsigned refused
			req.Header["X-Pagerduty-Signature"] = []string{junkSig}
		}
		res, err := p.HandleWebhook(context.Background(), req)
		res2, err2 := p.HandleWebhook(context.Background(), req)
		if !reflect.DeepEqual(res, res2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("not deterministic: %+v/%v vs %+v/%v", res, err, res2, err2)
		}
		if err != nil {
			var se *sdk.Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Fatalf("error %v is not a *sdk.Error with a message", err)
			}
			if se.Code != sdk.CodeInvalid && se.Code != sdk.CodeUnauthenticated {
				t.Fatalf("unexpected code %s", se.Code)
			}
			if res != nil {
				t.Fatal("result and error")
			}
			switch {
			case mode%4 == 0 && se.Code == sdk.CodeUnauthenticated:
				t.Fatalf("correct signature refused: %v", err)
			case mode%4 == 1 && se.Code == sdk.CodeUnauthenticated:
				t.Fatalf("unsigned allowed but refused: %v", err)
			}
			return
		}
		if mode%4 == 2 && junkSig == "" {
			t.Fatal("accepted without a signature")
		}
		if mode%4 == 3 {
			t.Fatal("accepted with no secret and unsigned refused")
		}
		if res.Verified != (mode%4 == 0 || mode%4 == 2) {
			t.Fatalf("Verified = %v in mode %d", res.Verified, mode%4)
		}
		if len(res.Events) != 1 || res.Events[0].Type == "" || res.Events[0].ResourceType == "" {
			t.Fatalf("events = %+v", res.Events)
		}
		ev := res.Events[0]
		if ev.Data != nil && !json.Valid(ev.Data) {
			t.Fatalf("Data is not JSON: %q", ev.Data)
		}
		if in := ev.Incident; in != nil {
			if in.ExternalID == "" {
				t.Fatalf("incident without id: %+v", in)
			}
			for _, cf := range append(append([]sdk.CustomField(nil), in.CustomFields...), in.ChangedCustomFields...) {
				if !json.Valid(cf.ValueJSON) {
					t.Fatalf("custom field value is not JSON: %q", cf.ValueJSON)
				}
			}
		}
		// The parse does not depend on authentication.
		unsigned, uerr := p.HandleWebhook(context.Background(), &sdk.WebhookRequest{Body: body, Header: req.Header, AllowUnsigned: true, Secrets: nil})
		if uerr != nil || !reflect.DeepEqual(unsigned.Events, res.Events) {
			t.Fatalf("parse differs when unsigned: %+v/%v vs %+v", unsigned, uerr, res)
		}
	})
}
