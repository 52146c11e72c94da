package sdk

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestFromStatusWithoutDetails covers what reaches the hub when the plugin
// itself did not answer with an SDK error: transport failures, a missing
// service, a foreign error domain.
func TestFromStatusWithoutDetails(t *testing.T) {
	foreign, _ := status.New(codes.NotFound, "nope").WithDetails(&errdetails.ErrorInfo{Domain: "other.example", Reason: "not_found"})
	tests := []struct {
		name     string
		err      error
		wantCode Code
		wantMsg  string
	}{
		{"missing service", status.Error(codes.Unimplemented, "unknown service aurora.provider.v1.OAuth"), CodeUnimplemented, "unknown service aurora.provider.v1.OAuth"},
		{"plugin gone", status.Error(codes.Unavailable, "connection refused"), CodeUnavailable, "connection refused"},
		{"transport internal", status.Error(codes.Internal, "grpc: error while marshaling"), CodeUnavailable, "grpc: error while marshaling"},
		{"foreign domain ignored", foreign.Err(), CodeUnavailable, "nope"},
		{"not a status", errors.New("broken pipe"), CodeUnavailable, "plugin call failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromStatus(tt.err)
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.wantCode || e.Message != tt.wantMsg {
				t.Fatalf("fromStatus = %#v, want %s %q", err, tt.wantCode, tt.wantMsg)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the gRPC error is not kept as the cause")
			}
		})
	}
	if fromStatus(nil) != nil {
		t.Error("fromStatus(nil) != nil")
	}
	for _, c := range []struct {
		in   codes.Code
		want error
	}{{codes.Canceled, context.Canceled}, {codes.DeadlineExceeded, context.DeadlineExceeded}} {
		if got := fromStatus(status.Error(c.in, "x")); !errors.Is(got, c.want) {
			t.Errorf("fromStatus(%s) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestEveryCodeHasAGRPCCode keeps codeToGRPC in step with the code list.
func TestEveryCodeHasAGRPCCode(t *testing.T) {
	for _, c := range []Code{CodeInvalid, CodeUnauthenticated, CodePermissionDenied, CodeNotFound, CodeRateLimited, CodeUpstream, CodeUnimplemented, CodeUnavailable, CodeInternal} {
		if _, ok := codeToGRPC[c]; !ok {
			t.Errorf("code %s has no gRPC code", c)
		}
		if got := ErrorCode(fromStatus(toStatus(&Error{Code: c, Message: "m"}))); got != c {
			t.Errorf("round trip of %s = %s", c, got)
		}
	}
}
