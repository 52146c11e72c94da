package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

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

func init() {
	// sdk/sdktest serves providers in go-plugin's test mode through this
	// hook, so the option is no part of the author's API.
	protocol.ServeTest = func(p any, logger hclog.Logger, cfg *plugin.ServeTestConfig) {
		Serve(p.(Provider), WithLogger(logger), func(c *serveConfig) { c.test = cfg })
	}
}

// Serve is the whole main of a plugin: it serves p to the hub over gRPC and
// returns when the hub is done with it. Run as `<binary> describe`, it prints
// the manifest as JSON and returns without starting RPC.
func Serve(p Provider, opts ...ServeOpt) {
	cfg := serveConfig{stdout: os.Stdout}
	for _, o := range opts {
		o(&cfg)
	}
	if err := Check(p); err != nil {
		// A provider that would silently lack a capability must not start.
		if cfg.test != nil {
			panic(err)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
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
		HandshakeConfig: protocol.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {protocol.PluginName: &grpcPlugin{provider: p, log: cfg.logger}},
		},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, grpc.MaxRecvMsgSize(protocol.MaxMessageSize), grpc.MaxSendMsgSize(protocol.MaxMessageSize),
				grpc.ForceServerCodecV2(protocol.Codec),
				grpc.ChainUnaryInterceptor(recoverUnary(cfg.logger)), grpc.ChainStreamInterceptor(recoverStream(cfg.logger)))...)
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
	m.Capabilities = Implemented(p)
	return m
}

// grpcPlugin is the go-plugin glue of the plugin side: GRPCServer registers
// the provider's services (the hub's side is sdk/host).
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	provider Provider
	log      hclog.Logger
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p := g.provider
	pb.RegisterProviderServer(s, &providerServer{p: p})
	impl := Implemented(p)
	for _, c := range capabilityTable {
		if slices.Contains(impl, c.name) {
			c.register(s, p, g.log)
		}
	}
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side has no client; the hub's is sdk/host")
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
	w   WebhookHandler
	log hclog.Logger
}

func (s *webhooksServer) HandleWebhook(ctx context.Context, req *pb.HandleWebhookRequest) (*pb.HandleWebhookResponse, error) {
	res, err := s.w.HandleWebhook(ctx, webhookRequestFromProto(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return webhookResultToProto(res), nil
}

// HandleWebhooks answers a batch. Deliveries are independent (a plugin is
// stateless), so a batch large enough to be worth it is split across the
// process's cores: a busy hub sends its next batch only when this one is
// answered, so a batch handled on one core leaves the others idle while
// the hub waits.
func (s *webhooksServer) HandleWebhooks(ctx context.Context, req *pb.HandleWebhooksRequest) (*pb.HandleWebhooksResponse, error) {
	reqs := req.GetRequests()
	out := &pb.HandleWebhooksResponse{Results: make([]*pb.HandleWebhookResult, len(reqs))}
	parts := max(1, min(runtime.GOMAXPROCS(0), len(reqs)/minWebhooksPerCore))
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		lo, hi := i*len(reqs)/parts, (i+1)*len(reqs)/parts
		wg.Go(func() { s.handleRange(ctx, reqs[lo:hi], out.Results[lo:hi]) })
	}
	first := len(reqs) / parts // the first part on this goroutine
	s.handleRange(ctx, reqs[:first], out.Results[:first])
	wg.Wait()
	if err := ctx.Err(); err != nil { // a part may have stopped short
		return nil, toStatus(err)
	}
	return out, nil
}

// minWebhooksPerCore is the smallest share of a batch worth a core of its
// own: below it, starting a goroutine and waking a thread costs about what
// the deliveries do.
const minWebhooksPerCore = 8

// handleRange answers reqs into results, until ctx ends.
func (s *webhooksServer) handleRange(ctx context.Context, reqs []*pb.HandleWebhookRequest, results []*pb.HandleWebhookResult) {
	for i, r := range reqs {
		if ctx.Err() != nil {
			return
		}
		res, err := s.handleRecovered(ctx, r)
		if err != nil {
			results[i] = &pb.HandleWebhookResult{Error: pluginErrorToProto(err)}
			continue
		}
		results[i] = &pb.HandleWebhookResult{Response: webhookResultToProto(res)}
	}
}

// handleRecovered is one delivery of a batch: a panic fails that delivery
// alone (CodeInternal), not the whole batch.
func (s *webhooksServer) handleRecovered(ctx context.Context, r *pb.HandleWebhookRequest) (res *WebhookResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError(s.log, "/aurora.provider.v1.Webhooks/HandleWebhooks", v)
		}
	}()
	return s.w.HandleWebhook(ctx, webhookRequestFromProto(r))
}

type webhookSecretsServer struct {
	pb.UnimplementedWebhookSecretsServer
	v WebhookSecretValidator
}

func (s *webhookSecretsServer) ValidateWebhookSecret(ctx context.Context, req *pb.ValidateWebhookSecretRequest) (*pb.ValidateWebhookSecretResponse, error) {
	if err := s.v.ValidateWebhookSecret(ctx, req.GetSecret()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ValidateWebhookSecretResponse{}, nil
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
		ServiceID: req.GetServiceId(), TriggeredAt: protocol.TimeFromProto(req.GetTriggeredAt()), Sections: req.GetSections(),
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
