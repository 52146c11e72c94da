package alertmanager

import (
	"context"
	"net/url"
	"strings"
	"unicode"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// Messages users see.
const (
	msgTokenRequired  = "Token required"
	msgBearerTooShort = "Bearer token must be at least 16 characters"
	msgBasicShape     = "Basic credentials must be user:password"
	msgControlChars   = "Credentials must not contain control characters"
	msgNoCredentials  = `No webhook credentials configured: store the credentials Alertmanager sends ` +
		`with PUT /alertmanager/webhook-secret, as "bearer:<token>" or "basic:<user>:<password>"`
	msgBadCredentials = "Invalid webhook credentials"
)

// minBearerLength is the shortest bearer token ValidateCredentials accepts.
const minBearerLength = 16

// verifier checks the Authorization header Alertmanager's http_config sends
// against the stored "bearer:<token>" or "basic:<user>:<password>" secrets
// (a bare secret is a bearer token).
var verifier = webhook.Verifier{
	Kinds:  []string{AuthBearer, AuthBasic},
	Policy: webhook.Policy{NoSecret: msgNoCredentials, Rejected: msgBadCredentials},
}

// ValidateCredentials implements sdk.CredentialValidator. Alertmanager has
// no API to ask, so it checks the credentials' shape: a bearer token of at
// least 16 characters, or user:password. Kind api_token (what the hub's
// POST /alertmanager sends) and "" take the stored form: "bearer:<token>",
// "basic:<user>:<password>", or a bare bearer token.
func (*Provider) ValidateCredentials(_ context.Context, creds sdk.Credentials) (*sdk.Validation, error) {
	tok := strings.TrimSpace(creds.Token)
	switch {
	case tok == "":
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgTokenRequired}
	case strings.IndexFunc(tok, unicode.IsControl) >= 0:
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgControlChars}
	}
	switch creds.Kind {
	case AuthBearer, AuthBasic:
		tok = creds.Kind + ":" + tok
	case "", sdk.AuthAPIToken:
	default:
		return nil, sdk.Errorf(sdk.CodeInvalid, "Unsupported credential kind %q: use %q or %q", creds.Kind, AuthBearer, AuthBasic)
	}
	c, err := webhook.ParseSecret(tok, verifier.Kinds...)
	switch {
	case err != nil && strings.HasPrefix(strings.ToLower(tok), AuthBasic+":"):
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgBasicShape}
	case err != nil || (c.Kind == AuthBearer && len(c.Value) < minBearerLength):
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgBearerTooShort}
	}
	id := sdk.Identity{AccountSubdomain: "alertmanager", AccountLevel: true}
	if raw := strings.TrimSpace(creds.Fields["external_url"]); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return nil, sdk.Errorf(sdk.CodeInvalid, "external_url %q is not an absolute URL", raw)
		}
		id.AccountSubdomain = u.Hostname()
	}
	if c.Kind == AuthBasic {
		id.UserName = &c.User
	}
	return &sdk.Validation{Identity: id, Capabilities: map[string]bool{"can_receive_alerts": true}}, nil
}

// ValidateWebhookSecret implements sdk.WebhookSecretValidator: a stored
// secret must parse as "bearer:<token>" or "basic:<user>:<password>".
func (*Provider) ValidateWebhookSecret(_ context.Context, secret string) error {
	return verifier.ValidateSecret(secret)
}
