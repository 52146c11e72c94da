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
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
)

// Validator is the plugin capability this service needs.
type Validator interface {
	ValidateCredentials(ctx context.Context, creds sdk.Credentials) (*sdk.Validation, error)
}

// Service manages provider connections.
type Service struct {
	Store  *store.Store
	Sealer *secrets.Sealer
	Logger hclog.Logger
	Now    func() time.Time
}

// credential is the sealed JSON of a connection's secret material.
type credential struct {
	Token        string    `json:"token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
}

func binding(connID string) string { return "connection:" + connID + ":credential" }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Get returns the owner's connection to provider, or nil when there is none.
func (s *Service) Get(ctx context.Context, provider string, owner hub.Owner) (*hub.Connection, error) {
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
		return nil, FromPluginError(err)
	}
	existing, err := s.Get(ctx, provider, owner)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c := &hub.Connection{ID: uuid.NewString(), CreatedAt: now}
	if existing != nil {
		c.ID, c.CreatedAt = existing.ID, existing.CreatedAt
	}
	c.Provider, c.OwnerKind, c.OwnerID, c.CreatedBy = provider, owner.Kind(), owner.ID(), owner.UserID
	c.DisplayName, c.AuthType = displayName, sdk.AuthAPIToken
	applyValidation(c, val, now)
	if err := s.seal(c, credential{Token: token}); err != nil {
		return nil, err
	}
	if err := s.Store.SaveConnection(ctx, c); err != nil {
		return nil, err
	}
	s.Logger.Info("connection saved", "provider", provider, "connection", c.ID, "owner_kind", c.OwnerKind, "account", c.AccountSubdomain)
	return c, nil
}

// RotateToken replaces the API token of an existing connection, keeping its
// display name. Nothing changes unless the new token validates.
func (s *Service) RotateToken(ctx context.Context, v Validator, provider string, owner hub.Owner, token string) (*hub.Connection, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, hub.Errorf(hub.EInvalid, "Token required")
	}
	existing, err := s.Get(ctx, provider, owner)
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

// Disconnect removes the owner's connection; none is not an error.
func (s *Service) Disconnect(ctx context.Context, provider string, owner hub.Owner) error {
	return s.Store.DeleteConnection(ctx, provider, owner.Kind(), owner.ID())
}

// Credentials opens the connection's sealed credentials for a plugin call.
func (s *Service) Credentials(c *hub.Connection) (sdk.Credentials, error) {
	pt, err := s.Sealer.Open(c.Secret, binding(c.ID))
	if err != nil {
		return sdk.Credentials{}, fmt.Errorf("opening credentials of connection %s: %w", c.ID, err)
	}
	var cred credential
	if err := json.Unmarshal(pt, &cred); err != nil {
		return sdk.Credentials{}, fmt.Errorf("decoding credentials of connection %s: %w", c.ID, err)
	}
	return sdk.Credentials{Kind: c.AuthType, Token: cred.Token, Scope: cred.Scope}, nil
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

var pluginCodes = map[sdk.Code]string{
	sdk.CodeInvalid:          hub.EInvalid,
	sdk.CodeUnauthenticated:  hub.EUnauthorized,
	sdk.CodePermissionDenied: hub.EForbidden,
	sdk.CodeNotFound:         hub.ENotFound,
	sdk.CodeRateLimited:      hub.ERateLimited,
	sdk.CodeUpstream:         hub.EUpstream,
	sdk.CodeUnimplemented:    hub.ENotFound,
	sdk.CodeUnavailable:      hub.EUnavailable,
}

// FromPluginError turns a plugin's error into a hub error, keeping the
// plugin's user-facing message. Unknown or internal errors stay internal.
func FromPluginError(err error) *hub.Error {
	var se *sdk.Error
	if errors.As(err, &se) {
		if code, ok := pluginCodes[se.Code]; ok {
			msg := se.Message
			if se.Code == sdk.CodeUnavailable {
				msg = "Provider plugin unavailable, retry later"
			}
			return &hub.Error{Code: code, Message: msg, RetryAfter: se.RetryAfter, Err: err}
		}
	}
	return &hub.Error{Code: hub.EInternal, Message: "Internal server error", Err: err}
}
