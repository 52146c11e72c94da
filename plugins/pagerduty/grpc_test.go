package pagerduty

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// servePlugin serves p in-process through go-plugin's test mode and returns
// the hub-side client, so tests cross the real gRPC boundary.
func servePlugin(t *testing.T, p *Provider) *sdktest.Client { return sdktest.Start(t, p) }

func TestOverGRPC(t *testing.T) {
	e := newSimEnv(t)
	c := servePlugin(t, e.p)
	ctx := context.Background()

	m, err := c.Describe(ctx)
	if err != nil || m.Name != "pagerduty" || !m.Has(sdk.CapabilityEnrichment) {
		t.Fatalf("Describe = %+v, %v", m, err)
	}

	v, err := c.ValidateCredentials(ctx, apiToken(pdsim.DemoAccountToken))
	if err != nil || !v.Identity.AccountLevel || v.Identity.UserEmail != nil || v.Identity.AccountSubdomain != "acme" || !v.Capabilities[CapWriteIncidents] {
		t.Fatalf("ValidateCredentials = %+v, %v", v, err)
	}

	e.sim.InjectFault(pdsim.Fault{Path: "/users/me", Status: 429, Header: http.Header{"Ratelimit-Reset": {"12"}}, Times: 1})
	_, err = c.ValidateCredentials(ctx, apiToken(pdsim.DemoUserToken))
	if se := wantSDKError(t, err, sdk.CodeRateLimited, msgRateLimited); se.RetryAfter != 12*time.Second {
		t.Errorf("RetryAfter over gRPC = %v", se.RetryAfter)
	}

	body := bodyCustomFields
	res, err := c.HandleWebhook(ctx, &sdk.WebhookRequest{
		Body:    []byte(body),
		Header:  map[string][]string{"X-Pagerduty-Signature": {sign(body, "k")}, "X-Webhook-Id": {"W1"}},
		Secrets: []string{"k"},
	})
	if err != nil || !res.Verified || res.DeliveryID != "W1" || res.Events[0].Incident == nil ||
		string(res.Events[0].Incident.CustomFields[3].ValueJSON) != "null" || !res.Events[0].Incident.HasCustomFields {
		t.Fatalf("HandleWebhook = %+v, %v", res, err)
	}
	_, err = c.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte(bodyV2), Secrets: []string{"k"}})
	wantSDKError(t, err, sdk.CodeInvalid, msgNotV3)
}
