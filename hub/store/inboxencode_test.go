package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"
)

// encodeRecord is what EncodeInboxEvent does after filling its record.
func encodeRecord(r *InboxRecord) (string, error) {
	s := recordScratches.Get().(*recordScratch)
	defer s.release()
	return s.encode(r)
}

// tricky holds every class of character json.Marshal escapes.
const tricky = "a\"b\\c/d<e>f&g\x00\x01\x1f\b\f\n\r\t\x7fé€😀\u2028\u2029\xff\xc3(end"

// filled returns a record with every field set (strings to s), found by
// reflection: a field added to the record and not to the encoder fails
// the comparison below.
func filled(s string) InboxRecord {
	var r InboxRecord
	fill(reflect.ValueOf(&r).Elem(), s)
	r.Version = InboxVersion
	r.Data = json.RawMessage(`{"a":[1,2.5,true,null],"b":{"c":"d"}}`)
	return r
}

func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		v.SetInt(-42)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), s)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(`"eu-west-1"` + s))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), s)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 4, 5, 6, 789, time.FixedZone("", -(3*3600+30*60)))))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), s)
		}
	default:
		panic("fill: add a case for " + v.Kind().String())
	}
}

func TestInboxRecordEncodesAsJSONWould(t *testing.T) {
	emptyLists := filled("x")
	emptyLists.Incident.Assignees, emptyLists.Incident.Teams = []InboxRef{}, nil
	emptyLists.Incident.CustomFields = []InboxField{{ID: "F1", Value: []byte{}}, {ID: "F2"}}
	zeroRefs := filled("x")
	zeroRefs.Agent, zeroRefs.Incident.Service = InboxRef{}, InboxRef{}
	zeroRefs.Incident.EscalationPolicy = InboxRef{ID: "only the id"}
	utc := filled("x")
	utc.OccurredAt = time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC)
	spaced := filled("x")
	spaced.Data = json.RawMessage(" {\n  \"a\" : [ 1 , 2 ] ,\t\"b\": \"c d\" }\n")
	cases := []struct {
		name string
		r    InboxRecord
	}{
		{"every field", filled("checkout latency")},
		{"every field, strings to escape", filled(tricky)},
		{"zero record", InboxRecord{}},
		{"version only", InboxRecord{Version: InboxVersion}},
		{"incident with only an id", InboxRecord{Version: 1, ID: "e", Incident: &InboxIncident{ExternalID: "Q"}}},
		{"empty and nil lists and values", emptyLists},
		{"zero references left out", zeroRefs},
		{"time in UTC", utc},
		{"data with spaces is compacted", spaced},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := json.Marshal(&c.r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeRecord(&c.r)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Fatalf("encoded\n%s\njson.Marshal\n%s", got, want)
			}
		})
	}
}

func TestInboxRecordEncodingOdds(t *testing.T) {
	t.Run("invalid data is left out", func(t *testing.T) {
		r := filled("x")
		r.Data = json.RawMessage(`{"a":`)
		got, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		r.Data = nil
		want, _ := json.Marshal(&r)
		if got != string(want) {
			t.Fatalf("encoded\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("data keeps its HTML characters, the same value", func(t *testing.T) {
		r := filled("x")
		r.Data = json.RawMessage(`{"note":"<b>a & b</b>"}`)
		got, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(got, `,"data":{"note":"<b>a & b</b>"}}`) {
			t.Fatalf("data not as sent: %s", got)
		}
		var back InboxRecord
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("decoded\n%+v\nwant\n%+v", back, r)
		}
	})
	t.Run("a year past 9999 is an error, as for json.Marshal", func(t *testing.T) {
		r := filled("x")
		r.Incident.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := json.Marshal(&r); err == nil {
			t.Fatal("json.Marshal took the year 10000")
		}
		if _, err := encodeRecord(&r); err == nil || !strings.Contains(err.Error(), "created_at") {
			t.Fatalf("err = %v, want one naming created_at", err)
		}
	})
}

func FuzzInboxRecordEncoding(f *testing.F) {
	for _, s := range []string{"", "plain", tricky, "\u2028\xed\xa0\x80", "\"\\<>&"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, nanos int64) {
		r := filled(s)
		r.OccurredAt = time.Unix(0, nanos).UTC()
		want, werr := json.Marshal(&r)
		got, gerr := encodeRecord(&r)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("json.Marshal error %v, encoder error %v", werr, gerr)
		}
		if werr == nil && got != string(want) {
			t.Fatalf("encoded\n%q\njson.Marshal\n%q", got, want)
		}
	})
}

// pagerDutyData is the data of an incident.triggered as hubbench sends it
// (PagerDuty's V3 shape, 631 bytes).
const pagerDutyData = `{"id":"PBENCH0001","type":"incident","self":"https://api.pagerduty.com/incidents/PBENCH0001","html_url":"https://acme.pagerduty.com/incidents/PBENCH0001","number":1,"status":"triggered","incident_key":"","created_at":"2026-12-03T23:18:20Z","title":"Bench incident PBENCH0001","service":{"id":"PSVC001","type":"service_reference","summary":"payments-api"},"assignees":[],"escalation_policy":null,"teams":[],"priority":{"id":"PPRIO01","type":"priority_reference","summary":"P1"},"urgency":"high","conference_bridge":null,"resolve_reason":null,"incident_type":{"name":"incident_default"}}`

func BenchmarkInboxEncode(b *testing.B) {
	r := filled("checkout latency")
	r.Data = json.RawMessage(pagerDutyData)
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeRecord(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzInboxDecodersAgree is the premise of decoding stored records with
// jsonv1 (JSON v2's decoder behind encoding/json's API): for any input,
// both decoders accept or refuse it and decode the same record, in the
// record's form and in the legacy one.
//
//	go test -run '^$' -fuzz FuzzInboxDecodersAgree -fuzztime 60s ./store
func FuzzInboxDecodersAgree(f *testing.F) {
	for _, r := range []InboxRecord{filled("checkout latency"), filled(tricky), {}, {Version: InboxVersion, ID: "e", Incident: &InboxIncident{ExternalID: "Q"}}} {
		s, err := encodeRecord(&r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"ID":"e","OccurredAt":"2026-11-30T09:15:00Z","Incident":{"CustomFields":[{"id":"F","value":"bnVsbA=="}]},"Data":null}`,
		`{"v":1,"V":2,"id":"a","ID":"b","occurred_at":"not a time"}`, `{"v":"1"}`, `{"v":1.5}`, `{"v":1,"incident":{"number":1e3}}`,
		`{"v":1,"incident":{"custom_fields":[{"value":"not base64!"}]}}`, `{"v":1,"data":{"a":1},"data":[1]}`,
		`{"v":1,"id":"\ud800\u00e9\xff"}`, `{"v":1} x`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, target := range []func() any{
			func() any { return new(InboxRecord) },
			func() any { return new(legacyEvent) },
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
