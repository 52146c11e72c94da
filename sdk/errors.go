package sdk

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error so the hub can answer it the same way for every
// provider. The hub maps codes to HTTP status codes in one table.
type Code string

// Error codes.
const (
	// CodeInvalid: the input (a token's format, a webhook body) is malformed.
	CodeInvalid Code = "invalid"
	// CodeUnauthenticated: the provider rejected the credentials or a signature did not match.
	CodeUnauthenticated Code = "unauthenticated"
	// CodePermissionDenied: the credentials lack a permission.
	CodePermissionDenied Code = "permission_denied"
	// CodeNotFound: the provider has no such object.
	CodeNotFound Code = "not_found"
	// CodeRateLimited: the provider asked us to slow down; see Error.RetryAfter.
	CodeRateLimited Code = "rate_limited"
	// CodeUpstream: the provider failed or could not be reached.
	CodeUpstream Code = "upstream"
	// CodeUnimplemented: the plugin does not offer this capability.
	CodeUnimplemented Code = "unimplemented"
	// CodeUnavailable: the plugin itself is not answering (crashed, restarting).
	CodeUnavailable Code = "unavailable"
	// CodeInternal: a bug; the message is not shown to users.
	CodeInternal Code = "internal"
)

// Error is the one error type that crosses the plugin boundary, and the
// hub's own (hub.Error is this type; the hub adds codes of its own, which a
// plugin does not send). Message is safe to show to a user; Err (not sent
// over the wire) keeps the cause.
type Error struct {
	Code       Code
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

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsUnimplemented reports whether err says the plugin lacks the capability.
func IsUnimplemented(err error) bool { return ErrorCode(err) == CodeUnimplemented }
