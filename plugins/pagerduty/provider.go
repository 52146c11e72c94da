// Package pagerduty is Aurora Hub's PagerDuty provider plugin: credentials, V3 webhooks, OAuth, provisioning and enrichment.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

// Version is the plugin's version, reported in its manifest and User-Agent.
const Version = "0.1.0"

// Environment variables the plugin reads (its manifest's ConfigKeys).
const (
	EnvAPIURL      = "PAGERDUTY_API_URL"
	EnvOAuthURL    = "PAGERDUTY_OAUTH_URL"
	EnvOAuthScopes = "PAGERDUTY_OAUTH_SCOPES"
)

// Defaults for Config.
const (
	DefaultAPIURL   = "https://api.pagerduty.com"
	DefaultOAuthURL = "https://identity.pagerduty.com"
)

// DefaultOAuthScopes is the least-privilege scoped-OAuth set the plugin needs:
// identity, incidents and services for enrichment, abilities, webhook
// subscriptions for provisioning and change events. It grants no incident write.
var DefaultOAuthScopes = []string{
	"users.read", "incidents.read", "services.read", "abilities.read",
	"webhook_subscriptions.read", "webhook_subscriptions.write", "change_events.read",
}

// WebhookEventTypes are the V3 webhook event types PagerDuty documents. Types
// not listed here are still accepted and recorded.
var WebhookEventTypes = []string{
	"incident.acknowledged", "incident.annotated", "incident.conference_bridge.updated",
	"incident.custom_field_values.updated", "incident.delegated", "incident.escalated",
	"incident.incident_type.changed", "incident.priority_updated", "incident.reassigned",
	"incident.reopened", "incident.resolved", "incident.responder.added", "incident.responder.replied",
	"incident.role.assigned", "incident.service_updated", "incident.status_update_published",
	"incident.task.completed", "incident.task.created", "incident.task.updated",
	"incident.triggered", "incident.unacknowledged",
	"incident.action_invocation.created", "incident.action_invocation.terminated", "incident.action_invocation.updated",
	"incident.workflow.started", "incident.workflow.completed",
	"service.created", "service.custom_field_values.updated", "service.deleted", "service.updated",
	"pagey.ping",
}

// DefaultSubscriptionEvents are subscribed to when a subscription request
// names no events: the four the hub's setup instructions ask for.
var DefaultSubscriptionEvents = []string{
	"incident.triggered", "incident.acknowledged", "incident.resolved", "incident.custom_field_values.updated",
}

// Config configures the provider. Zero fields take their defaults in New.
type Config struct {
	// APIURL is the REST API base URL (EU: https://api.eu.pagerduty.com).
	APIURL string
	// OAuthURL is the identity service base URL.
	OAuthURL string
	// OAuthScopes are the scopes the hub requests by default.
	OAuthScopes []string
	// HTTPClient overrides the shared REST client (tests).
	HTTPClient *http.Client
	// Logger overrides the default JSON-to-stderr logger.
	Logger hclog.Logger
}

// ConfigFromEnv reads PAGERDUTY_API_URL, PAGERDUTY_OAUTH_URL and
// PAGERDUTY_OAUTH_SCOPES (space or comma separated), with defaults. Call
// Validate on the result before use.
func ConfigFromEnv() Config {
	c := Config{
		APIURL:   strings.TrimSpace(os.Getenv(EnvAPIURL)),
		OAuthURL: strings.TrimSpace(os.Getenv(EnvOAuthURL)),
	}
	if s := strings.TrimSpace(os.Getenv(EnvOAuthScopes)); s != "" {
		c.OAuthScopes = splitScopes(s)
	}
	return c.withDefaults()
}

// Validate reports whether the URLs are absolute http(s) URLs.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := checkBaseURL(c.APIURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvAPIURL, err))
	}
	if err := checkBaseURL(c.OAuthURL); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvOAuthURL, err))
	}
	if len(c.OAuthScopes) == 0 {
		errs = append(errs, fmt.Errorf("%s: no scopes", EnvOAuthScopes))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if c.OAuthURL == "" {
		c.OAuthURL = DefaultOAuthURL
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	c.OAuthURL = strings.TrimRight(c.OAuthURL, "/")
	if len(c.OAuthScopes) == 0 {
		c.OAuthScopes = append([]string(nil), DefaultOAuthScopes...)
	}
	return c
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry credentials, a query or a fragment", raw)
	}
	return nil
}

func splitScopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}

// Provider implements sdk.Provider and all of the SDK's capability interfaces.
// It keeps no per-connection state: credentials arrive with every call.
type Provider struct {
	cfg  Config
	http *http.Client
	log  hclog.Logger
}

var (
	_ sdk.Provider            = (*Provider)(nil)
	_ sdk.CredentialValidator = (*Provider)(nil)
	_ sdk.WebhookHandler      = (*Provider)(nil)
	_ sdk.OAuthProvider       = (*Provider)(nil)
	_ sdk.Provisioner         = (*Provider)(nil)
	_ sdk.Enricher            = (*Provider)(nil)
)

// New returns a provider for cfg; empty fields take their defaults.
func New(cfg Config) *Provider {
	cfg = cfg.withDefaults()
	p := &Provider{cfg: cfg, http: cfg.HTTPClient, log: cfg.Logger}
	if p.http == nil {
		p.http = newHTTPClient()
	}
	if p.log == nil {
		p.log = hclog.New(&hclog.LoggerOptions{
			Name: "pagerduty", Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		})
	}
	return p
}

// Manifest implements sdk.Provider.
func (p *Provider) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name:              "pagerduty",
		DisplayName:       "PagerDuty",
		Version:           Version,
		AuthKinds:         []string{sdk.AuthAPIToken, sdk.AuthOAuth},
		WebhookEventTypes: append([]string(nil), WebhookEventTypes...),
		OAuthScopes:       append([]string(nil), p.cfg.OAuthScopes...),
		ConfigKeys:        []string{EnvAPIURL, EnvOAuthURL, EnvOAuthScopes},
		SetupInstructions: []string{
			"In PagerDuty, go to Integrations > Generic Webhooks (v3) > New Webhook.",
			"Set the Webhook URL to {webhook_url}",
			"Choose the scope (account or a service) and subscribe to the events incident.triggered, incident.acknowledged, incident.resolved and incident.custom_field_values.updated.",
			"Save, copy the signing secret PagerDuty shows once, and store it with PUT /pagerduty/webhook-secret.",
		},
		WebhookSecretFormat: "the signing secret PagerDuty shows once when the webhook subscription is created, as shown (no spaces)",
	}
}

// ValidateWebhookSecret implements sdk.WebhookSecretValidator: a signing
// secret is one word of printable characters, so a paste that caught a
// space, a line break or the "Signing secret:" label is refused when stored.
func (*Provider) ValidateWebhookSecret(_ context.Context, secret string) error {
	s := strings.TrimSpace(secret)
	switch {
	case s == "":
		return sdk.Errorf(sdk.CodeInvalid, "Secret required")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return sdk.Errorf(sdk.CodeInvalid, "A PagerDuty signing secret has no spaces or control characters: paste it exactly as PagerDuty shows it")
	}
	return nil
}

// newHTTPClient is the shared REST client: bounded timeouts and pooled
// keep-alive connections (one host, so a generous per-host idle pool).
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 32
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{
		Transport: t,
		Timeout:   requestTimeout,
		// The API does not redirect; following one could carry the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// requestTimeout bounds one REST call, body included.
const requestTimeout = 10 * time.Second
