package store_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
)

var recordAt = time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)

// fullEvent sets every field of sdk.Event and sdk.Incident, with an empty
// list beside a nil one (they mean different things).
func fullEvent() sdk.Event {
	return sdk.Event{ID: "01JDELIVERY-0", Type: "incident.custom_field_values.updated", ResourceType: "incident", OccurredAt: recordAt,
		Agent: &sdk.Reference{ID: "PUSER1", Type: "user_reference", Summary: "Ana"},
		Incident: &sdk.Incident{ExternalID: "Q1ABC", Number: 42, Title: "Checkout latency", Status: "triggered", Urgency: "high",
			Priority: "P1", Service: &sdk.Reference{ID: "PSVC1", Type: "service_reference", Summary: "checkout", HTMLURL: "https://acme.pagerduty.com/services/PSVC1"},
			EscalationPolicy: &sdk.Reference{ID: "PEP1", Summary: "Default"},
			Assignees:        []sdk.Reference{{ID: "PUSER2", Type: "user_reference", Summary: "Bo"}},
			Teams:            []sdk.Reference{},
			IncidentKey:      "dedup-7", HTMLURL: "https://acme.pagerduty.com/incidents/Q1ABC", CreatedAt: recordAt.Add(-time.Minute),
			HasCustomFields: true, CustomFields: []sdk.CustomField{{ID: "F1", Name: "region", DataType: "string", FieldType: "single_value", ValueJSON: []byte(`"eu-west-1"`)}},
			ChangedCustomFields: []sdk.CustomField{{ID: "F1", Name: "region", ValueJSON: []byte(`null`)}},
		},
		Data: json.RawMessage(`{"id":"01JDELIVERY-0","event_type":"incident.custom_field_values.updated","data":{"id":"Q1ABC"}}`),
	}
}

// Legacy rows, copied from webhook_inbox.event as hubs before the inbox
// record wrote them (json.Marshal of sdk.Event): these exact bytes must
// keep decoding whatever becomes of the SDK's types.
const (
	legacyFull    = `{"ID":"01JDELIVERY-0","Type":"incident.custom_field_values.updated","ResourceType":"incident","OccurredAt":"2026-11-30T09:15:00Z","Agent":{"id":"PUSER1","type":"user_reference","summary":"Ana"},"Incident":{"ExternalID":"Q1ABC","Number":42,"Title":"Checkout latency","Status":"triggered","Urgency":"high","Priority":"P1","Service":{"id":"PSVC1","type":"service_reference","summary":"checkout","html_url":"https://acme.pagerduty.com/services/PSVC1"},"EscalationPolicy":{"id":"PEP1","summary":"Default"},"Assignees":[{"id":"PUSER2","type":"user_reference","summary":"Bo"}],"Teams":[],"IncidentKey":"dedup-7","HTMLURL":"https://acme.pagerduty.com/incidents/Q1ABC","CreatedAt":"2026-11-30T09:14:00Z","ResolveReason":"","HasCustomFields":true,"CustomFields":[{"id":"F1","name":"region","data_type":"string","field_type":"single_value","value":"ImV1LXdlc3QtMSI="}],"ChangedCustomFields":[{"id":"F1","name":"region","value":"bnVsbA=="}],"Partial":false},"Data":{"id":"01JDELIVERY-0","event_type":"incident.custom_field_values.updated","data":{"id":"Q1ABC"}}}`
	legacyPartial = `{"ID":"e2","Type":"incident.resolved","ResourceType":"","OccurredAt":"2026-11-30T09:15:00Z","Agent":null,"Incident":{"ExternalID":"Q1ABC","Number":0,"Title":"","Status":"","Urgency":"","Priority":"","Service":null,"EscalationPolicy":null,"Assignees":null,"Teams":null,"IncidentKey":"","HTMLURL":"","CreatedAt":"0001-01-01T00:00:00Z","ResolveReason":"","HasCustomFields":false,"CustomFields":null,"ChangedCustomFields":null,"Partial":true},"Data":null}`
	legacyPing    = `{"ID":"","Type":"pagey.ping","ResourceType":"","OccurredAt":"0001-01-01T00:00:00Z","Agent":null,"Incident":null,"Data":null}`
)

