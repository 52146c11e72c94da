package sdk

import (
	"context"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// HostPlugins is the plugin set the hub passes to go-plugin's
// ClientConfig.VersionedPlugins: every protocol version this SDK can speak.
func HostPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &grpcPlugin{}}}
}

// HostDialOptions are the gRPC options the hub dials plugins with.
func HostDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize),
	)}
}

// Client is the hub's side of a plugin. Its methods mirror the capability
// interfaces; a capability the plugin lacks fails with CodeUnimplemented.
// Every error is an *Error.
type Client struct {
	provider     pb.ProviderClient
	auth         pb.AuthClient
	webhooks     pb.WebhooksClient
	oauth        pb.OAuthClient
	provisioning pb.ProvisioningClient
	enrichment   pb.EnrichmentClient
	batcher      *webhookBatcher
}

func newClient(cc *grpc.ClientConn) *Client {
	c := &Client{
		provider:     pb.NewProviderClient(cc),
		auth:         pb.NewAuthClient(cc),
		webhooks:     pb.NewWebhooksClient(cc),
		oauth:        pb.NewOAuthClient(cc),
		provisioning: pb.NewProvisioningClient(cc),
		enrichment:   pb.NewEnrichmentClient(cc),
	}
	c.batcher = &webhookBatcher{c: c}
	return c
}

// Describe asks the plugin for its manifest.
func (c *Client) Describe(ctx context.Context) (Manifest, error) {
	res, err := c.provider.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return Manifest{}, fromStatus(err)
	}
	return manifestFromProto(res.GetManifest()), nil
}

// ValidateCredentials implements CredentialValidator over gRPC.
func (c *Client) ValidateCredentials(ctx context.Context, creds Credentials) (*Validation, error) {
	res, err := c.auth.ValidateCredentials(ctx, &pb.ValidateCredentialsRequest{Credentials: credsToProto(creds)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &Validation{Identity: identityFromProto(res.GetIdentity()), Capabilities: res.GetCapabilities()}, nil
}

// HandleWebhook implements WebhookHandler over gRPC. Concurrent calls are
// batched into HandleWebhooks calls while one is in flight.
func (c *Client) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResult, error) {
	return c.batcher.handle(ctx, req)
}

func (c *Client) handleOne(ctx context.Context, req *pb.HandleWebhookRequest) (*WebhookResult, error) {
	res, err := c.webhooks.HandleWebhook(ctx, req)
	if err != nil {
		return nil, fromStatus(err)
	}
	return webhookResultFromProto(res), nil
}

// OAuthConfig implements OAuthProvider over gRPC.
func (c *Client) OAuthConfig(ctx context.Context) (*OAuthConfig, error) {
	res, err := c.oauth.OAuthConfig(ctx, &pb.OAuthConfigRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &OAuthConfig{
		AuthURL: res.GetAuthUrl(), TokenURL: res.GetTokenUrl(), RevokeURL: res.GetRevokeUrl(),
		DefaultScopes: res.GetDefaultScopes(), RequirePKCE: res.GetRequirePkce(),
	}, nil
}

// CreateWebhookSubscription implements Provisioner over gRPC.
func (c *Client) CreateWebhookSubscription(ctx context.Context, req *SubscriptionRequest) (*Subscription, error) {
	res, err := c.provisioning.CreateWebhookSubscription(ctx, &pb.CreateWebhookSubscriptionRequest{
		Credentials: credsToProto(req.Credentials), Url: req.URL, Events: req.Events,
		ScopeType: req.ScopeType, ScopeId: req.ScopeID, Description: req.Description,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &Subscription{ID: res.GetId(), Secret: res.GetSecret(), Events: res.GetEvents(), URL: res.GetUrl()}, nil
}

// DeleteWebhookSubscription implements Provisioner over gRPC.
func (c *Client) DeleteWebhookSubscription(ctx context.Context, creds Credentials, id string) error {
	_, err := c.provisioning.DeleteWebhookSubscription(ctx, &pb.DeleteWebhookSubscriptionRequest{Credentials: credsToProto(creds), Id: id})
	return fromStatus(err)
}

// PingWebhookSubscription implements Provisioner over gRPC.
func (c *Client) PingWebhookSubscription(ctx context.Context, creds Credentials, id string) error {
	_, err := c.provisioning.PingWebhookSubscription(ctx, &pb.PingWebhookSubscriptionRequest{Credentials: credsToProto(creds), Id: id})
	return fromStatus(err)
}

// Enrich implements Enricher over gRPC.
func (c *Client) Enrich(ctx context.Context, req *EnrichRequest) (*Enrichment, error) {
	res, err := c.enrichment.Enrich(ctx, &pb.EnrichRequest{
		Credentials: credsToProto(req.Credentials), IncidentId: req.IncidentID,
		ServiceId: req.ServiceID, TriggeredAt: timeToProto(req.TriggeredAt), Sections: req.Sections,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &Enrichment{
		Evidence: evidenceFromProto(res.GetEvidence()), Notes: res.GetNotes(),
		RelatedServices: refsFromProto(res.GetRelatedServices()),
		Sections:        res.GetSections(), APICalls: int(res.GetApiCalls()),
	}, nil
}
