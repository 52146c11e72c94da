package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is shared by the hub and every plugin. go-plugin refuses to start
// a binary that does not carry the cookie (it is not a security measure, it
// stops someone running the plugin by hand) and negotiates the protocol
// version from VersionedPlugins.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "AURORA_HUB_PLUGIN",
	MagicCookieValue: "a1f0c3d2-provider",
}

// PluginName is the key of the provider in go-plugin's plugin set.
const PluginName = "provider"

// MaxMessageSize bounds every gRPC message between hub and plugin. gRPC's
// 4 MiB default is too small for enrichment answers with many alert bodies;
// 64 MiB leaves room while a clear "message too large" error still beats an
// out-of-memory kill of either process.
const MaxMessageSize = 64 << 20

// ServeOpt configures Serve.
type ServeOpt func(*serveConfig)

type serveConfig struct {
	logger hclog.Logger
	test   *plugin.ServeTestConfig
	stdout io.Writer
}

// WithLogger sets the logger the SDK logs through (default: JSON to stderr,
// which the hub collects and tags with the plugin's name).
func WithLogger(l hclog.Logger) ServeOpt { return func(c *serveConfig) { c.logger = l } }

// WithTestConfig serves in go-plugin's test mode (in-process, reattach);
// used by sdk/sdktest.
func WithTestConfig(t *plugin.ServeTestConfig) ServeOpt { return func(c *serveConfig) { c.test = t } }

// Serve is the whole main of a plugin: it serves p to the hub over gRPC and
// returns when the hub is done with it. Run as `<binary> describe`, it prints
// the manifest as JSON and returns without starting RPC.
func Serve(p Provider, opts ...ServeOpt) {
	cfg := serveConfig{stdout: os.Stdout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.test == nil && len(os.Args) > 1 && os.Args[1] == "describe" {
		enc := json.NewEncoder(cfg.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ManifestOf(p)); err != nil {
			fmt.Fprintln(os.Stderr, "describe:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name: ManifestOf(p).Name, Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
		})
	}
	if cfg.test == nil {
		go exitWithParent(cfg.logger)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &grpcPlugin{provider: p}},
		},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))...)
		},
		Logger: cfg.logger,
		Test:   cfg.test,
	})
}

// ManifestOf returns p's manifest with the protocol version and the
// capabilities that p implements filled in.
func ManifestOf(p Provider) Manifest {
	m := p.Manifest()
	m.ProtocolVersion = ProtocolVersion
	m.Capabilities = nil
	if _, ok := p.(CredentialValidator); ok {
		m.Capabilities = append(m.Capabilities, CapabilityAuth)
	}
	if _, ok := p.(WebhookHandler); ok {
		m.Capabilities = append(m.Capabilities, CapabilityWebhooks)
	}
	if _, ok := p.(OAuthProvider); ok {
		m.Capabilities = append(m.Capabilities, CapabilityOAuth)
	}
	if _, ok := p.(Provisioner); ok {
		m.Capabilities = append(m.Capabilities, CapabilityProvisioning)
	}
	if _, ok := p.(Enricher); ok {
		m.Capabilities = append(m.Capabilities, CapabilityEnrichment)
	}
	return m
}

// grpcPlugin is the go-plugin glue on both sides: GRPCServer registers the
// provider's services in the plugin, GRPCClient builds the hub's Client.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	provider Provider
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p := g.provider
	pb.RegisterProviderServer(s, &providerServer{p: p})
	if v, ok := p.(CredentialValidator); ok {
		pb.RegisterAuthServer(s, &authServer{v: v})
	}
	if w, ok := p.(WebhookHandler); ok {
		pb.RegisterWebhooksServer(s, &webhooksServer{w: w})
	}
	if o, ok := p.(OAuthProvider); ok {
		pb.RegisterOAuthServer(s, &oauthServer{o: o})
	}
	if pr, ok := p.(Provisioner); ok {
		pb.RegisterProvisioningServer(s, &provisioningServer{p: pr})
	}
	if e, ok := p.(Enricher); ok {
		pb.RegisterEnrichmentServer(s, &enrichmentServer{e: e})
	}
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return newClient(cc), nil
}

type providerServer struct {
	pb.UnimplementedProviderServer
	p Provider
}

func (s *providerServer) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Manifest: manifestToProto(ManifestOf(s.p))}, nil
}

type authServer struct {
	pb.UnimplementedAuthServer
	v CredentialValidator
}

