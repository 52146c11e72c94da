package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

type connectionRow struct {
	bun.BaseModel `bun:"table:connections"`

	ID                string    `bun:"id,pk"`
	Provider          string    `bun:"provider"`
	OwnerKind         string    `bun:"owner_kind"`
	OwnerID           string    `bun:"owner_id"`
	CreatedBy         string    `bun:"created_by"`
	DisplayName       string    `bun:"display_name"`
	AuthType          string    `bun:"auth_type"`
	Secret            []byte    `bun:"secret"`
	ExternalUserID    *string   `bun:"external_user_id"`
	ExternalUserEmail *string   `bun:"external_user_email"`
	ExternalUserName  *string   `bun:"external_user_name"`
	ExternalUserRole  *string   `bun:"external_user_role"`
	AccountSubdomain  string    `bun:"account_subdomain"`
	AccountLevel      bool      `bun:"account_level"`
	Capabilities      string    `bun:"capabilities"`
	Status            string    `bun:"status"`
	StatusError       string    `bun:"status_error"`
	ValidatedAt       time.Time `bun:"validated_at"`
	CreatedAt         time.Time `bun:"created_at"`
	UpdatedAt         time.Time `bun:"updated_at"`
}

func (r *connectionRow) toDomain() (*hub.Connection, error) {
	c := &hub.Connection{
		ID: r.ID, Provider: r.Provider, OwnerKind: r.OwnerKind, OwnerID: r.OwnerID, CreatedBy: r.CreatedBy,
		DisplayName: r.DisplayName, AuthType: r.AuthType, Secret: r.Secret,
		ExternalUserID: r.ExternalUserID, ExternalUserEmail: r.ExternalUserEmail,
		ExternalUserName: r.ExternalUserName, ExternalUserRole: r.ExternalUserRole,
		AccountSubdomain: r.AccountSubdomain, AccountLevel: r.AccountLevel,
		Status: r.Status, StatusError: r.StatusError,
		ValidatedAt: r.ValidatedAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(r.Capabilities), &c.Capabilities); err != nil {
		return nil, fmt.Errorf("connection %s: decoding capabilities: %w", r.ID, err)
	}
	return c, nil
}

func rowFromDomain(c *hub.Connection) (*connectionRow, error) {
	caps, err := json.Marshal(c.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("encoding capabilities: %w", err)
	}
	if c.Capabilities == nil {
		caps = []byte("{}")
	}
	return &connectionRow{
		ID: c.ID, Provider: c.Provider, OwnerKind: c.OwnerKind, OwnerID: c.OwnerID, CreatedBy: c.CreatedBy,
		DisplayName: c.DisplayName, AuthType: c.AuthType, Secret: c.Secret,
		ExternalUserID: c.ExternalUserID, ExternalUserEmail: c.ExternalUserEmail,
		ExternalUserName: c.ExternalUserName, ExternalUserRole: c.ExternalUserRole,
		AccountSubdomain: c.AccountSubdomain, AccountLevel: c.AccountLevel, Capabilities: string(caps),
		Status: c.Status, StatusError: c.StatusError,
		ValidatedAt: c.ValidatedAt.UTC(), CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	}, nil
}

// ErrNotFound is returned when no row matches.
var ErrNotFound = errors.New("store: not found")

// found turns a scan's outcome into the connection read, or ErrNotFound.
func (r *connectionRow) found(ok bool, err error) (*hub.Connection, error) {
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return r.toDomain()
}

// Connection returns the owner's connection to provider, or ErrNotFound.
func (s *Store) Connection(ctx context.Context, provider, ownerKind, ownerID string) (*hub.Connection, error) {
	var r connectionRow
	q := s.db.NewSelect().Model(&r).Where("provider = ? AND owner_kind = ? AND owner_id = ?", provider, ownerKind, ownerID)
	return r.found(scanOne(ctx, q, "loading "+provider+" connection"))
}

// ConnectionByID returns a connection by its id, or ErrNotFound.
func (s *Store) ConnectionByID(ctx context.Context, id string) (*hub.Connection, error) {
	var r connectionRow
	return r.found(scanOne(ctx, s.db.NewSelect().Model(&r).Where("id = ?", id), "loading connection"))
}

