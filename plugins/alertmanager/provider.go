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
	_ sdk.WebhookHandler      = (*Provider)(nil)
	_ sdk.CredentialValidator = (*Provider)(nil)
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
	}
}