func (s *authServer) ValidateCredentials(ctx context.Context, req *pb.ValidateCredentialsRequest) (*pb.ValidateCredentialsResponse, error) {
	res, err := s.v.ValidateCredentials(ctx, credsFromProto(req.GetCredentials()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ValidateCredentialsResponse{Identity: identityToProto(res.Identity), Capabilities: res.Capabilities}, nil
}

type webhooksServer struct {
	pb.UnimplementedWebhooksServer
	w WebhookHandler
}

func (s *webhooksServer) HandleWebhook(ctx context.Context, req *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, error) {
	res, err := s.w.HandleWebhook(ctx, webhookRequestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return webhookResultToProto(res), nil
}

func (s *webhooksServer) HandleWebhooks(ctx context.Context, req *pb.HandleWebhooksRequest) (*pb.HandleWebhooksResponse, error) {
	out := &pb.HandleWebhooksResponse{Results: make([]*pb.HandleWebhookResult, len(req.GetRequests()))}
	for i, r := range req.GetRequests() {
		if err := ctx.Err(); err != nil {
			return nil, toStatus(err)
		}
		res, err := s.w.HandleWebhook(ctx, webhookRequestFromProto(r))
		if err != nil {
			out.Results[i] = &pb.HandleWebhookResult{Error: pluginErrorToProto(err)}
			continue
		}
		out.Results[i] = &pb.HandleWebhookResult{Response: webhookResultToProto(res)}
	}
	return out, nil
}

type oauthServer struct {
	pb.UnimplementedOAuthServer
	o OAuthProvider
}

func (s *oauthServer) OAuthConfig(ctx context.Context, _ *pb.OAuthConfigRequest) (*pb.OAuthConfigResponse, error) {
	c, err := s.o.OAuthConfig(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.OAuthConfigResponse{
		AuthUrl: c.AuthURL, TokenUrl: c.TokenURL, RevokeUrl: c.RevokeURL,
		DefaultScopes: c.DefaultScopes, RequirePkce: c.RequirePKCE,
	}, nil
}

type provisioningServer struct {
	pb.UnimplementedProvisioningServer
	p Provisioner
}

func (s *provisioningServer) CreateWebhookSubscription(ctx context.Context, req *pb.CreateWebhookSubscriptionRequest) (*pb.CreateWebhookSubscriptionResponse, error) {
	sub, err := s.p.CreateWebhookSubscription(ctx, &SubscriptionRequest{
		Credentials: credsFromProto(req.GetCredentials()), URL: req.GetUrl(), Events: req.GetEvents(),
		ScopeType: req.GetScopeType(), ScopeID: req.GetScopeId(), Description: req.GetDescription(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateWebhookSubscriptionResponse{Id: sub.ID, Secret: sub.Secret, Events: sub.Events, Url: sub.URL}, nil
}

func (s *provisioningServer) DeleteWebhookSubscription(ctx context.Context, req *pb.DeleteWebhookSubscriptionRequest) (*pb.DeleteWebhookSubscriptionResponse, error) {
	if err := s.p.DeleteWebhookSubscription(ctx, credsFromProto(req.GetCredentials()), req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteWebhookSubscriptionResponse{}, nil
}

func (s *provisioningServer) PingWebhookSubscription(ctx context.Context, req *pb.PingWebhookSubscriptionRequest) (*pb.PingWebhookSubscriptionResponse, error) {
	if err := s.p.PingWebhookSubscription(ctx, credsFromProto(req.GetCredentials()), req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.PingWebhookSubscriptionResponse{}, nil
}

type enrichmentServer struct {
	pb.UnimplementedEnrichmentServer
	e Enricher
}

func (s *enrichmentServer) Enrich(ctx context.Context, req *pb.EnrichRequest) (*pb.EnrichResponse, error) {
	res, err := s.e.Enrich(ctx, &EnrichRequest{
		Credentials: credsFromProto(req.GetCredentials()), IncidentID: req.GetIncidentId(),
		ServiceID: req.GetServiceId(), TriggeredAt: timeFromProto(req.GetTriggeredAt()), Sections: req.GetSections(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.EnrichResponse{
		Evidence: evidenceToProto(res.Evidence), Notes: res.Notes, RelatedServices: refsToProto(res.RelatedServices),
		Sections: res.Sections, ApiCalls: int32(min(res.APICalls, math.MaxInt32)),
	}, nil
}

// exitWithParent ends the plugin when the hub that started it is gone (the
// process is re-parented), so a hub killed without cleanup leaves no plugin
// behind even where the kernel's parent-death signal is not available.
func exitWithParent(log hclog.Logger) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			log.Warn("hub process is gone, exiting")
			os.Exit(0)
		}
	}
}
