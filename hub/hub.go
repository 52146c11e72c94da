// Package hub holds Aurora Hub's provider-neutral domain types and its one
// error type; the subpackages implement them (store, httpapi, pluginhost).
package hub

import (
	"errors"
	"fmt"
	"time"
)

// Owner is who a connection belongs to: the organisation when the caller
// named one (shared by its users), otherwise the user.
type Owner struct {
	UserID string
	OrgID  string
}

// Kind is "org" or "user".
func (o Owner) Kind() string {
	if o.OrgID != "" {
		return "org"
	}
	return "user"
}

// ID is the organisation id for org owners, else the user id.
func (o Owner) ID() string {
	if o.OrgID != "" {
		return o.OrgID
	}
	return o.UserID
}

// Connection statuses.
const (
	StatusConnected = "connected"
	// StatusExpired: the provider rejected a refresh; the user must reconnect.
	StatusExpired = "expired"
)

// Connection is one provider account linked by a user or organisation.
type Connection struct {
	ID          string
	Provider    string
	OwnerKind   string
	OwnerID     string
	CreatedBy   string
	DisplayName string
	AuthType    string
	// Secret is the sealed credential; only the connections service opens it.
	Secret []byte

	ExternalUserID    *string
	ExternalUserEmail *string
	ExternalUserName  *string
	ExternalUserRole  *string
	AccountSubdomain  string
	AccountLevel      bool
	Capabilities      map[string]bool

	Status      string
	StatusError string
	ValidatedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Error codes, mapped to HTTP status codes in one table by httpapi.
const (
	EInvalid      = "invalid"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	ENotFound     = "not_found"
	EConflict     = "conflict"
	ETooLarge     = "too_large"
	ERateLimited  = "rate_limited"
	EUpstream     = "upstream"
	EUnavailable  = "unavailable"
	EInternal     = "internal"
)

// Error is the hub's application error: a code, a message safe to show to a
// user, and an optional cause that is only logged.
type Error struct {
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
