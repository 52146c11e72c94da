// Package connections links provider accounts to users and organisations:
// it validates credentials through the provider's plugin and keeps them
// sealed in the store.
package connections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/rekey"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

// Validator is the plugin capability this service needs.
type Validator interface {
	ValidateCredentials(ctx context.Context, creds sdk.Credentials) (*sdk.Validation, error)
}

// OAuthApps is what the connections service needs of the providers' OAuth
// apps (hub/oauth implements it).
type OAuthApps interface {
	// RefreshToken redeems refreshToken at provider's token endpoint. The
	// provider refusing it for good is an *oauth2.RetrieveError with
	// ErrorCode invalid_grant; any other error is transient.
	RefreshToken(ctx context.Context, provider, refreshToken string) (*oauth2.Token, error)
	// Revoke asks the provider to revoke token (best effort; a provider
	// without a revocation endpoint is not an error).
	Revoke(ctx context.Context, provider, token, tokenTypeHint string) error
}

// Service manages provider connections.
type Service struct {
	Store  *store.Store
	Sealer *secrets.Sealer
	Logger hclog.Logger
	Now    func() time.Time
	// OAuth refreshes and revokes OAuth tokens; nil disables refresh (an
	// OAuth connection then fails once its access token expires).
	OAuth OAuthApps
	// RefreshMargin is how long before its expiry an access token is
	// refreshed (default DefaultRefreshMargin).
	RefreshMargin time.Duration
}

// DefaultRefreshMargin is Service.RefreshMargin's default.
const DefaultRefreshMargin = 2 * time.Minute

// MsgOAuthExpired is the status error of a connection whose refresh the
// provider refused.
const MsgOAuthExpired = "OAuth token expired, please reconnect"

// refreshTimeout bounds one refresh at the provider. It stays below SQLite's
// busy_timeout (10 s), which concurrent users of the connection wait on.
const refreshTimeout = 8 * time.Second

