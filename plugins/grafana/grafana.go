// Package grafana is Aurora Hub's Grafana Alerting provider plugin: it receives a contact point's webhooks (payload version 1) and turns each alert into an incident event.
package grafana

import (
	"context"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// The plugin's version, the headers a contact point signs with (the
// timestamp header is optional: Grafana sets it when configured), and the
// event types the plugin emits.
const (
	Version         = "0.1.0"
	HeaderSignature = "X-Grafana-Alerting-Signature"
	HeaderTimestamp = "X-Grafana-Alerting-Signature-Timestamp"
	EventFiring     = "alert.firing"
	EventResolved   = "alert.resolved"
)

// verifier accepts a delivery signed with a stored HMAC secret (over
// "<timestamp>:<body>" when timestamped, and then only within five minutes)
// or carrying a stored bearer token.
var verifier = webhook.Verifier{
	Kinds:     []string{webhook.KindHMAC, webhook.KindBearer},
	HMAC:      &webhook.HMAC{SignatureHeader: HeaderSignature, TimestampHeader: HeaderTimestamp},
	MinLength: 16,
	Policy: webhook.Policy{
		NoSecret: `No webhook secret configured: store the contact point's HMAC secret or bearer token ` +
			`with PUT /grafana/webhook-secret, as "hmac:<secret>" or "bearer:<token>"`,
		Rejected: "Invalid webhook signature or token",
	},
}

// Provider receives Grafana Alerting webhooks. It keeps no state and calls
// no API: Grafana only pushes, so it connects without credentials.
type Provider struct{}

// New returns the provider.
func New() *Provider { return &Provider{} }

// Manifest implements sdk.Provider.
func (*Provider) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name: "grafana", DisplayName: "Grafana Alerting", Version: Version,
		WebhookEventTypes:         []string{EventFiring, EventResolved},
		ConnectWithoutCredentials: true,
		WebhookSecretFormat:       `"hmac:<secret>" (the contact point's HMAC signature secret) or "bearer:<token>" (its Authorization header credentials), at least 16 characters`,
		SetupInstructions: []string{
			"In Grafana, go to Alerting > Contact points > + Add contact point and choose the Webhook integration.",
			"Set the URL to {webhook_url} and the HTTP method to POST.",
			"Under Optional settings, set an HMAC signature secret (and, against replays, the timestamp header " + HeaderTimestamp + "), or Authorization header credentials with the scheme Bearer.",
			`Store the same secret with PUT /grafana/webhook-secret as "hmac:<secret>" or "bearer:<token>", then use the contact point in a notification policy.`,
		},
	}
}

// ValidateWebhookSecret implements sdk.WebhookSecretValidator.
func (*Provider) ValidateWebhookSecret(_ context.Context, secret string) error {
	return verifier.ValidateSecret(secret)
}

// message is Grafana Alerting's webhook payload, version 1 (the alerts are
// webhook.Alert objects).
type message struct {
	Version     webhook.String `json:"version"`
	Status      webhook.String `json:"status"`
	GroupKey    webhook.String `json:"groupKey"`
	ExternalURL webhook.String `json:"externalURL"`
	Alerts      webhook.Array  `json:"alerts"`
}

// HandleWebhook implements sdk.WebhookHandler: the delivery is authenticated
// before its body is read; each alert becomes one event.
func (*Provider) HandleWebhook(_ context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	verified, err := verifier.Verify(req)
	if err != nil {
		return nil, err
	}
	var m message
	if err := webhook.DecodeObject(req.Body, &m); err != nil {
		return nil, err
	}
	if v := m.Version.Trimmed(); v != "1" {
		return nil, webhook.Invalid(`Not a Grafana Alerting webhook of version "1" (version %q)`, webhook.Text(v, 20))
	}
	if len(m.Alerts) == 0 {
		return nil, webhook.Invalid(`No alerts in "alerts"`)
	}
	events, err := webhook.AlertGroup{
		Status: m.Status.Trimmed(), GroupKey: m.GroupKey.Trimmed(), ExternalURL: m.ExternalURL.Trimmed(),
		FiringType: EventFiring, ResolvedType: EventResolved, TitlePrefix: "Grafana alert ",
	}.Events(m.Alerts)
	if err != nil {
		return nil, err
	}
	return &sdk.WebhookResult{Verified: verified, Events: events}, nil
}
