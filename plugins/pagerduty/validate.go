package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// Capability keys of sdk.Validation.Capabilities.
const (
	CapReadIncidents  = "can_read_incidents"
	CapWriteIncidents = "can_write_incidents"
)

// readOnlyRoles are the user roles that cannot change incidents.
var readOnlyRoles = map[string]bool{
	"read_only_user": true, "read_only_limited_user": true, "observer": true, "restricted_access": true,
}

type pdUser struct {
	ID      webhook.String `json:"id"`
	Name    webhook.String `json:"name"`
	Email   webhook.String `json:"email"`
	Role    webhook.String `json:"role"`
	HTMLURL webhook.String `json:"html_url"`
}

// ValidateCredentials implements sdk.CredentialValidator: it finds who the
// credentials act as (GET /users/me, or the account for an account-level
// key) and what they may do with incidents.
func (p *Provider) ValidateCredentials(ctx context.Context, creds sdk.Credentials) (*sdk.Validation, error) {
	creds.Token = strings.TrimSpace(creds.Token)
	if creds.Token == "" {
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgTokenRequired}
	}
	switch creds.Kind {
	case "":
		creds.Kind = sdk.AuthAPIToken
	case sdk.AuthAPIToken, sdk.AuthOAuth:
	default:
		return nil, sdk.Errorf(sdk.CodeInvalid, "Unsupported credential kind %q", creds.Kind)
	}
	c := p.client(creds)

	id, err := c.identity(ctx)
	if err != nil {
		return nil, toSDKError(ctx, err, credentialMapping)
	}
	caps, err := c.capabilities(ctx, id)
	if err != nil {
		return nil, toSDKError(ctx, err, credentialMapping)
	}
	p.log.Info("credentials validated", "kind", creds.Kind, "account_level", id.AccountLevel,
		"subdomain", id.AccountSubdomain, "role", deref(id.UserRole),
		CapReadIncidents, caps[CapReadIncidents], CapWriteIncidents, caps[CapWriteIncidents])
	return &sdk.Validation{Identity: id, Capabilities: caps}, nil
}

