package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// ConformanceOptions tell Conformance what it cannot work out by itself.
type ConformanceOptions struct {
	// ValidWebhook returns a fresh delivery the provider accepts: its Secrets
	// and headers authenticate its Body, which parses into at least one
	// event. Without it only the refusal of garbage is checked.
	ValidWebhook func() *sdk.WebhookRequest
	// Tamper breaks the authentication of a valid delivery, in place. The
	// default appends a space to the body, which any signature over the raw
	// body must notice; a provider that authenticates by a header (bearer
	// token, basic auth) says how to break that instead.
	Tamper func(*sdk.WebhookRequest)
	// ErrorCases are calls that must fail over gRPC with their code (and,
	// when set, exact message and retry delay) intact.
	ErrorCases []ErrorCase
}

// ErrorCase is one call expected to fail over gRPC.
type ErrorCase struct {
	Name     string
	Call     func(ctx context.Context, c *Client) error
	WantCode sdk.Code
	// WantMessage, when set, is the exact user-facing message.
	WantMessage string
	// WantRetryAfter, when set, is the exact retry delay.
	WantRetryAfter time.Duration
}

// Conformance checks p against the plugin contract, each check a subtest:
// its manifest, Describe over gRPC, Unimplemented for absent capabilities,
// empty-token validation, OAuth endpoints, webhook handling of garbage and
// of a valid, a tampered and an unsigned delivery, and opts.ErrorCases.
// Calls go both to p directly and through Start's real gRPC client, and
// the two answers must agree.
func Conformance(t *testing.T, p sdk.Provider, opts ConformanceOptions) {
	t.Helper()
	s := &suite{p: p, c: Start(t, p), opts: opts}
	s.run(tReporter{t})
}

// reporter is the part of *testing.T the checks use, so the suite's own
// tests can record what it reports about a broken provider.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Skipf(format string, args ...any)
	Run(name string, f func(r reporter))
}

type tReporter struct{ *testing.T }

func (r tReporter) Run(name string, f func(reporter)) {
	r.T.Run(name, func(t *testing.T) { f(tReporter{t}) })
}

// callTimeout bounds each call the suite makes.
const callTimeout = 10 * time.Second

type suite struct {
	p    sdk.Provider
	c    *Client
	opts ConformanceOptions
}

func (s *suite) run(r reporter) {
	r.Run("Manifest", s.checkManifest)
	r.Run("Describe", s.checkDescribe)
	r.Run("Unimplemented", s.checkUnimplemented)
	r.Run("Credentials", s.checkCredentials)
	r.Run("OAuth", s.checkOAuth)
	r.Run("Webhook", s.checkWebhook)
	r.Run("Errors", s.checkErrors)
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// --- manifest ---------------------------------------------------------------

var (
	nameRE      = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	authKindRE  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	configKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)
	// reservedNames are the hub's own top-level routes; pluginhost refuses them.
	reservedNames = map[string]bool{"healthz": true, "incidents": true, "settings": true, "metrics": true, "api": true}
)

func (s *suite) checkManifest(r reporter) {
	for _, p := range manifestProblems(s.p) {
		r.Errorf("manifest: %s", p)
	}
}

// implemented lists the capabilities p implements, in manifest order.
func implemented(p sdk.Provider) []string { return sdk.Implemented(p) }

