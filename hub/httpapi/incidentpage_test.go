package httpapi

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/gofiber/fiber/v2"
)

// TestIncidentPageIsWhatJSONWrote holds the streamed GET /incidents page
// to the bytes c.JSON wrote for it before: the API's encoder over
// {"incidents": [...], "nextCursor": ...}, byte for byte.
func TestIncidentPageIsWhatJSONWrote(t *testing.T) {
	at := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	summary, parent := "a <b> & \u2028 \"c\"", "inc-parent"
	odd := hub.Incident{
		ID: "inc-1", Provider: "pagerduty", ExternalID: "P\xffX", Number: 42, Title: "Checkout <down> & \"slow\"\t\u00e9",
		Status: "investigating", Severity: "high", ProviderStatus: "acknowledged", Urgency: "high", Priority: "P1",
		Service:     &hub.Reference{ID: "PSVC", Summary: "Checkout", HTMLURL: "https://acme.pagerduty.com/services/PSVC"},
		IncidentKey: "k", HTMLURL: "https://acme.pagerduty.com/incidents/P1?a=1&b=2", AuroraStatus: "complete",
		Summary: &summary, CorrelatedAlertCount: 3, AffectedServices: []string{"Checkout", "Payments"},
		ParentIncidentID: &parent, StartedAt: at, AlertFiredAt: at.Add(-time.Minute), AnalyzedAt: &at, ResolvedAt: &at,
		CreatedAt: at, UpdatedAt: at.Add(time.Second),
	}
	bare := hub.Incident{ID: "inc-2", Provider: "alertmanager", CreatedAt: at, UpdatedAt: at}
	cases := []struct {
		name  string
		items []hub.Incident
		next  string
	}{
		{"empty, last page", nil, ""},
		{"one, more to come", []hub.Incident{odd}, "cursor+/=="},
		{"several", []hub.Incident{odd, bare, odd, bare}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := make([]incidentJSON, 0, len(c.items))
			for i := range c.items {
				out = append(out, incidentToJSON(&c.items[i]))
			}
			want, err := marshalJSON(fiber.Map{"incidents": out, "nextCursor": nonEmpty(c.next)})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			w := bufio.NewWriter(&got)
			writeIncidentPage(w, c.items, c.next)
			w.Flush()
			if got.String() != string(want) {
				t.Fatalf("streamed\n%s\nc.JSON wrote\n%s", got.String(), want)
			}
		})
	}
}
