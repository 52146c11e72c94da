package httpapi

import (
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/live"
)

func TestEncodeAuroraEvent(t *testing.T) {
	score := 0.82
	cases := []struct {
		name string
		in   live.Event
		want string // "" when the event is not sent
	}{
		{"incident update", live.Event{Type: live.IncidentUpdate, IncidentID: "i1", Source: "pagerduty"},
			`{"type":"incident_update","incident_id":"i1","source":"pagerduty"}`},
		{"analysis started: status is not Aurora's", live.Event{Type: live.IncidentUpdate, IncidentID: "i1", Source: "pagerduty", Status: "running"},
			`{"type":"incident_update","incident_id":"i1","source":"pagerduty"}`},
		{"custom fields", live.Event{Type: live.IncidentUpdate, IncidentID: "i1", Source: "pagerduty", CustomFieldsUpdated: true},
			`{"type":"incident_update","incident_id":"i1","source":"pagerduty","custom_fields_updated":true}`},
		{"analysis complete regroups the list", live.Event{Type: live.RCAComplete, IncidentID: "i1", Source: "pagerduty"},
			`{"type":"incident_update","incident_id":"i1","source":"pagerduty"}`},
		{"correlated", live.Event{Type: live.AlertCorrelated, IncidentID: "p1", Source: "alertmanager", CorrelationScore: &score, CorrelatedIncidentID: "c1", AlertTitle: "High latency"},
			`{"type":"alert_correlated","incident_id":"p1","source":"alertmanager","alert_title":"High latency","correlation_score":0.82}`},
		{"unknown type", live.Event{Type: "something_else", IncidentID: "i1"}, ""},
	}
	for _, tc := range cases {
		b, ok := encodeAuroraEvent(tc.in)
		if got := string(b); ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
}
