package store

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// FuzzInboxDecodersAgree is the premise of reading stored events with
// jsonv1 (JSON v2's decoder behind encoding/json's API): for any row, both
// decoders accept or refuse it and decode the same record, in each form.
//
//	go test -run '^$' -fuzz FuzzInboxDecodersAgree -fuzztime 60s ./store
func FuzzInboxDecodersAgree(f *testing.F) {
	full := filled("checkout latency")
	row, err := encodeRecord(&full)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		row, `{"v":1,"id":"e1","occurred_at":"2026-12-01T10:00:00.5+02:00","incident":{"number":"7"}}`,
		`{"V":1,"ID":"a","id":"b","Data":{"x":[1,2]},"data":null}`, `{"v":1e2,"id":"\u00e9\ud800"}`,
		`{"ID":"e1","OccurredAt":"yesterday"}`, `{"ID":"e1","Incident":{"Assignees":[{"ID":"U"}],"CreatedAt":null}}`,
		"{\"v\":1,\"id\":\"\xff\"}", `{"v":1,"id":"e1",}`, `{"v":1} {}`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, target := range []func() any{
			func() any { return new(InboxRecord) },
			func() any { return new(legacyEvent) },
			func() any { return new(struct{ V *int }) },
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
