// Package hub holds Aurora Hub's provider-neutral domain types and its one
// error type (the SDK's); the subpackages implement them (store, httpapi, pluginhost).
package hub

import (
	"errors"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
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

// Error is the one error type of the hub and its plugins (the SDK's): a
// plugin's error reaches the HTTP response unchanged, and the hub's own
// errors are made the same way. Message is safe to show to a user; Err,
// the cause, is only logged.
type Error = sdk.Error

// Code classifies an Error; httpapi maps every code to an HTTP status code
// in one table, and a code it does not know is internal.
type Code = sdk.Code

// Error codes: the SDK's, which plugins answer with, and two of the hub's own.
const (
	EInvalid      = sdk.CodeInvalid
	EUnauthorized = sdk.CodeUnauthenticated
	EForbidden    = sdk.CodePermissionDenied
	ENotFound     = sdk.CodeNotFound
	ERateLimited  = sdk.CodeRateLimited
	EUpstream     = sdk.CodeUpstream
	// EUnimplemented: the provider's plugin lacks the capability (404).
	EUnimplemented = sdk.CodeUnimplemented
	EUnavailable   = sdk.CodeUnavailable
	EInternal      = sdk.CodeInternal
	// EConflict: the request contradicts what is stored.
	EConflict Code = "conflict"
	// ETooLarge: a request body over its limit.
	ETooLarge Code = "too_large"
)

// MsgInternal is the message of every internal error a user sees.
const MsgInternal = "Internal server error"

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error { return sdk.Errorf(code, format, args...) }

// ErrorCode returns the code of err's *Error, or EInternal.
func ErrorCode(err error) Code { return sdk.ErrorCode(err) }

// AsError returns the *Error of err's chain, or an EInternal one wrapping
// err; an internal error's message is MsgInternal, whatever it said.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e
	}
	return &Error{Code: EInternal, Message: MsgInternal, Err: err}
}
