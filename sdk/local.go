package sdk

import "context"

// Local calls a provider in the hub's own process, without gRPC, with the
// same contract as Client: a capability the provider lacks answers
// CodeUnimplemented, and every error is an *Error (anything else becomes an
// internal error, as it would crossing the wire). For benchmarks and tests.
type Local struct {
	p Provider
}

// NewLocal wraps p.
func NewLocal(p Provider) *Local { return &Local{p: p} }

// Describe returns the provider's manifest.
func (l *Local) Describe(context.Context) (Manifest, error) { return ManifestOf(l.p), nil }

func localErr(err error) error {
	if err == nil {
		return nil
	}
	return fromStatus(toStatus(err))
}

func unimplemented(capability string) error {
	return &Error{Code: CodeUnimplemented, Message: "provider does not implement " + capability}
}

// ValidateCredentials implements CredentialValidator.
func (l *Local) ValidateCredentials(ctx context.Context, creds Credentials) (*Validation, error) {
	v, ok := l.p.(CredentialValidator)
	if !ok {
		return nil, unimplemented(CapabilityAuth)
	}
	res, err := v.ValidateCredentials(ctx, creds)
	return res, localErr(err)
}

// HandleWebhook implements WebhookHandler.
func (l *Local) HandleWebhook(ctx context.Context, req *WebhookRequest) (*WebhookResult, error) {
	w, ok := l.p.(WebhookHandler)
	if !ok {
		return nil, unimplemented(CapabilityWebhooks)
	}
	res, err := w.HandleWebhook(ctx, req)
	return res, localErr(err)
}

// ValidateWebhookSecret implements WebhookSecretValidator.
func (l *Local) ValidateWebhookSecret(ctx context.Context, secret string) error {
	v, ok := l.p.(WebhookSecretValidator)
	if !ok {
		return unimplemented(CapabilityWebhookSecrets)
	}
	return localErr(v.ValidateWebhookSecret(ctx, secret))
}

// OAuthConfig implements OAuthProvider.
func (l *Local) OAuthConfig(ctx context.Context) (*OAuthConfig, error) {
	o, ok := l.p.(OAuthProvider)
	if !ok {
		return nil, unimplemented(CapabilityOAuth)
	}
	res, err := o.OAuthConfig(ctx)
	return res, localErr(err)
}

// CreateWebhookSubscription implements Provisioner.
func (l *Local) CreateWebhookSubscription(ctx context.Context, req *SubscriptionRequest) (*Subscription, error) {
	p, ok := l.p.(Provisioner)
	if !ok {
		return nil, unimplemented(CapabilityProvisioning)
	}
	res, err := p.CreateWebhookSubscription(ctx, req)
	return res, localErr(err)
}

// DeleteWebhookSubscription implements Provisioner.
func (l *Local) DeleteWebhookSubscription(ctx context.Context, creds Credentials, id string) error {
	p, ok := l.p.(Provisioner)
	if !ok {
		return unimplemented(CapabilityProvisioning)
	}
	return localErr(p.DeleteWebhookSubscription(ctx, creds, id))
}

// PingWebhookSubscription implements Provisioner.
func (l *Local) PingWebhookSubscription(ctx context.Context, creds Credentials, id string) error {
	p, ok := l.p.(Provisioner)
	if !ok {
		return unimplemented(CapabilityProvisioning)
	}
	return localErr(p.PingWebhookSubscription(ctx, creds, id))
}

// Enrich implements Enricher.
func (l *Local) Enrich(ctx context.Context, req *EnrichRequest) (*Enrichment, error) {
	e, ok := l.p.(Enricher)
	if !ok {
		return nil, unimplemented(CapabilityEnrichment)
	}
	res, err := e.Enrich(ctx, req)
	return res, localErr(err)
}
