// Package protocol holds what the plugin side (sdk) and the host side (sdk/host) of the provider protocol must agree on.
package protocol

import (
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Version is the major protocol version, negotiated at the handshake.
const Version = 1

// PluginName is the key of the provider in go-plugin's plugin set.
const PluginName = "provider"

// MaxMessageSize bounds every gRPC message between hub and plugin. gRPC's
// 4 MiB default is too small for enrichment answers with many alert bodies;
// 64 MiB leaves room while a clear "message too large" error still beats an
// out-of-memory kill of either process.
const MaxMessageSize = 64 << 20

// ErrorDomain tags the ErrorInfo detail that carries an SDK error code.
const ErrorDomain = "aurora.provider.v1"

// Handshake is shared by the hub and every plugin. go-plugin refuses to start
// a binary that does not carry the cookie (it is not a security measure, it
// stops someone running the plugin by hand) and negotiates the protocol
// version from VersionedPlugins. A fresh value each call: nobody can change
// what the other side expects.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{MagicCookieKey: "AURORA_HUB_PLUGIN", MagicCookieValue: "a1f0c3d2-provider"}
}

// Codes maps each SDK error code (sdk.Code) to its gRPC code.
var Codes = map[string]codes.Code{
	"invalid":           codes.InvalidArgument,
	"unauthenticated":   codes.Unauthenticated,
	"permission_denied": codes.PermissionDenied,
	"not_found":         codes.NotFound,
	"rate_limited":      codes.ResourceExhausted,
	"upstream":          codes.Unavailable,
	"unimplemented":     codes.Unimplemented,
	"unavailable":       codes.Unavailable,
	"internal":          codes.Internal,
}

// ServeTest serves provider p (an sdk.Provider) in go-plugin's test mode;
// package sdk sets it, sdk/sdktest calls it. It returns when the test
// config's context ends.
var ServeTest func(p any, logger hclog.Logger, cfg *plugin.ServeTestConfig)

// TimeToProto encodes t for the wire: the zero time is no timestamp.
func TimeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimeFromProto decodes a timestamp: none is the zero time.
func TimeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