// identity reads GET /users/me; an account-level key (400 naming it) is
// identified by its account's subdomain instead.
func (c *client) identity(ctx context.Context) (sdk.Identity, error) {
	var me struct {
		User webhook.Object `json:"user"`
	}
	err := c.get(ctx, "/users/me", nil, &me)
	if err != nil {
		if isAccountLevel(err) {
			sub, serr := c.accountSubdomain(ctx)
			if serr != nil {
				return sdk.Identity{}, serr
			}
			return sdk.Identity{AccountLevel: true, AccountSubdomain: sub}, nil
		}
		return sdk.Identity{}, err
	}
	var u pdUser
	_ = json.Unmarshal(me.User, &u)
	if u.ID == "" {
		return sdk.Identity{}, &transportError{Method: http.MethodGet, Path: "/users/me", Err: errNoUser}
	}
	id := sdk.Identity{
		UserID: strPtr(string(u.ID)), UserEmail: optStr(string(u.Email)),
		UserName: optStr(string(u.Name)), UserRole: optStr(string(u.Role)),
		AccountSubdomain: subdomainOf(string(u.HTMLURL)),
	}
	if id.AccountSubdomain == "" {
		// Best effort: a user without html_url still belongs to an account.
		if sub, err := c.accountSubdomain(ctx); err == nil {
			id.AccountSubdomain = sub
		}
	}
	return id, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoUser = constError("answer has no user object")

// isAccountLevel reports whether err is /users/me's answer to an
// account-level token: a 400 whose (usually plain string) error says so.
func isAccountLevel(err error) bool {
	ae, ok := asAPIError(err)
	if !ok || ae.Status != http.StatusBadRequest {
		return false
	}
	t := ae.text()
	return strings.Contains(t, "account-level") || strings.Contains(t, "account level")
}

// accountSubdomain finds the account's subdomain from the html_url of any
// user, or else of any service. A 403/404 on both (a key or scope that may
// read neither) leaves it empty rather than failing the validation.
func (c *client) accountSubdomain(ctx context.Context) (string, error) {
	if sub := subdomainFromScope(c.creds.Scope); sub != "" {
		return sub, nil
	}
	var firstErr error
	for _, src := range []struct{ path, key string }{{"/users", "users"}, {"/services", "services"}} {
		var page map[string]json.RawMessage
		err := c.get(ctx, src.path, url.Values{"limit": {"1"}}, &page)
		if err != nil {
			if st := statusOf(err); st == http.StatusForbidden || st == http.StatusNotFound || st == http.StatusPaymentRequired {
				continue
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		var items webhook.Array
		_ = items.UnmarshalJSON(page[src.key])
		for _, it := range items {
			var obj struct {
				HTMLURL webhook.String `json:"html_url"`
			}
			_ = json.Unmarshal(it, &obj)
			if sub := subdomainOf(string(obj.HTMLURL)); sub != "" {
				return sub, nil
			}
		}
	}
	return "", firstErr
}

// subdomainFromScope reads the as_account-<region>.<subdomain> scope that
// PagerDuty grants to client-credentials (account) OAuth tokens.
func subdomainFromScope(scope string) string {
	for _, s := range strings.Fields(scope) {
		if rest, ok := strings.CutPrefix(s, "as_account-"); ok {
			if i := strings.IndexByte(rest, '.'); i >= 0 && i+1 < len(rest) {
				return rest[i+1:]
			}
		}
	}
	return ""
}

// capabilities decides can_read_incidents and can_write_incidents.
func (c *client) capabilities(ctx context.Context, id sdk.Identity) (map[string]bool, error) {
	caps := map[string]bool{}
	role := deref(id.UserRole)
	roleWrites := !readOnlyRoles[role]

	if c.creds.Kind == sdk.AuthOAuth && strings.TrimSpace(c.creds.Scope) != "" {
		scopes := map[string]bool{}
		for _, s := range strings.Fields(c.creds.Scope) {
			scopes[s] = true
		}
		caps[CapReadIncidents] = scopes["read"] || scopes["incidents.read"] || scopes["write"]
		caps[CapWriteIncidents] = (scopes["write"] || scopes["incidents.write"]) && (id.AccountLevel || roleWrites)
		return caps, nil
	}

	canRead, err := c.canReadIncidents(ctx)
	if err != nil {
		return nil, err
	}
	caps[CapReadIncidents] = canRead
	if id.AccountLevel {
		w, err := c.probeWrite(ctx)
		if err != nil {
			return nil, err
		}
		caps[CapWriteIncidents] = w
	} else {
		caps[CapWriteIncidents] = roleWrites
	}
	return caps, nil
}

// canReadIncidents is GET /incidents?limit=1: success means yes, a refusal
// (402/403/404) means no; 401, 429 and failures are errors.
func (c *client) canReadIncidents(ctx context.Context) (bool, error) {
	err := c.get(ctx, "/incidents", url.Values{"limit": {"1"}}, nil)
	if err == nil {
		return true, nil
	}
	switch statusOf(err) {
	case http.StatusForbidden, http.StatusPaymentRequired, http.StatusNotFound, http.StatusBadRequest:
		return false, nil
	}
	return false, err
}

// probeBody is a deliberately invalid incident (no title, no service):
// PagerDuty rejects it after checking write permission and before creating
// anything, so it tells a read-only key (403) from a writable one (400).
var probeBody = map[string]any{"incident": map[string]any{"type": "incident"}}

// probeWrite finds whether an account-level key may write, without side effects.
func (c *client) probeWrite(ctx context.Context) (bool, error) {
	err := c.do(ctx, http.MethodPost, "/incidents", nil, probeBody, nil)
	switch st := statusOf(err); {
	case st == http.StatusBadRequest:
		return true, nil
	case st == http.StatusForbidden:
		return false, nil
	case st == http.StatusUnauthorized, st == http.StatusTooManyRequests:
		return false, err
	case err == nil:
		c.log.Warn("write probe was accepted: PagerDuty may have created an incident; reporting no write capability", "status", "2xx")
		return false, nil
	default:
		c.log.Warn("write probe answered unexpectedly; reporting no write capability", "status", st, "error", err)
		return false, nil
	}
}

func strPtr(s string) *string { return &s }

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