// manifestProblems says what is wrong with p's manifest, one sentence each.
func manifestProblems(p sdk.Provider) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	raw := p.Manifest()
	m := sdk.ManifestOf(p)
	if err := sdk.Check(p); err != nil {
		add("%v", err)
	}
	switch {
	case !nameRE.MatchString(m.Name):
		add("name %q must match %s: it is the URL segment /<name> and the binary aurora-plugin-<name>", m.Name, nameRE)
	case len(m.Name) > 63:
		add("name %q is longer than 63 characters", m.Name)
	case reservedNames[m.Name]:
		add("name %q is one of the hub's own routes", m.Name)
	}
	if strings.TrimSpace(m.DisplayName) == "" {
		add("display name is empty")
	}
	if strings.TrimSpace(m.Version) == "" {
		add("version is empty")
	}
	if raw.ProtocolVersion != 0 && raw.ProtocolVersion != sdk.ProtocolVersion {
		add("protocol version %d, but this SDK speaks %d (leave it zero: Serve fills it in)", raw.ProtocolVersion, sdk.ProtocolVersion)
	}
	if m.ProtocolVersion != sdk.ProtocolVersion {
		add("ManifestOf reports protocol version %d, want %d", m.ProtocolVersion, sdk.ProtocolVersion)
	}
	impl := implemented(p)
	if !slices.Equal(m.Capabilities, impl) {
		add("capabilities %v, but the provider implements %v", m.Capabilities, impl)
	}
	if raw.Capabilities != nil && !sameSet(raw.Capabilities, impl) {
		add("Manifest() declares capabilities %v, but the provider implements %v (leave them empty: Serve fills them in)", raw.Capabilities, impl)
	}
	has := func(c string) bool { return slices.Contains(impl, c) }
	if has(sdk.CapabilityAuth) && len(m.AuthKinds) == 0 {
		add("implements CredentialValidator but lists no auth kinds")
	}
	if has(sdk.CapabilityOAuth) && !slices.Contains(m.AuthKinds, sdk.AuthOAuth) {
		add("implements OAuthProvider but auth kinds %v lack %q", m.AuthKinds, sdk.AuthOAuth)
	}
	if !has(sdk.CapabilityWebhooks) && len(m.WebhookEventTypes) > 0 {
		add("lists webhook event types but does not implement WebhookHandler")
	}
	if !has(sdk.CapabilityWebhooks) && (has(sdk.CapabilityWebhookSecrets) || m.WebhookSecretFormat != "" || len(m.SetupInstructions) > 0 || m.ConnectWithoutCredentials) {
		add("describes webhook secrets, setup or a webhook-only connection but does not implement WebhookHandler")
	}
	if has(sdk.CapabilityWebhookSecrets) && strings.TrimSpace(m.WebhookSecretFormat) == "" {
		add("implements WebhookSecretValidator but WebhookSecretFormat is empty: say what a secret looks like")
	}
	if m.ConnectWithoutCredentials && has(sdk.CapabilityAuth) {
		add("ConnectWithoutCredentials is set but the provider implements CredentialValidator: the hub would never call it")
	}
	if !m.ConnectWithoutCredentials && !has(sdk.CapabilityAuth) && !has(sdk.CapabilityOAuth) && has(sdk.CapabilityWebhooks) {
		add("receives webhooks but has no way to connect: implement CredentialValidator or set ConnectWithoutCredentials")
	}
	for i, step := range m.SetupInstructions {
		if strings.TrimSpace(step) == "" {
			add("setup instruction %d is empty", i)
		}
	}
	if !has(sdk.CapabilityOAuth) && len(m.OAuthScopes) > 0 {
		add("lists OAuth scopes but does not implement OAuthProvider")
	}
	for _, k := range m.AuthKinds {
		if !authKindRE.MatchString(k) {
			add("auth kind %q must match %s", k, authKindRE)
		}
	}
	for _, e := range m.WebhookEventTypes {
		if strings.TrimSpace(e) == "" || strings.ContainsAny(e, " \t\r\n") {
			add("webhook event type %q is empty or contains spaces", e)
		}
	}
	for _, k := range m.ConfigKeys {
		switch {
		case !configKeyRE.MatchString(k):
			add("config key %q must be UPPER_SNAKE_CASE (%s)", k, configKeyRE)
		case strings.HasPrefix(k, "HUB_"):
			add("config key %q starts with HUB_: the hub's own settings (database, encryption key) must never reach a plugin", k)
		}
	}
	for list, vals := range map[string][]string{
		"auth kinds": m.AuthKinds, "webhook event types": m.WebhookEventTypes,
		"OAuth scopes": m.OAuthScopes, "config keys": m.ConfigKeys,
	} {
		if d := duplicates(vals); len(d) > 0 {
			add("%s repeat %v", list, d)
		}
	}
	slices.Sort(out) // map order above
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func duplicates(vals []string) []string {
	seen := map[string]int{}
	var out []string
	for _, v := range vals {
		if seen[v]++; seen[v] == 2 {
			out = append(out, v)
		}
	}
	return out
}

func (s *suite) checkDescribe(r reporter) {
	ctx, cancel := callCtx()
	defer cancel()
	got, err := s.c.Describe(ctx)
	if err != nil {
		r.Errorf("Describe over gRPC: %v", err)
		return
	}
	if got.ProtocolVersion != sdk.ProtocolVersion {
		r.Errorf("Describe: protocol version %d, want %d", got.ProtocolVersion, sdk.ProtocolVersion)
	}
	if want := sdk.ManifestOf(s.p); !equalManifests(got, want) {
		r.Errorf("Describe over gRPC = %+v\nwant sdk.ManifestOf(p) = %+v", got, want)
	}
}