// credential is the sealed JSON of a connection's secret material.
type credential struct {
	Token        string    `json:"token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
}

func binding(connID string) string { return secrets.ConnectionBinding(connID) }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Get returns the owner's connection to provider, or nil when there is none.
// An OAuth connection goes through the token source first (see
// Credentials): a token near its expiry is refreshed, and one the provider
// refuses to refresh leaves the connection expired (Status StatusExpired).
// A transient refresh failure is logged and the connection returned as
// stored; the next use retries.
func (s *Service) Get(ctx context.Context, provider string, owner hub.Owner) (*hub.Connection, error) {
	c, err := s.load(ctx, provider, owner)
	if err != nil || c == nil || c.AuthType != sdk.AuthOAuth || c.Status == hub.StatusExpired {
		return c, err
	}
	if _, err := s.Credentials(ctx, c); err != nil && c.Status != hub.StatusExpired {
		s.Logger.Warn("OAuth token source failed; the next use retries", "provider", provider, "connection", c.ID, "error", err)
	}
	return c, nil
}

// load returns the owner's connection as stored, or nil.
func (s *Service) load(ctx context.Context, provider string, owner hub.Owner) (*hub.Connection, error) {
	c, err := s.Store.Connection(ctx, provider, owner.Kind(), owner.ID())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// ConnectToken validates an API token through the plugin and stores the
// connection, replacing any previous one of the owner. A failed validation
// leaves the stored connection untouched.
func (s *Service) ConnectToken(ctx context.Context, v Validator, provider string, owner hub.Owner, token, displayName string) (*hub.Connection, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, hub.Errorf(hub.EInvalid, "Token required")
	}
	val, err := v.ValidateCredentials(ctx, sdk.Credentials{Kind: sdk.AuthAPIToken, Token: token})
	if err != nil {
		return nil, err // the plugin's *hub.Error answers as it is
	}
	now := s.now()
	c, existing, err := s.replacing(ctx, provider, owner, sdk.AuthAPIToken, now)
	if err != nil {
		return nil, err
	}
	c.DisplayName = displayName
	applyValidation(c, val, now)
	if err := s.seal(c, credential{Token: token}); err != nil {
		return nil, err
	}
	if err := s.Store.SaveConnection(ctx, c); err != nil {
		return nil, err
	}
	s.Logger.Info("connection saved", "provider", provider, "connection", c.ID, "owner_kind", c.OwnerKind, "account", c.AccountSubdomain)
	s.revokeReplaced(existing, "")
	return c, nil
}

// OAuthToken is what an OAuth authorization yielded.
type OAuthToken struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
	Scope        string
}

// ConnectOAuth stores an OAuth connection whose access token the plugin
// has validated (val), replacing any previous connection of the owner. The
// display name of a replaced connection is kept.
func (s *Service) ConnectOAuth(ctx context.Context, provider string, owner hub.Owner, displayName string, val *sdk.Validation, tok OAuthToken) (*hub.Connection, error) {
	if tok.AccessToken == "" {
		return nil, hub.Errorf(hub.EInvalid, "Token required")
	}
	now := s.now()
	c, existing, err := s.replacing(ctx, provider, owner, sdk.AuthOAuth, now)
	if err != nil {
		return nil, err
	}
	c.DisplayName = displayName
	if existing != nil && existing.DisplayName != "" {
		c.DisplayName = existing.DisplayName
	}
	applyValidation(c, val, now)
	cred := credential{Token: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry.UTC(), Scope: tok.Scope}
	if err := s.seal(c, cred); err != nil {
		return nil, err
	}
	if err := s.Store.SaveConnection(ctx, c); err != nil {
		return nil, err
	}
	s.Logger.Info("OAuth connection saved", "provider", provider, "connection", c.ID, "owner_kind", c.OwnerKind, "account", c.AccountSubdomain)
	s.revokeReplaced(existing, tok.RefreshToken)
	return c, nil
}

// revokeReplaced revokes the OAuth tokens of a connection that was just
// replaced (unless keep is its refresh token), in the background.
func (s *Service) revokeReplaced(old *hub.Connection, keep string) {
	if old == nil || old.AuthType != sdk.AuthOAuth {
		return
	}
	cred, err := s.open(old)
	if err != nil || cred.RefreshToken == keep {
		return
	}
	s.revoke(old, cred)
}

// revoke asks the provider to revoke cred's tokens, in the background and
// best effort: it never blocks or fails what the caller is doing.
func (s *Service) revoke(c *hub.Connection, cred credential) {
	if s.OAuth == nil {
		return
	}
	token, hint := cred.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = cred.Token, "access_token"
	}
	if token == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.OAuth.Revoke(ctx, c.Provider, token, hint); err != nil {
			s.Logger.Warn("revoking OAuth token failed (ignored)", "provider", c.Provider, "connection", c.ID, "error", err)
			return
		}
		s.Logger.Info("OAuth token revoked", "provider", c.Provider, "connection", c.ID)
	}()
}

// RotateToken replaces the API token of an existing connection, keeping its
// display name. Nothing changes unless the new token validates.
func (s *Service) RotateToken(ctx context.Context, v Validator, provider string, owner hub.Owner, token string) (*hub.Connection, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, hub.Errorf(hub.EInvalid, "Token required")
	}
	existing, err := s.load(ctx, provider, owner)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return nil, hub.Errorf(hub.ENotFound, "Not connected")
	}
	if existing.AuthType == sdk.AuthOAuth {
		return nil, hub.Errorf(hub.EInvalid, "Cannot rotate OAuth tokens")
	}
	return s.ConnectToken(ctx, v, provider, owner, token, existing.DisplayName)
}

// Disconnect removes the owner's connection; none is not an error. The
// tokens of an OAuth connection are then revoked at the provider, best
// effort and in the background.
func (s *Service) Disconnect(ctx context.Context, provider string, owner hub.Owner) error {
	existing, err := s.load(ctx, provider, owner)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteConnection(ctx, provider, owner.Kind(), owner.ID()); err != nil {
		return err
	}
	if existing != nil && existing.AuthType == sdk.AuthOAuth {
		if cred, err := s.open(existing); err == nil {
			s.revoke(existing, cred)
		}
	}
	return nil
}

// Credentials is the one token source of a connection: every plugin call
// made with a connection's credentials gets them here. For an OAuth
// connection whose access token expires within RefreshMargin it refreshes
// the token inside a transaction holding the connection's row lock, so
// concurrent callers, in this process or in other hubs on the same
// database, refresh once: each re-reads the row under the lock and uses
// what an earlier holder stored. The rotated refresh token is stored in the
// same transaction. A refresh the provider refuses (invalid_grant) marks the
// connection expired (MsgOAuthExpired); a transient failure changes nothing.
// c is updated to the row as last read.
func (s *Service) Credentials(ctx context.Context, c *hub.Connection) (sdk.Credentials, error) {
	cred, err := s.open(c)
	if err != nil {
		return sdk.Credentials{}, err
	}
	s.resealLazily(ctx, c)
	if c.AuthType != sdk.AuthOAuth {
		return toSDK(c, cred), nil
	}
	if c.Status == hub.StatusExpired {
		return sdk.Credentials{}, errExpired()
	}
	if s.fresh(cred) {
		return toSDK(c, cred), nil
	}
	return s.refresh(ctx, c)
}

func errExpired() error { return hub.Errorf(hub.EUnauthorized, MsgOAuthExpired) }

func toSDK(c *hub.Connection, cred credential) sdk.Credentials {
	return sdk.Credentials{Kind: c.AuthType, Token: cred.Token, Scope: cred.Scope}
}

// fresh reports whether cred's access token is good for RefreshMargin more.
// A token without an expiry never needs a refresh.
func (s *Service) fresh(cred credential) bool {
	margin := s.RefreshMargin
	if margin <= 0 {
		margin = DefaultRefreshMargin
	}
	return cred.Expiry.IsZero() || s.now().Add(margin).Before(cred.Expiry)
}

func (s *Service) refresh(ctx context.Context, c *hub.Connection) (sdk.Credentials, error) {
	if s.OAuth == nil {
		return sdk.Credentials{}, hub.Errorf(hub.EUnavailable, "OAuth is not configured for %s: the token cannot be refreshed", c.Provider)
	}
	// The provider rotates the refresh token as soon as it answers: once
	// asked, finish and store the answer even if the caller goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*refreshTimeout)
	defer cancel()
	var (
		out    sdk.Credentials
		outErr error
	)
	err := s.Store.WithLockedConnection(ctx, c.ID, func(ctx context.Context, cur *hub.Connection, save func(*hub.Connection) error) error {
		if cur == nil {
			outErr = hub.Errorf(hub.ENotFound, "Not connected")
			return nil
		}
		*c = *cur
		if cur.Status == hub.StatusExpired {
			outErr = errExpired()
			return nil
		}
		cred, err := s.open(cur)
		if err != nil {
			return err
		}
		if s.fresh(cred) {
			// Another caller refreshed while this one waited for the lock.
			out = toSDK(cur, cred)
			return nil
		}
		expire := func(reason string, cause error) error {
			cur.Status, cur.StatusError, cur.UpdatedAt = hub.StatusExpired, MsgOAuthExpired, s.now()
			if err := save(cur); err != nil {
				return err
			}
			*c = *cur
			s.Logger.Warn("OAuth connection expired: the user must reconnect", "provider", cur.Provider, "connection", cur.ID, "reason", reason, "error", cause)
			outErr = errExpired()
			return nil
		}
		if cred.RefreshToken == "" {
			return expire("no refresh token", nil)
		}
		rctx, rcancel := context.WithTimeout(ctx, refreshTimeout)
		tok, err := s.OAuth.RefreshToken(rctx, cur.Provider, cred.RefreshToken)
		rcancel()
		if err != nil {
			if isInvalidGrant(err) {
				return expire("refresh refused", err)
			}
			outErr = &hub.Error{Code: hub.EUpstream, Message: "Could not refresh the OAuth token, retry later", Err: err}
			return nil
		}
		next := credential{Token: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: s.expiry(tok), Scope: cred.Scope}
		if next.RefreshToken == "" {
			next.RefreshToken = cred.RefreshToken
		}
		if sc, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(sc) != "" {
			next.Scope = strings.Join(strings.Fields(sc), " ")
		}
		if next.Token == "" {
			outErr = &hub.Error{Code: hub.EUpstream, Message: "Could not refresh the OAuth token, retry later", Err: errors.New("token response has no access_token")}
			return nil
		}
		cur.UpdatedAt = s.now()
		if err := s.seal(cur, next); err != nil {
			return err
		}
		if err := save(cur); err != nil {
			s.Logger.Error("storing a refreshed OAuth token failed: the rotated refresh token is lost", "provider", cur.Provider, "connection", cur.ID, "error", err)
			return err
		}
		*c = *cur
		s.Logger.Info("OAuth token refreshed", "provider", cur.Provider, "connection", cur.ID, "expires", next.Expiry)
		out = toSDK(cur, next)
		return nil
	})
	if err != nil {
		return sdk.Credentials{}, fmt.Errorf("refreshing OAuth token of connection %s: %w", c.ID, err)
	}
	return out, outErr
}

// expiry is when tok expires by the service clock.
func (s *Service) expiry(tok *oauth2.Token) time.Time {
	if tok.ExpiresIn > 0 {
		return s.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return tok.Expiry.UTC()
}

// isInvalidGrant reports whether the token endpoint refused the grant for
// good (RFC 6749 section 5.2: invalid_grant).
func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// open unseals the connection's credential.
func (s *Service) open(c *hub.Connection) (credential, error) {
	var cred credential
	pt, err := s.Sealer.Open(c.Secret, binding(c.ID))
	if err != nil {
		return cred, fmt.Errorf("opening credentials of connection %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(pt, &cred); err != nil {
		return cred, fmt.Errorf("decoding credentials of connection %s: %w", c.ID, err)
	}
	return cred, nil
}

// resealLazily stores c's credential sealed with the current key when it
// was sealed with a previous one (after a key rotation); a row changed
// meanwhile is left to its writer. Failures only cost a later retry.
func (s *Service) resealLazily(ctx context.Context, c *hub.Connection) {
	if !s.Sealer.Stale(c.Secret) {
		return
	}
	sealed, err := rekey.Lazily(ctx, s.Store.Bun(), s.Sealer, rekey.Connections, c.Secret, c.ID)
	if err != nil {
		s.Logger.Warn("re-sealing a credential with the current key failed; the next use retries", "connection", c.ID, "error", err)
		return
	}
	c.Secret = sealed
}

func (s *Service) seal(c *hub.Connection, cred credential) error {
	pt, err := json.Marshal(cred)
	if err != nil {
		return fmt.Errorf("encoding credential: %w", err)
	}
	c.Secret, err = s.Sealer.Seal(pt, binding(c.ID))
	if err != nil {
		return fmt.Errorf("sealing credential: %w", err)
	}
	return nil
}

func applyValidation(c *hub.Connection, v *sdk.Validation, now time.Time) {
	id := v.Identity
	c.ExternalUserID, c.ExternalUserEmail, c.ExternalUserName, c.ExternalUserRole = id.UserID, id.UserEmail, id.UserName, id.UserRole
	c.AccountSubdomain, c.AccountLevel = id.AccountSubdomain, id.AccountLevel
	c.Capabilities = v.Capabilities
	c.Status, c.StatusError = hub.StatusConnected, ""
	c.ValidatedAt, c.UpdatedAt = now, now
}

// AuthNone is the AuthType of a connection made without credentials, for a
// provider that only receives webhooks (sdk.Manifest.ConnectWithoutCredentials):
// there is nothing to validate, refresh or revoke.
const AuthNone = "none"

// ConnectWithoutCredentials stores (or replaces) the owner's connection to
// a webhook-only provider. Its deliveries are authenticated by the webhook
// secrets stored for it, not by credentials.
func (s *Service) ConnectWithoutCredentials(ctx context.Context, provider string, owner hub.Owner, displayName string) (*hub.Connection, error) {
	now := s.now()
	c, existing, err := s.replacing(ctx, provider, owner, AuthNone, now)
	if err != nil {
		return nil, err
	}
	c.DisplayName = displayName
	applyValidation(c, &sdk.Validation{Identity: sdk.Identity{AccountSubdomain: provider, AccountLevel: true}}, now)
	if err := s.seal(c, credential{}); err != nil {
		return nil, err
	}
	if err := s.Store.SaveConnection(ctx, c); err != nil {
		return nil, err
	}
	s.Logger.Info("connection saved", "provider", provider, "connection", c.ID, "owner_kind", c.OwnerKind, "auth", AuthNone)
	s.revokeReplaced(existing, "")
	return c, nil
}

// replacing returns the owner's new connection to provider, to be filled in
// and saved: it keeps the id and creation time of the connection it
// replaces (existing, nil when there is none).
func (s *Service) replacing(ctx context.Context, provider string, owner hub.Owner, authType string, now time.Time) (c, existing *hub.Connection, err error) {
	existing, err = s.load(ctx, provider, owner)
	if err != nil {
		return nil, nil, err
	}
	c = &hub.Connection{ID: uuid.NewString(), CreatedAt: now}
	if existing != nil {
		c.ID, c.CreatedAt = existing.ID, existing.CreatedAt
	}
	c.Provider, c.OwnerKind, c.OwnerID, c.CreatedBy = provider, owner.Kind(), owner.ID(), owner.UserID
	c.AuthType = authType
	return c, existing, nil
}