// MaxReachable bounds how many connections one webhook URL may reach; a
// user id reaching more is refused (each candidate costs a verification).
const MaxReachable = 32

// ConnectionsReachableBy returns the provider connections that webhooks
// addressed to userID (the documented URL /<provider>/webhook/{user_id})
// may belong to, ordered by id: the user's own connection, and the
// connection of every organisation the user has been seen acting in
// (org_memberships). Memberships are append-only, so no later request, by
// this user or another tenant, can take a connection out of this set: a
// request can only add the organisation it acts in, and which candidate a
// delivery belongs to is decided by its signature, not by this set's order.
// A connection leaves the set only when it is disconnected.
func (s *Store) ConnectionsReachableBy(ctx context.Context, provider, userID string) ([]*hub.Connection, error) {
	var rows []connectionRow
	orgs := s.db.NewSelect().Table("org_memberships").Column("org_id").Where("user_id = ?", userID)
	err := s.db.NewSelect().Model(&rows).
		Where("provider = ?", provider).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("owner_kind = 'user' AND owner_id = ?", userID).
				WhereOr("owner_kind = 'org' AND owner_id IN (?)", orgs)
		}).
		Order("id").
		Limit(MaxReachable + 1).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading %s connections reachable by user: %w", provider, err)
	}
	out := make([]*hub.Connection, 0, len(rows))
	for i := range rows {
		c, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// SaveConnection inserts c, or replaces the owner's existing connection to
// the same provider (keeping its id, so sealed values stay bound to it).
func (s *Store) SaveConnection(ctx context.Context, c *hub.Connection) error {
	r, err := rowFromDomain(c)
	if err != nil {
		return err
	}
	_, err = s.db.NewInsert().Model(r).
		On("CONFLICT (provider, owner_kind, owner_id) DO UPDATE").
		Set("created_by = EXCLUDED.created_by").
		Set("display_name = EXCLUDED.display_name").
		Set("auth_type = EXCLUDED.auth_type").
		Set("secret = EXCLUDED.secret").
		Set("external_user_id = EXCLUDED.external_user_id").
		Set("external_user_email = EXCLUDED.external_user_email").
		Set("external_user_name = EXCLUDED.external_user_name").
		Set("external_user_role = EXCLUDED.external_user_role").
		Set("account_subdomain = EXCLUDED.account_subdomain").
		Set("account_level = EXCLUDED.account_level").
		Set("capabilities = EXCLUDED.capabilities").
		Set("status = EXCLUDED.status").
		Set("status_error = EXCLUDED.status_error").
		Set("validated_at = EXCLUDED.validated_at").
		Set("updated_at = EXCLUDED.updated_at").
		Returning("id").
		Exec(ctx, &c.ID)
	if err != nil {
		return fmt.Errorf("saving %s connection: %w", c.Provider, err)
	}
	return nil
}

// DeleteConnection removes the owner's connection; absent is not an error.
func (s *Store) DeleteConnection(ctx context.Context, provider, ownerKind, ownerID string) error {
	_, err := s.db.NewDelete().Model((*connectionRow)(nil)).
		Where("provider = ? AND owner_kind = ? AND owner_id = ?", provider, ownerKind, ownerID).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("deleting %s connection: %w", provider, err)
	}
	return nil
}

// AddOrgMembership records that userID acts in orgID, so webhooks sent to
// the user's URL may reach the organisation's connection. The record is
// append-only (see ConnectionsReachableBy); added reports whether it is new.
func (s *Store) AddOrgMembership(ctx context.Context, userID, orgID string) (added bool, err error) {
	res, err := s.db.NewInsert().
		Model(&map[string]any{"user_id": userID, "org_id": orgID, "first_seen_at": time.Now().UTC()}).
		TableExpr("org_memberships").
		On("CONFLICT (user_id, org_id) DO NOTHING").
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("remembering user organisation: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remembering user organisation: %w", err)
	}
	return n > 0, nil
}