func equalManifests(a, b sdk.Manifest) bool {
	return a.Name == b.Name && a.DisplayName == b.DisplayName && a.Version == b.Version &&
		a.ProtocolVersion == b.ProtocolVersion && slices.Equal(a.Capabilities, b.Capabilities) &&
		slices.Equal(a.AuthKinds, b.AuthKinds) && slices.Equal(a.WebhookEventTypes, b.WebhookEventTypes) &&
		slices.Equal(a.OAuthScopes, b.OAuthScopes) && slices.Equal(a.ConfigKeys, b.ConfigKeys) &&
		slices.Equal(a.SetupInstructions, b.SetupInstructions) && a.WebhookSecretFormat == b.WebhookSecretFormat &&
		a.ConnectWithoutCredentials == b.ConnectWithoutCredentials
}

// --- capabilities -----------------------------------------------------------

// probes call each capability over gRPC with empty arguments.
var probes = map[string]func(context.Context, *Client) []error{
	sdk.CapabilityAuth: func(ctx context.Context, c *Client) []error {
		_, err := c.ValidateCredentials(ctx, sdk.Credentials{})
		return []error{err}
	},
	sdk.CapabilityWebhooks: func(ctx context.Context, c *Client) []error {
		_, err := c.HandleWebhook(ctx, &sdk.WebhookRequest{})
		return []error{err}
	},
	sdk.CapabilityWebhookSecrets: func(ctx context.Context, c *Client) []error {
		return []error{c.ValidateWebhookSecret(ctx, "")}
	},
	sdk.CapabilityOAuth: func(ctx context.Context, c *Client) []error {
		_, err := c.OAuthConfig(ctx)
		return []error{err}
	},
	sdk.CapabilityProvisioning: func(ctx context.Context, c *Client) []error {
		_, err := c.CreateWebhookSubscription(ctx, &sdk.SubscriptionRequest{})
		return []error{err, c.DeleteWebhookSubscription(ctx, sdk.Credentials{}, ""), c.PingWebhookSubscription(ctx, sdk.Credentials{}, "")}
	},
	sdk.CapabilityEnrichment: func(ctx context.Context, c *Client) []error {
		_, err := c.Enrich(ctx, &sdk.EnrichRequest{})
		return []error{err}
	},
}

var allCapabilities = sdk.AllCapabilities()

func (s *suite) checkUnimplemented(r reporter) {
	impl := implemented(s.p)
	if len(impl) == len(allCapabilities) {
		r.Skipf("the provider implements every capability")
		return
	}
	for _, c := range allCapabilities {
		if slices.Contains(impl, c) {
			continue
		}
		probe, ok := probes[c]
		if !ok {
			r.Errorf("sdktest has no probe for capability %q: update sdktest with the SDK", c)
			continue
		}
		ctx, cancel := callCtx()
		for i, err := range probe(ctx, s.c) {
			if !sdk.IsUnimplemented(err) {
				r.Errorf("%s (call %d) is not implemented, but over gRPC it answered %v, want code %s", c, i+1, err, sdk.CodeUnimplemented)
			}
		}
		cancel()
	}
}

func (s *suite) checkCredentials(r reporter) {
	v, ok := s.p.(sdk.CredentialValidator)
	if !ok {
		r.Skipf("the provider does not implement CredentialValidator")
		return
	}
	kinds := slices.Compact(append([]string{""}, sdk.ManifestOf(s.p).AuthKinds...))
	for _, kind := range kinds {
		creds := sdk.Credentials{Kind: kind}
		ctx, cancel := callCtx()
		res, err, panicked := safely(func() (*sdk.Validation, error) { return v.ValidateCredentials(ctx, creds) })
		cancel()
		if panicked != nil {
			r.Errorf("kind %q, empty token: ValidateCredentials panicked: %v", kind, panicked)
			continue
		}
		code := sdk.ErrorCode(err)
		if err == nil || (code != sdk.CodeInvalid && code != sdk.CodeUnauthenticated) {
			r.Errorf("kind %q, empty token: got %+v, %v; want code %s or %s", kind, res, err, sdk.CodeInvalid, sdk.CodeUnauthenticated)
			continue
		}
		if p := errorProblem(err); p != "" {
			r.Errorf("kind %q, empty token: %s", kind, p)
		}
		ctx, cancel = callCtx()
		_, gerr := s.c.ValidateCredentials(ctx, creds)
		cancel()
		if p := sameError(err, gerr); p != "" {
			r.Errorf("kind %q, empty token: %s", kind, p)
		}
	}
}

