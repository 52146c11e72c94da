package pagerduty

import (
	"context"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// OAuthConfig implements sdk.OAuthProvider: PagerDuty's identity endpoints
// under the configured base URL, the configured default scopes, and PKCE
// (S256), which scoped apps require and classic apps accept.
func (p *Provider) OAuthConfig(context.Context) (*sdk.OAuthConfig, error) {
	base := p.cfg.OAuthURL
	return &sdk.OAuthConfig{
		AuthURL:       base + "/oauth/authorize",
		TokenURL:      base + "/oauth/token",
		RevokeURL:     base + "/oauth/revoke",
		DefaultScopes: append([]string(nil), p.cfg.OAuthScopes...),
		RequirePKCE:   true,
	}, nil
}
