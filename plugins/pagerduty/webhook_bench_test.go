package pagerduty

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// BenchmarkHandleWebhook is the plugin's side of one delivery: verify the
// signature, parse the V3 body (a 1.7 KB incident.triggered, as hubbench
// sends).
func BenchmarkHandleWebhook(b *testing.B) {
	p := New(Config{})
	inc := pdsim.WebhookIncident{
		ID: "PBENCH0001", Number: 1, Title: "Bench incident PBENCH0001", Status: "triggered", Urgency: "high",
		Service:  &pdsim.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
		Priority: &pdsim.Reference{ID: "PPRIO01", Type: "priority_reference", Summary: "P1"},
	}
	body := pdsim.IncidentEvent("incident.triggered", inc).Body()
	req := &sdk.WebhookRequest{
		Body:    body,
		Header:  map[string][]string{HeaderSignature: {pdsim.Sign("whsec", body)}, HeaderWebhookID: {"d1"}},
		Secrets: []string{"whsec"},
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.HandleWebhook(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