func (s *suite) checkOAuth(r reporter) {
	if _, ok := s.p.(sdk.OAuthProvider); !ok {
		r.Skipf("the provider does not implement OAuthProvider")
		return
	}
	ctx, cancel := callCtx()
	defer cancel()
	c, err := s.c.OAuthConfig(ctx)
	if err != nil {
		r.Errorf("OAuthConfig over gRPC: %v", err)
		return
	}
	for name, u := range map[string]string{"AuthURL": c.AuthURL, "TokenURL": c.TokenURL, "RevokeURL": c.RevokeURL} {
		if u == "" && name == "RevokeURL" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			r.Errorf("OAuthConfig.%s %q is not an absolute http(s) URL", name, u)
		}
	}
}

func (s *suite) checkErrors(r reporter) {
	if len(s.opts.ErrorCases) == 0 {
		r.Skipf("no ConformanceOptions.ErrorCases")
		return
	}
	for i, ec := range s.opts.ErrorCases {
		name := ec.Name
		if name == "" {
			name = fmt.Sprintf("case%d", i)
		}
		r.Run(name, func(r reporter) {
			if ec.Call == nil {
				r.Errorf("ErrorCase.Call is nil")
				return
			}
			ctx, cancel := callCtx()
			defer cancel()
			err := ec.Call(ctx, s.c)
			var se *sdk.Error
			switch {
			case err == nil:
				r.Errorf("got no error, want code %s", ec.WantCode)
				return
			case !errors.As(err, &se):
				r.Errorf("got %T %v, want an *sdk.Error", err, err)
				return
			}
			if se.Code != ec.WantCode {
				r.Errorf("code over gRPC = %s (%q), want %s", se.Code, se.Message, ec.WantCode)
			}
			if se.Message == "" {
				r.Errorf("the error has no message")
			}
			if ec.WantMessage != "" && se.Message != ec.WantMessage {
				r.Errorf("message over gRPC = %q, want %q", se.Message, ec.WantMessage)
			}
			if ec.WantRetryAfter != 0 && se.RetryAfter != ec.WantRetryAfter {
				r.Errorf("RetryAfter over gRPC = %v, want %v", se.RetryAfter, ec.WantRetryAfter)
			}
		})
	}
}

// --- errors and results -----------------------------------------------------

var knownCodes = map[sdk.Code]bool{
	sdk.CodeInvalid: true, sdk.CodeUnauthenticated: true, sdk.CodePermissionDenied: true,
	sdk.CodeNotFound: true, sdk.CodeRateLimited: true, sdk.CodeUpstream: true,
	sdk.CodeUnimplemented: true, sdk.CodeUnavailable: true, sdk.CodeInternal: true,
}

// errorProblem says what is wrong with an error a provider returned.
func errorProblem(err error) string {
	var se *sdk.Error
	switch {
	case !errors.As(err, &se):
		return fmt.Sprintf("returned %T %q, not an *sdk.Error: it reaches the hub as an internal error", err, err)
	case !knownCodes[se.Code]:
		return fmt.Sprintf("returned unknown code %q", se.Code)
	case se.Message == "":
		return fmt.Sprintf("returned code %s without a message", se.Code)
	}
	return ""
}

// sameError says how an error changed crossing gRPC (in: returned by the
// provider; out: what the hub's client saw).
func sameError(in, out error) string {
	var a, b *sdk.Error
	if !errors.As(in, &a) {
		return "" // reported by errorProblem
	}
	if !errors.As(out, &b) {
		return fmt.Sprintf("in-process %s %q, over gRPC %v", a.Code, a.Message, out)
	}
	if a.Code != b.Code || a.Message != b.Message || a.RetryAfter != b.RetryAfter {
		return fmt.Sprintf("the error changed crossing gRPC: in-process %s %q (retry %v), over gRPC %s %q (retry %v)",
			a.Code, a.Message, a.RetryAfter, b.Code, b.Message, b.RetryAfter)
	}
	return ""
}

// safely calls f, turning a panic into a value.
func safely[T any](f func() (T, error)) (res T, err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	res, err = f()
	return res, err, nil
}

// limited stops a check from reporting hundreds of similar problems.
type limited struct {
	reporter
	n, max int
}

func (l *limited) Errorf(format string, args ...any) {
	l.Helper()
	if l.n++; l.n <= l.max {
		l.reporter.Errorf(format, args...)
	}
}

func (l *limited) flush() {
	if l.n > l.max {
		l.reporter.Errorf("... and %d more problems", l.n-l.max)
	}
}

func cloneRequest(r *sdk.WebhookRequest) *sdk.WebhookRequest {
	h := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		h[k] = slices.Clone(v)
	}
	return &sdk.WebhookRequest{Body: bytes.Clone(r.Body), Header: h, Secrets: slices.Clone(r.Secrets), AllowUnsigned: r.AllowUnsigned}
}
