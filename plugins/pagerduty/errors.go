package pagerduty

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// User-facing messages. The credential ones are the hub contract's table
// (CONTRACT.md, POST /pagerduty) word for word.
const (
	msgTokenRequired    = "Token required"
	msgUnauthorized     = "Unauthorized: Invalid or expired API token"
	msgInvalidToken     = "Invalid token format"
	msgPermissionDenied = "Token lacks required permissions"
	msgRateLimited      = "Rate limited by PagerDuty"
	msgUpstream         = "PagerDuty API request failed"

	msgInvalidSignature = "Invalid webhook signature"
	msgNoSecret         = "No webhook signing secret is configured for this connection: set one with PUT /pagerduty/webhook-secret or create the subscription with POST /pagerduty/webhook-subscription"
	msgNotV3            = "PagerDuty V1 and V2 webhooks are not supported; configure a V3 webhook (Integrations > Generic Webhooks (v3))"
	msgInvalidJSON      = "Invalid JSON body"
)

// mapping says how one operation words the answers that depend on it.
type mapping struct {
	// badRequest is the message for a 400; empty means msgInvalidToken.
	badRequest string
	// withDetail appends PagerDuty's own message to badRequest.
	withDetail bool
	// notFound, when set, maps a 404 to CodeNotFound with this message
	// instead of an upstream failure.
	notFound string
}

var credentialMapping = mapping{}

// toSDKError maps a client error to the *sdk.Error the hub answers with:
//
//	401 -> unauthenticated, 400 -> invalid, 403 -> permission denied,
//	429 -> rate limited (RetryAfter from ratelimit-reset, default 60 s),
//	anything else or no answer -> upstream.
//
// The cause is kept in Err (never sent to the hub); no message carries the
// token. A cancelled or expired caller context is returned as is.
func toSDKError(ctx context.Context, err error, m mapping) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	ae, ok := asAPIError(err)
	if !ok {
		return &sdk.Error{Code: sdk.CodeUpstream, Message: msgUpstream, Err: err}
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		return &sdk.Error{Code: sdk.CodeUnauthenticated, Message: msgUnauthorized, Err: err}
	case http.StatusBadRequest:
		msg := m.badRequest
		if msg == "" {
			msg = msgInvalidToken
		} else if m.withDetail {
			if d := detailOf(ae); d != "" {
				msg += ": " + d
			}
		}
		return &sdk.Error{Code: sdk.CodeInvalid, Message: msg, Err: err}
	case http.StatusForbidden:
		return &sdk.Error{Code: sdk.CodePermissionDenied, Message: msgPermissionDenied, Err: err}
	case http.StatusTooManyRequests:
		ra := ae.RetryAfter
		if ra <= 0 {
			ra = defaultRetryAfter
		}
		return &sdk.Error{Code: sdk.CodeRateLimited, Message: msgRateLimited, RetryAfter: ra, Err: err}
	case http.StatusNotFound:
		if m.notFound != "" {
			return &sdk.Error{Code: sdk.CodeNotFound, Message: m.notFound, Err: err}
		}
	}
	return &sdk.Error{Code: sdk.CodeUpstream, Message: msgUpstream, Err: err}
}

// detailOf is PagerDuty's own wording of a 400, for operations where it helps
// the user (e.g. an invalid webhook URL). It never holds the token: the
// client redacts it.
func detailOf(ae *apiError) string {
	parts := make([]string, 0, 1+len(ae.Errors))
	if ae.Message != "" {
		parts = append(parts, ae.Message)
	}
	for _, e := range ae.Errors {
		if e != ae.Message {
			parts = append(parts, e)
		}
	}
	return snippet(strings.Join(parts, "; "))
}
