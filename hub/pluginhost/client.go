package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// instance is one started plugin process with the count of calls in flight,
// so that a replaced process is killed only once its calls have finished.
type instance struct {
	proc process
	// kick wakes the supervisor after a timed-out or failed call.
	kick chan struct{}
	// timeouts counts consecutive calls that timed out; a call that
	// succeeds resets it.
	timeouts atomic.Int32

	mu      sync.Mutex
	refs    int
	retired bool
	idle    chan struct{} // closed once retired with no call in flight
}

func newInstance(p process) *instance {
	return &instance{proc: p, kick: make(chan struct{}, 1), idle: make(chan struct{})}
}

// acquire counts a call in; it fails once the instance is retired and idle.
func (i *instance) acquire() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.retired && i.refs == 0 {
		return false
	}
	i.refs++
	return true
}

func (i *instance) release() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.refs--
	if i.retired && i.refs == 0 {
		close(i.idle)
	}
}

// retire takes the instance out of service: no new calls; the channel is
// closed when the calls in flight have finished.
func (i *instance) retire() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.retired {
		i.retired = true
		if i.refs == 0 {
			close(i.idle)
		}
	}
	return i.idle
}

func (i *instance) inFlight() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.refs
}

func (i *instance) wake() {
	select {
	case i.kick <- struct{}{}:
	default:
	}
}

// guard is the Client the hub's handlers call: it bounds every call with a
// deadline, counts it in flight on the process it runs on, reports timeouts
// and transport failures to the supervisor, and turns them into errors the
// API answers with 503 and Retry-After. A Plugin value handed out earlier
// stays usable: once its process is gone, calls go to the current one.
type guard struct {
	h    *Host
	name string
	inst *instance
}

var _ host.Capabilities = (*guard)(nil)

// enter picks the instance a call runs on and counts the call in.
func (g *guard) enter() (*instance, error) {
	if g.inst.acquire() {
		return g.inst, nil
	}
	if p, ok := g.h.Get(g.name); ok && p.inst != nil && p.inst.acquire() {
		return p.inst, nil
	}
	return nil, &sdk.Error{Code: sdk.CodeUnavailable, Message: MsgUnavailable, RetryAfter: g.h.retryAfter(g.name), Err: fmt.Errorf("provider plugin %s is restarting", g.name)}
}

// MsgUnavailable is the message of every unavailable error a plugin call
// returns (the cause is in the error's Err, for the logs): the user sees
// that the provider's plugin is not answering, not why.
const MsgUnavailable = "Provider plugin unavailable, retry later"

func (g *guard) call(ctx context.Context, timeout time.Duration, capability string, fn func(context.Context, host.Capabilities) error) error {
	inst, cctx, end, err := g.begin(ctx, timeout, capability)
	if err != nil {
		return err
	}
	return end(fn(cctx, inst.proc.Client()))
}

// begin starts a call: the instance it runs on, its context (bounded by
// timeout), and end, which the call's error must go through once, when it
// is over: end counts the call out, records it, and returns the error the
// caller sees.
func (g *guard) begin(ctx context.Context, timeout time.Duration, capability string) (*instance, context.Context, func(error) error, error) {
	inst, err := g.enter()
	if err != nil {
		return nil, nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	began := time.Now()
	end := func(err error) error {
		defer inst.release()
		defer cancel()
		g.h.opts.Metrics.PluginCall(g.name, capability, callResult(ctx, cctx, err), time.Since(began))
		return g.outcome(ctx, cctx, inst, capability, timeout, err)
	}
	return inst, cctx, end, nil
}

// outcome is the error a call's caller sees: the plugin's own, or
// unavailable (with the supervisor told) when the plugin did not answer.
func (g *guard) outcome(ctx, cctx context.Context, inst *instance, capability string, timeout time.Duration, err error) error {
	switch {
	case err == nil:
		inst.timeouts.Store(0)
		return nil
	case ctx.Err() != nil:
		// The caller gave up (or its own deadline passed): not the plugin's fault.
		return err
	case errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil:
		inst.timeouts.Add(1)
		inst.wake()
		return &sdk.Error{
			Code: sdk.CodeUnavailable, Message: MsgUnavailable, RetryAfter: g.h.opts.RestartBackoff,
			Err: fmt.Errorf("provider plugin %s did not answer within %s: %w", g.name, timeout, err),
		}
	case sdk.IsUnimplemented(err):
		// The plugin predates the call: the capability is absent.
		return &sdk.Error{Code: sdk.CodeUnimplemented, Err: err, Message: fmt.Sprintf("Provider %s does not implement %s", g.name, capability)}
	case sdk.ErrorCode(err) == sdk.CodeUnavailable:
		// The process or the connection failed: let the supervisor look now.
		inst.wake()
		retry := g.h.opts.RestartBackoff
		var se *sdk.Error
		if errors.As(err, &se) && se.RetryAfter > 0 {
			retry = se.RetryAfter
		}
		return &sdk.Error{Code: sdk.CodeUnavailable, Message: MsgUnavailable, RetryAfter: retry, Err: err}
	}
	return err
}

// callResult is the metric's result of a call.
func callResult(ctx, cctx context.Context, err error) string {
	switch {
	case err == nil:
		return metrics.CallOK
	case ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil):
		return metrics.CallTimeout
	case sdk.ErrorCode(err) == sdk.CodeUnavailable:
		return metrics.CallUnavailable
	}
	return metrics.CallError
}

