package pagerduty

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk/webhook"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// FuzzDecodersAgree is the premise of decoding webhooks with jsonv1 (JSON
// v2's decoder behind encoding/json's API) instead of encoding/json: for
// any input, and for every type a body is decoded into, both accept or
// refuse it and both decode the same value. Odd inputs are seeded: keys in
// another case and repeated, escapes, invalid UTF-8, deep nesting, numbers
// out of range, values of the wrong type.
//
//	go test -run '^$' -fuzz FuzzDecodersAgree -fuzztime 60s .
func FuzzDecodersAgree(f *testing.F) {
	for _, b := range []string{
		bodyTriggered, bodyCustomFields, bodyAnnotated, bodyPing, bodyServiceUpdated, bodyOdd, bodyV1, bodyV2,
		`{"ID":"a","id":"b","Id":{"x":1}}`, `{"event_type":"x","EVENT_TYPE":"y"}`, `{"ev\u0065nt":{"id":"\ud800"}}`,
		`{"id":"caf\u00e9 \"q\" \\ \/","number":"12","incident_number":1e3,"created_at":1700000000}`,
		"{\"title\":\"\xff\xfe\",\"id\":\"\xc3\x28\"}", `{"number":1e400,"urgency":-0,"status":true}`,
		`{"assignments":[{"assignee":{"id":"U1"}},{"Assignee":null},[],"x"],"teams":{"id":"T"}}`,
		`{"custom_fields":[{"id":"f","value":[1,{"x":null}]},{"name":"n"},null,7]}`,
		`{"a":[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]}`, `{"id":"x",}`, `{"id":"x"} {}`, `{"id":'x'}`,
		`{"id":"x","id":null}`, `{"service":{"summary":"s","name":"n"},"priority":"P1"}`, `[]`, `null`, `"s"`, ``,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, target := range []func() any{
			func() any { return new(map[string]json.RawMessage) },
			func() any { return new(v3Event) },
			func() any { return new(incidentData) },
			func() any { return new(flexRef) },
			func() any { return new(customFieldItem) },
			func() any { return new(webhook.Array) },
			func() any { return new(webhook.Labels) },
			func() any { return new(struct{ Type webhook.String }) },
			func() any { return new(struct{ Assignee json.RawMessage }) },
			func() any { return new(string) },
		} {
			std, v2 := target(), target()
			errStd, errV2 := json.Unmarshal(in, std), jsonv1.Unmarshal(in, v2)
			if (errStd == nil) != (errV2 == nil) {
				t.Fatalf("%T of %q: encoding/json error %v, jsonv1 error %v", std, in, errStd, errV2)
			}
			if errStd == nil && !reflect.DeepEqual(std, v2) {
				t.Fatalf("%T of %q: encoding/json decoded %+v, jsonv1 %+v", std, in, std, v2)
			}
		}
	})
}
