package host

import (
	"context"
	"errors"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"

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
		wantCode sdk.Code
		wantMsg  string
	}{
		{"missing service", status.Error(codes.Unimplemented, "unknown service aurora.provider.v1.OAuth"), sdk.CodeUnimplemented, "unknown service aurora.provider.v1.OAuth"},
		{"plugin gone", status.Error(codes.Unavailable, "connection refused"), sdk.CodeUnavailable, "connection refused"},
		{"transport internal", status.Error(codes.Internal, "grpc: error while marshaling"), sdk.CodeUnavailable, "grpc: error while marshaling"},
		{"foreign domain ignored", foreign.Err(), sdk.CodeUnavailable, "nope"},
		{"not a status", errors.New("broken pipe"), sdk.CodeUnavailable, "plugin call failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromStatus(tt.err)
			var e *sdk.Error
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

// TestEveryCodeHasAGRPCCode keeps protocol.Codes in step with the code list.
func TestEveryCodeHasAGRPCCode(t *testing.T) {
	for _, c := range []sdk.Code{sdk.CodeInvalid, sdk.CodeUnauthenticated, sdk.CodePermissionDenied, sdk.CodeNotFound, sdk.CodeRateLimited, sdk.CodeUpstream, sdk.CodeUnimplemented, sdk.CodeUnavailable, sdk.CodeInternal} {
		if _, ok := protocol.Codes[string(c)]; !ok {
			t.Errorf("code %s has no gRPC code", c)
		}
		st, _ := status.New(protocol.Codes[string(c)], "m").WithDetails(&errdetails.ErrorInfo{Domain: protocol.ErrorDomain, Reason: string(c)})
		if got := sdk.ErrorCode(fromStatus(st.Err())); got != c {
			t.Errorf("round trip of %s = %s", c, got)
		}
	}
}

// TestUnknownCodesAreInternal: the host answers every code it receives,
// so a code the protocol does not define enters the hub as internal, over
// gRPC (the ErrorInfo reason, a batch's PluginError) or in-process.
func TestUnknownCodesAreInternal(t *testing.T) {
	for _, code := range []string{"teapot", "", "INVALID"} {
		if got := knownCode(code); got != sdk.CodeInternal {
			t.Errorf("knownCode(%q) = %q, want internal", code, got)
		}
		if got := sdk.ErrorCode(localErr(&sdk.Error{Code: sdk.Code(code), Message: "m"})); got != sdk.CodeInternal {
			t.Errorf("localErr with code %q = %q, want internal", code, got)
		}
	}
	for c := range protocol.Codes {
		if got := knownCode(c); got != sdk.Code(c) {
			t.Errorf("knownCode(%q) = %q", c, got)
		}
	}
}
