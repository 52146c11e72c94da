// Package host is the hub's side of the provider protocol: the go-plugin
// plugin set and dial options, the gRPC Client and the in-process Local.
// Plugin authors never import it; sdk/sdktest uses it for them.
package host

import (
	"context"
	"errors"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// PluginName is the key of the provider in go-plugin's plugin set.
const PluginName = protocol.PluginName

// Handshake is go-plugin's handshake config for provider plugins (a fresh
// value each call).
func Handshake() plugin.HandshakeConfig { return protocol.Handshake() }

// Plugins is the plugin set the hub passes to go-plugin's
// ClientConfig.VersionedPlugins: every protocol version this SDK can speak.
func Plugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{sdk.ProtocolVersion: {PluginName: clientPlugin{}}}
}

// DialOptions are the gRPC options the hub dials plugins with.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(protocol.MaxMessageSize), grpc.MaxCallSendMsgSize(protocol.MaxMessageSize),
		grpc.ForceCodecV2(protocol.Codec),
	)}
}

// clientPlugin is the go-plugin glue on the hub's side: it builds a Client.
type clientPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (clientPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("sdk/host: the host side serves no plugin")
}

func (clientPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return newClient(cc), nil
}

// Capabilities is every capability as the hub calls it: implemented by
// Client (a plugin process over gRPC) and Local (in-process).
type Capabilities interface {
	Describe(ctx context.Context) (sdk.Manifest, error)
	sdk.CredentialValidator
	sdk.WebhookHandler
	WebhookSender
	sdk.WebhookSecretValidator
	sdk.OAuthProvider
	sdk.Provisioner
	sdk.Enricher
}

var (
	_ Capabilities = (*Client)(nil)
	_ Capabilities = (*Local)(nil)
)

// Client is the hub's side of a plugin. Its methods mirror the capability
// interfaces; a capability the plugin lacks fails with CodeUnimplemented.
// Every error is an *Error.
type Client struct {
	provider     pb.ProviderClient
	auth         pb.AuthClient
	webhooks     pb.WebhooksClient
	secrets      pb.WebhookSecretsClient
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
		secrets:      pb.NewWebhookSecretsClient(cc),
		oauth:        pb.NewOAuthClient(cc),
		provisioning: pb.NewProvisioningClient(cc),
		enrichment:   pb.NewEnrichmentClient(cc),
	}
	c.batcher = &webhookBatcher{c: c}
	return c
}

// Describe asks the plugin for its manifest.
func (c *Client) Describe(ctx context.Context) (sdk.Manifest, error) {
	res, err := c.provider.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return sdk.Manifest{}, fromStatus(err)
	}
	return manifestFromProto(res.GetManifest()), nil
}

// ValidateCredentials implements CredentialValidator over gRPC.
func (c *Client) ValidateCredentials(ctx context.Context, creds sdk.Credentials) (*sdk.Validation, error) {
	res, err := c.auth.ValidateCredentials(ctx, &pb.ValidateCredentialsRequest{Credentials: credsToProto(creds)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &sdk.Validation{Identity: identityFromProto(res.GetIdentity()), Capabilities: res.GetCapabilities()}, nil
}

// HandleWebhook implements WebhookHandler over gRPC. Concurrent calls are
// batched into HandleWebhooks calls while one is in flight.
func (c *Client) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	return c.batcher.handle(ctx, req)
}

// SendWebhook implements WebhookSender: the delivery goes in the next
// batch, and its answer to sink from the goroutine that received the batch.
func (c *Client) SendWebhook(ctx context.Context, req *sdk.WebhookRequest, sink WebhookSink, tag any) {
	c.batcher.send(ctx, req, sink, tag)
}

func (c *Client) handleOne(ctx context.Context, req *pb.HandleWebhookRequest) (*sdk.WebhookResult, error) {
	res, err := c.webhooks.HandleWebhook(ctx, req)
	if err != nil {
		return nil, fromStatus(err)
	}
	return webhookResultFromProto(res), nil
}

// ValidateWebhookSecret implements WebhookSecretValidator over gRPC. A
// plugin built before protocol 1.2 answers CodeUnimplemented.
func (c *Client) ValidateWebhookSecret(ctx context.Context, secret string) error {
	_, err := c.secrets.ValidateWebhookSecret(ctx, &pb.ValidateWebhookSecretRequest{Secret: secret})
	return fromStatus(err)
}

// OAuthConfig implements OAuthProvider over gRPC.
func (c *Client) OAuthConfig(ctx context.Context) (*sdk.OAuthConfig, error) {
	res, err := c.oauth.OAuthConfig(ctx, &pb.OAuthConfigRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &sdk.OAuthConfig{
		AuthURL: res.GetAuthUrl(), TokenURL: res.GetTokenUrl(), RevokeURL: res.GetRevokeUrl(),
		DefaultScopes: res.GetDefaultScopes(), RequirePKCE: res.GetRequirePkce(),
	}, nil
}

// CreateWebhookSubscription implements Provisioner over gRPC.
func (c *Client) CreateWebhookSubscription(ctx context.Context, req *sdk.SubscriptionRequest) (*sdk.Subscription, error) {
	res, err := c.provisioning.CreateWebhookSubscription(ctx, &pb.CreateWebhookSubscriptionRequest{
		Credentials: credsToProto(req.Credentials), Url: req.URL, Events: req.Events,
		ScopeType: req.ScopeType, ScopeId: req.ScopeID, Description: req.Description,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &sdk.Subscription{ID: res.GetId(), Secret: res.GetSecret(), Events: res.GetEvents(), URL: res.GetUrl()}, nil
}

// DeleteWebhookSubscription implements Provisioner over gRPC.
func (c *Client) DeleteWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	_, err := c.provisioning.DeleteWebhookSubscription(ctx, &pb.DeleteWebhookSubscriptionRequest{Credentials: credsToProto(creds), Id: id})
	return fromStatus(err)
}

// PingWebhookSubscription implements Provisioner over gRPC.
func (c *Client) PingWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	_, err := c.provisioning.PingWebhookSubscription(ctx, &pb.PingWebhookSubscriptionRequest{Credentials: credsToProto(creds), Id: id})
	return fromStatus(err)
}

// Enrich implements Enricher over gRPC.
func (c *Client) Enrich(ctx context.Context, req *sdk.EnrichRequest) (*sdk.Enrichment, error) {
	res, err := c.enrichment.Enrich(ctx, &pb.EnrichRequest{
		Credentials: credsToProto(req.Credentials), IncidentId: req.IncidentID,
		ServiceId: req.ServiceID, TriggeredAt: protocol.TimeToProto(req.TriggeredAt), Sections: req.Sections,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &sdk.Enrichment{
		Evidence: evidenceFromProto(res.GetEvidence()), Notes: res.GetNotes(),
		RelatedServices: refsFromProto(res.GetRelatedServices()),
		Sections:        res.GetSections(), APICalls: int(res.GetApiCalls()),
	}, nil
}
