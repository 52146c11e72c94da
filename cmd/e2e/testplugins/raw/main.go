// Command raw is a test plugin built on go-plugin directly, without the
// SDK's Serve, to misbehave at the protocol level. Its behaviour follows its
// provider name (its binary's name without aurora-plugin-):
//
//	proto2      describes protocol 2 and speaks it at the handshake
//	handshake2  describes protocol 1 but speaks 2 at the handshake
//	handshake0  describes protocol 1 but sets no protocol version at all
//	legacy      a plugin that predates provisioning: its manifest lists the
//	            capability, its gRPC server lacks the service (Unimplemented)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	m *pb.Manifest
}

func (r *rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterProviderServer(s, &providerServer{m: r.m})
	pb.RegisterAuthServer(s, &authServer{})
	return nil
}

func (r *rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("plugin side only")
}

type providerServer struct {
	pb.UnimplementedProviderServer
	m *pb.Manifest
}

func (p *providerServer) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Manifest: p.m}, nil
}

type authServer struct{ pb.UnimplementedAuthServer }

func (authServer) ValidateCredentials(context.Context, *pb.ValidateCredentialsRequest) (*pb.ValidateCredentialsResponse, error) {
	return &pb.ValidateCredentialsResponse{Identity: &pb.Identity{AccountId: "acct-legacy", AccountSubdomain: "legacy"}}, nil
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "aurora-plugin-")
	described, spoken := 1, 1
	switch name {
	case "proto2":
		described, spoken = 2, 2
	case "handshake2":
		spoken = 2
	case "handshake0":
		spoken = 0
	}
	caps := []string{sdk.CapabilityAuth, sdk.CapabilityProvisioning}
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		json.NewEncoder(os.Stdout).Encode(sdk.Manifest{Name: name, Version: "0.9.0", ProtocolVersion: described,
			Capabilities: caps, AuthKinds: []string{sdk.AuthAPIToken}})
		return
	}
	m := &pb.Manifest{Name: name, Version: "0.9.0", ProtocolVersion: int32(described), Capabilities: caps, AuthKinds: []string{sdk.AuthAPIToken}}
	set := plugin.PluginSet{host.PluginName: &rawPlugin{m: m}}
	cfg := &plugin.ServeConfig{
		HandshakeConfig: host.Handshake(),
		GRPCServer:      plugin.DefaultGRPCServer,
	}
	if spoken == 0 {
		cfg.Plugins = set // the legacy field: no version but the handshake's (unset)
	} else {
		cfg.VersionedPlugins = map[int]plugin.PluginSet{spoken: set}
	}
	plugin.Serve(cfg)
}
