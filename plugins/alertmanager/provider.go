// Package alertmanager is Aurora Hub's Prometheus Alertmanager provider plugin: it receives Alertmanager webhooks and turns each alert into an incident event.
package alertmanager

import "github.com/aurora-hub/aurora-hub/sdk"

// Version is the plugin's version, reported in its manifest.
const Version = "0.1.0"

// Auth kinds: how Alertmanager's http_config authenticates its webhooks.
const (
	AuthBearer = "bearer"
	AuthBasic  = "basic"
)

// Event types of the events the plugin emits.
const (
	EventFiring   = "alert.firing"
	EventResolved = "alert.resolved"
)

// Provider implements sdk.Provider, sdk.WebhookHandler and
// sdk.CredentialValidator. It keeps no state and calls no API: Alertmanager
// only pushes.
type Provider struct{}

var (
	_ sdk.WebhookHandler         = (*Provider)(nil)
	_ sdk.CredentialValidator    = (*Provider)(nil)
	_ sdk.WebhookSecretValidator = (*Provider)(nil)
)

// New returns the provider.
func New() *Provider { return &Provider{} }

// Manifest implements sdk.Provider.
func (*Provider) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:              "alertmanager",
		DisplayName:       "Prometheus Alertmanager",
		Version:           Version,
		AuthKinds:         []string{AuthBearer, AuthBasic},
		WebhookEventTypes: []string{EventFiring, EventResolved},
		WebhookSecretFormat: `"bearer:<token>" or "basic:<user>:<password>": the credentials Alertmanager's ` +
			`webhook_configs http_config sends (a bare secret is a bearer token)`,
		SetupInstructions: []string{
			"In alertmanager.yml, add a receiver with a webhook_configs entry whose url is {webhook_url}.",
			"Give it http_config.authorization (type Bearer, credentials <token>) or http_config.basic_auth (username, password).",
			`Store the same credentials with PUT /alertmanager/webhook-secret as "bearer:<token>" or "basic:<user>:<password>", then route alerts to the receiver.`,
		},
	}
}
