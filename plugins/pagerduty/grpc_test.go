package pagerduty

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/plugins/pagerduty/pdsim"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// servePlugin serves p in-process through go-plugin's test mode and returns
// the hub-side client, so tests cross the real gRPC boundary.
func servePlugin(t *testing.T, p *Provider) *sdk.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go sdk.Serve(p, sdk.WithLogger(hclog.NewNullLogger()), sdk.WithTestConfig(&plugin.ServeTestConfig{
		Context: ctx, ReattachConfigCh: reattach, CloseCh: closed,
	}))
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("plugin did not start")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		// go-plugin takes Plugins, not VersionedPlugins, when reattaching.
		HandshakeConfig: sdk.Handshake, Plugins: sdk.HostPlugins()[sdk.ProtocolVersion], Reattach: rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC}, GRPCDialOptions: sdk.HostDialOptions(),
		Logger: hclog.NewNullLogger(),
	})
	t.Cleanup(func() {
		client.Kill()
		cancel()
		<-closed
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(*sdk.Client)
}

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