func TestDecodeLegacyInboxRows(t *testing.T) {
	cases := []struct {
		name string
		row  string
		want sdk.Event
	}{
		{"every field", legacyFull, fullEvent()},
		{"partial update", legacyPartial, sdk.Event{ID: "e2", Type: "incident.resolved", OccurredAt: recordAt, Incident: &sdk.Incident{ExternalID: "Q1ABC", Partial: true}}},
		{"no incident, no id", legacyPing, sdk.Event{Type: "pagey.ping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := store.DecodeInboxEvent([]byte(c.row))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}

func TestInboxRecordRoundTrip(t *testing.T) {
	bad := fullEvent()
	bad.Data = json.RawMessage(`{not json`)
	dropped := fullEvent()
	dropped.Data = nil
	cases := []struct {
		name    string
		in, out sdk.Event
	}{
		{"every field", fullEvent(), fullEvent()},
		{"zero event", sdk.Event{}, sdk.Event{}},
		{"incident with only an id", sdk.Event{ID: "x", Incident: &sdk.Incident{ExternalID: "Q"}}, sdk.Event{ID: "x", Incident: &sdk.Incident{ExternalID: "Q"}}},
		{"invalid data is dropped", bad, dropped},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := store.EncodeInboxEvent(&c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(enc, `{"v":1,`) {
				t.Fatalf("record %s does not start with its version", enc)
			}
			got, err := store.DecodeInboxEvent([]byte(enc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.out) {
				t.Fatalf("round trip of %s gave\n%+v\nwant\n%+v", enc, got, c.out)
			}
		})
	}
}

// TestInboxRecordIsTheHubs: the record's keys are the hub's snake_case
// names, not the SDK's Go field names.
func TestInboxRecordIsTheHubs(t *testing.T) {
	ev := fullEvent()
	enc, err := store.EncodeInboxEvent(&ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"external_id":`, `"occurred_at":`, `"has_custom_fields":`, `"changed_custom_fields":`, `"escalation_policy":`, `"teams":[]`} {
		if !strings.Contains(enc, key) {
			t.Errorf("record lacks %s: %s", key, enc)
		}
	}
	for _, key := range []string{`"ExternalID"`, `"OccurredAt"`, `"Partial"`} {
		if strings.Contains(enc, key) {
			t.Errorf("record has the SDK's key %s: %s", key, enc)
		}
	}
}

func TestDecodeUnreadableInboxRows(t *testing.T) {
	cases := []struct {
		name, row, wantMsg string
	}{
		{"future version", `{"v":2,"id":"e1","type":"incident.triggered","shape":"new"}`, "version 2"},
		{"future version, reordered", `{"id":"e1","v":7}`, "version 7"},
		{"version zero", `{"v":0,"id":"e1"}`, "version 0"},
		{"not JSON", `{"v":1,"id":`, "unexpected end"},
		{"legacy, damaged", `{"ID":"e1","OccurredAt":"yesterday"}`, "legacy form"},
		{"neither form", `{"event":"e1"}`, "neither"},
		{"empty", ``, "unexpected end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := store.DecodeInboxEvent([]byte(c.row))
			if !errors.Is(err, store.ErrInboxRecord) || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("DecodeInboxEvent(%q) = %v, want ErrInboxRecord saying %q", c.row, err, c.wantMsg)
			}
		})
	}
}

// BenchmarkInboxDecode measures decoding a stored event on the apply path,
// for an event with every field set and for a partial update: "old" is
// what the apply worker did before the record (the column scanned into a
// string, copied into bytes, json.Unmarshal into sdk.Event); "legacy" is
// the same row through DecodeInboxEvent and "record" the row the inbox
// writes now, both from the bytes the worker scans (sql.RawBytes).
func BenchmarkInboxDecode(b *testing.B) {
	partial := sdk.Event{ID: "e2", Type: "incident.resolved", OccurredAt: recordAt, Incident: &sdk.Incident{ExternalID: "Q1ABC", Partial: true}}
	for _, ev := range []struct {
		name   string
		legacy string
		event  sdk.Event
	}{{"full", legacyFull, fullEvent()}, {"partial", legacyPartial, partial}} {
		rec, err := store.EncodeInboxEvent(&ev.event)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(ev.name+"/old", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(ev.legacy)))
			for b.Loop() {
				var e sdk.Event
				if err := json.Unmarshal([]byte(ev.legacy), &e); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, c := range []struct{ name, row string }{{"legacy", ev.legacy}, {"record", rec}} {
			row := []byte(c.row)
			b.Run(ev.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(row)))
				for b.Loop() {
					if _, err := store.DecodeInboxEvent(row); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
