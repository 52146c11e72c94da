package sdk_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
)

// sections answers Enrich with the sections it was asked for (all when
// none) and a fixed call count, like a 1.2 provider.
type sections struct{ got *sdk.EnrichRequest }

func (s *sections) Manifest() sdk.Manifest { return sdk.Manifest{Name: "sections", Version: "1"} }

func (s *sections) Enrich(_ context.Context, req *sdk.EnrichRequest) (*sdk.Enrichment, error) {
	s.got = req
	var covered []string
	for _, x := range []string{sdk.SectionAlerts, sdk.SectionChangeEvents} {
		if req.Wants(x) {
			covered = append(covered, x)
		}
	}
	return &sdk.Enrichment{Sections: covered, APICalls: 3}, nil
}

// TestEnrichSectionsCrossGRPC: protocol 1.2's sections and api_calls cross
// gRPC both ways; no sections means everything.
func TestEnrichSectionsCrossGRPC(t *testing.T) {
	p := &sections{}
	c := sdktest.Start(t, p)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ask  []string
		want []string
	}{
		{"all", nil, []string{sdk.SectionAlerts, sdk.SectionChangeEvents}},
		{"light", []string{sdk.SectionAlerts}, []string{sdk.SectionAlerts}},
		{"unknown names", []string{"telepathy"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &sdk.EnrichRequest{Credentials: sdk.Credentials{Kind: "api_token", Token: "t"}, IncidentID: "P1", ServiceID: "S1", TriggeredAt: at, Sections: tt.ask}
			res, err := c.Enrich(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.got.Sections, tt.ask) || !p.got.TriggeredAt.Equal(at) {
				t.Errorf("plugin received sections %v at %v, want %v", p.got.Sections, p.got.TriggeredAt, tt.ask)
			}
			if !reflect.DeepEqual(res.Sections, tt.want) || res.APICalls != 3 {
				t.Errorf("answer covers %v with %d calls, want %v with 3", res.Sections, res.APICalls, tt.want)
			}
		})
	}
}
