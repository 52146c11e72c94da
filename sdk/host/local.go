package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Local calls a provider in the hub's own process, without gRPC, with the
// same contract as Client: a capability the provider lacks answers
// CodeUnimplemented, and every error is an *Error (anything else becomes an
// internal error, as it would crossing the wire). For benchmarks and tests.
type Local struct {
	p sdk.Provider
}

// NewLocal wraps p.
func NewLocal(p sdk.Provider) *Local { return &Local{p: p} }

// Describe returns the provider's manifest.
func (l *Local) Describe(context.Context) (sdk.Manifest, error) { return sdk.ManifestOf(l.p), nil }

// recovered turns a panic in the provider into CodeInternal, as the SDK's
// gRPC server does, so an in-process provider cannot take the hub down.
func recovered(err *error) {
	if v := recover(); v != nil {
		*err = &sdk.Error{Code: sdk.CodeInternal, Message: "internal plugin error (the plugin panicked)", Err: fmt.Errorf("panic: %v", v)}
	}
}

// localErr is what err would be after crossing gRPC: an *sdk.Error with
// its code, message and retry delay (anything else is internal), or the
// context's error.
func localErr(err error) error {
	var e *sdk.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return &sdk.Error{Code: knownCode(string(e.Code)), Message: e.Message, RetryAfter: e.RetryAfter, Err: err}
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return &sdk.Error{Code: sdk.CodeInternal, Message: "internal plugin error", Err: err}
}

func unimplemented(capability string) error {
	return &sdk.Error{Code: sdk.CodeUnimplemented, Message: "provider does not implement " + capability}
}

// ValidateCredentials implements CredentialValidator.
func (l *Local) ValidateCredentials(ctx context.Context, creds sdk.Credentials) (_ *sdk.Validation, err error) {
	defer recovered(&err)
	v, ok := l.p.(sdk.CredentialValidator)
	if !ok {
		return nil, unimplemented(sdk.CapabilityAuth)
	}
	res, err := v.ValidateCredentials(ctx, creds)
	return res, localErr(err)
}

// HandleWebhook implements WebhookHandler.
func (l *Local) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (_ *sdk.WebhookResult, err error) {
	defer recovered(&err)
	w, ok := l.p.(sdk.WebhookHandler)
	if !ok {
		return nil, unimplemented(sdk.CapabilityWebhooks)
	}
	res, err := w.HandleWebhook(ctx, req)
	return res, localErr(err)
}

// SendWebhook implements WebhookSender: in process, the answer goes to
// sink before SendWebhook returns, a batch of one.
func (l *Local) SendWebhook(ctx context.Context, req *sdk.WebhookRequest, sink WebhookSink, tag any) {
	res, err := l.HandleWebhook(ctx, req)
	sink.WebhookAnswer(tag, res, err)
	sink.WebhookBatchEnd()
}

// ValidateWebhookSecret implements WebhookSecretValidator.
func (l *Local) ValidateWebhookSecret(ctx context.Context, secret string) (err error) {
	defer recovered(&err)
	v, ok := l.p.(sdk.WebhookSecretValidator)
	if !ok {
		return unimplemented(sdk.CapabilityWebhookSecrets)
	}
	return localErr(v.ValidateWebhookSecret(ctx, secret))
}

// OAuthConfig implements OAuthProvider.
func (l *Local) OAuthConfig(ctx context.Context) (_ *sdk.OAuthConfig, err error) {
	defer recovered(&err)
	o, ok := l.p.(sdk.OAuthProvider)
	if !ok {
		return nil, unimplemented(sdk.CapabilityOAuth)
	}
	res, err := o.OAuthConfig(ctx)
	return res, localErr(err)
}

// CreateWebhookSubscription implements Provisioner.
func (l *Local) CreateWebhookSubscription(ctx context.Context, req *sdk.SubscriptionRequest) (_ *sdk.Subscription, err error) {
	defer recovered(&err)
	p, ok := l.p.(sdk.Provisioner)
	if !ok {
		return nil, unimplemented(sdk.CapabilityProvisioning)
	}
	res, err := p.CreateWebhookSubscription(ctx, req)
	return res, localErr(err)
}

// DeleteWebhookSubscription implements Provisioner.
func (l *Local) DeleteWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) (err error) {
	defer recovered(&err)
	p, ok := l.p.(sdk.Provisioner)
	if !ok {
		return unimplemented(sdk.CapabilityProvisioning)
	}
	return localErr(p.DeleteWebhookSubscription(ctx, creds, id))
}

// PingWebhookSubscription implements Provisioner.
func (l *Local) PingWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) (err error) {
	defer recovered(&err)
	p, ok := l.p.(sdk.Provisioner)
	if !ok {
		return unimplemented(sdk.CapabilityProvisioning)
	}
	return localErr(p.PingWebhookSubscription(ctx, creds, id))
}

// Enrich implements Enricher.
func (l *Local) Enrich(ctx context.Context, req *sdk.EnrichRequest) (_ *sdk.Enrichment, err error) {
	defer recovered(&err)
	e, ok := l.p.(sdk.Enricher)
	if !ok {
		return nil, unimplemented(sdk.CapabilityEnrichment)
	}
	res, err := e.Enrich(ctx, req)
	return res, localErr(err)
}
