package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/uptrace/bun"
)

// OAuthState is a pending OAuth authorization: who started it and the
// sealed PKCE verifier. It is keyed by a hash of the state value, so the
// value itself is never stored.
type OAuthState struct {
	bun.BaseModel `bun:"table:oauth_states"`

	StateHash   string    `bun:"state_hash,pk"`
	Provider    string    `bun:"provider"`
	UserID      string    `bun:"user_id"`
	OrgID       string    `bun:"org_id"`
	Verifier    []byte    `bun:"verifier"`
	RedirectURI string    `bun:"redirect_uri"`
	CreatedAt   time.Time `bun:"created_at"`
	ExpiresAt   time.Time `bun:"expires_at"`
	// BrowserHash is the hash of the secret in the cookie of the browser
	// that started the authorization; empty until one did.
	BrowserHash string `bun:"browser_hash,nullzero"`
}

// CreateOAuthState stores a pending authorization.
func (s *Store) CreateOAuthState(ctx context.Context, st *OAuthState) error {
	st.CreatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.ExpiresAt.UTC()
	if _, err := s.db.NewInsert().Model(st).Exec(ctx); err != nil {
		return fmt.Errorf("storing oauth state: %w", err)
	}
	return nil
}

// BindOAuthState binds the pending authorization keyed by stateHash to the
// browser whose cookie secret hashes to browserHash, and returns it, in one
// statement (UPDATE ... RETURNING): an authorization is bound once, so of
// concurrent callers at most one succeeds. ErrNotFound when there is none,
// it is bound already, or it expired before now.
func (s *Store) BindOAuthState(ctx context.Context, stateHash, browserHash string, now time.Time) (*OAuthState, error) {
	if browserHash == "" {
		return nil, ErrNotFound
	}
	var st OAuthState
	err := s.db.NewUpdate().Model(&st).Set("browser_hash = ?", browserHash).
		Where("state_hash = ? AND browser_hash IS NULL AND expires_at > ?", stateHash, now.UTC()).
		Returning("*").Scan(ctx)
	return oauthStateResult(&st, err, "binding oauth state")
}

// ConsumeOAuthState deletes the pending authorization keyed by stateHash and
// bound to browserHash, and returns it, in one statement (DELETE ...
// RETURNING): of concurrent callers at most one gets it, and a caller
// without the browser's secret gets nothing and consumes nothing.
// ErrNotFound when there is no such authorization. The caller checks ExpiresAt.
func (s *Store) ConsumeOAuthState(ctx context.Context, stateHash, browserHash string) (*OAuthState, error) {
	if browserHash == "" {
		return nil, ErrNotFound
	}
	var st OAuthState
	err := s.db.NewDelete().Model(&st).Where("state_hash = ? AND browser_hash = ?", stateHash, browserHash).Returning("*").Scan(ctx)
	return oauthStateResult(&st, err, "consuming oauth state")
}

func oauthStateResult(st *OAuthState, err error, doing string) (*OAuthState, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	if st.StateHash == "" {
		return nil, ErrNotFound
	}
	st.CreatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.ExpiresAt.UTC()
	return st, nil
}

// PruneOAuthStates deletes the pending authorizations that expired before now.
func (s *Store) PruneOAuthStates(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.NewDelete().Model((*OAuthState)(nil)).Where("expires_at < ?", now.UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("pruning oauth states: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// LockedConnectionFunc gets the connection as it is once its row lock is
// held (nil when it no longer exists); save writes back its credential and
// status inside the same transaction.
type LockedConnectionFunc func(ctx context.Context, c *hub.Connection, save func(*hub.Connection) error) error

// WithLockedConnection runs fn in a transaction that holds the connection's
// row lock: SELECT ... FOR UPDATE on PostgreSQL (so hub replicas sharing the
// database serialise), and on SQLite the write lock that BEGIN IMMEDIATE
// takes (the DSN sets _txlock=immediate). The row is read after the lock is
// taken, so fn sees what a previous holder wrote. An error from fn rolls back.
func (s *Store) WithLockedConnection(ctx context.Context, id string, fn LockedConnectionFunc) error {
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var r connectionRow
		q := tx.NewSelect().Model(&r).Where("id = ?", id)
		if s.Driver == "postgres" {
			q = q.For("UPDATE")
		}
		var cur *hub.Connection
		switch err := q.Scan(ctx); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("locking connection: %w", err)
		default:
			c, err := r.toDomain()
			if err != nil {
				return err
			}
			cur = c
		}
		save := func(c *hub.Connection) error {
			_, err := tx.NewUpdate().Model((*connectionRow)(nil)).
				Set("secret = ?", c.Secret).
				Set("status = ?", c.Status).
				Set("status_error = ?", c.StatusError).
				Set("updated_at = ?", c.UpdatedAt.UTC()).
				Where("id = ?", c.ID).
				Exec(ctx)
			if err != nil {
				return fmt.Errorf("updating connection credential: %w", err)
			}
			return nil
		}
		return fn(ctx, cur, save)
	})
}