// Describe asks the plugin for its manifest.
func (g *guard) Describe(ctx context.Context) (m sdk.Manifest, err error) {
	err = g.call(ctx, g.h.opts.CallTimeout, "describe", func(ctx context.Context, c host.Capabilities) error {
		m, err = c.Describe(ctx)
		return err
	})
	return m, err
}

// ValidateCredentials implements sdk.CredentialValidator.
func (g *guard) ValidateCredentials(ctx context.Context, creds sdk.Credentials) (v *sdk.Validation, err error) {
	err = g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityAuth, func(ctx context.Context, c host.Capabilities) error {
		v, err = c.ValidateCredentials(ctx, creds)
		return err
	})
	return v, err
}

// HandleWebhook implements sdk.WebhookHandler, with the shorter webhook deadline.
func (g *guard) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (r *sdk.WebhookResult, err error) {
	err = g.call(ctx, g.h.opts.WebhookTimeout, sdk.CapabilityWebhooks, func(ctx context.Context, c host.Capabilities) error {
		r, err = c.HandleWebhook(ctx, req)
		return err
	})
	return r, err
}

// SendWebhook implements host.WebhookSender, with the webhook deadline: the
// answer goes to sink as HandleWebhook's would be returned.
func (g *guard) SendWebhook(ctx context.Context, req *sdk.WebhookRequest, sink host.WebhookSink, tag any) {
	inst, cctx, end, err := g.begin(ctx, g.h.opts.WebhookTimeout, sdk.CapabilityWebhooks)
	if err != nil {
		sink.WebhookAnswer(tag, nil, err)
		sink.WebhookBatchEnd()
		return
	}
	inst.proc.Client().SendWebhook(cctx, req, guardedSink{sink}, &guardedCall{tag: tag, end: end})
}

// guardedSink ends each call (see guard.begin) before its answer goes on.
type guardedSink struct{ host.WebhookSink }

// guardedCall is a call's tag while the plugin has it.
type guardedCall struct {
	tag any
	end func(error) error
}

func (s guardedSink) WebhookAnswer(tag any, res *sdk.WebhookResult, err error) {
	c := tag.(*guardedCall)
	if err = c.end(err); err != nil {
		res = nil
	}
	s.WebhookSink.WebhookAnswer(c.tag, res, err)
}

// ValidateWebhookSecret implements sdk.WebhookSecretValidator.
func (g *guard) ValidateWebhookSecret(ctx context.Context, secret string) error {
	return g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityWebhookSecrets, func(ctx context.Context, c host.Capabilities) error {
		return c.ValidateWebhookSecret(ctx, secret)
	})
}

// OAuthConfig implements sdk.OAuthProvider.
func (g *guard) OAuthConfig(ctx context.Context) (o *sdk.OAuthConfig, err error) {
	err = g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityOAuth, func(ctx context.Context, c host.Capabilities) error {
		o, err = c.OAuthConfig(ctx)
		return err
	})
	return o, err
}

// CreateWebhookSubscription implements sdk.Provisioner.
func (g *guard) CreateWebhookSubscription(ctx context.Context, req *sdk.SubscriptionRequest) (s *sdk.Subscription, err error) {
	err = g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityProvisioning, func(ctx context.Context, c host.Capabilities) error {
		s, err = c.CreateWebhookSubscription(ctx, req)
		return err
	})
	return s, err
}

// DeleteWebhookSubscription implements sdk.Provisioner.
func (g *guard) DeleteWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	return g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityProvisioning, func(ctx context.Context, c host.Capabilities) error {
		return c.DeleteWebhookSubscription(ctx, creds, id)
	})
}

// PingWebhookSubscription implements sdk.Provisioner.
func (g *guard) PingWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	return g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityProvisioning, func(ctx context.Context, c host.Capabilities) error {
		return c.PingWebhookSubscription(ctx, creds, id)
	})
}

// Enrich implements sdk.Enricher.
func (g *guard) Enrich(ctx context.Context, req *sdk.EnrichRequest) (e *sdk.Enrichment, err error) {
	err = g.call(ctx, g.h.opts.CallTimeout, sdk.CapabilityEnrichment, func(ctx context.Context, c host.Capabilities) error {
		e, err = c.Enrich(ctx, req)
		return err
	})
	return e, err
}
