// Package oauth runs the OAuth 2.0 authorization-code flow with PKCE for provider connections.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

// Callback outcome codes, sent to the frontend as ?oauth=failed&error=<code>.
const (
	CodeNotEnabled       = "oauth_not_enabled"
	CodeAccessDenied     = "access_denied"
	CodeInvalid          = "invalid"
	CodeExchangeFailed   = "exchange_failed"
	CodeValidationFailed = "validation_failed"
	CodeUnexpected       = "unexpected"
)

// DefaultFrontendURL is where the callback sends the browser when
// FRONTEND_URL is unset (the Aurora frontend's development address).
const DefaultFrontendURL = "http://localhost:3000"

// Plugin is what the flow needs of a running provider plugin.
type Plugin interface {
	sdk.OAuthProvider
	connections.Validator
}

// Provider is a provider plugin as the flow sees it.
type Provider struct {
	Name        string
	DisplayName string
	HasOAuth    bool
	// Client is nil when the plugin is not running.
	Client Plugin
}

// Providers finds providers by name.
type Providers interface {
	Provider(name string) (Provider, bool)
}

// HostProviders serves Providers from the plugin host.
type HostProviders struct{ Host *pluginhost.Host }

// Provider implements Providers.
func (h HostProviders) Provider(name string) (Provider, bool) {
	p, ok := h.Host.Get(name)
	if !ok {
		return Provider{}, false
	}
	out := Provider{Name: p.Name, DisplayName: p.Manifest.DisplayName, HasOAuth: p.Manifest.Has(sdk.CapabilityOAuth)}
	if p.State == pluginhost.StateRunning && p.Client != nil {
		out.Client = p.Client
	}
	return out, true
}

// Options configure a Service.
type Options struct {
	Config      *config.Config
	Store       *store.Store
	Sealer      *secrets.Sealer
	Connections *connections.Service
	Providers   Providers
	Logger      hclog.Logger
	// HTTPClient calls the providers' token and revocation endpoints.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Service runs the flow: the plugin owns endpoints, scopes and token
// validation; the service owns the state, the PKCE verifier and storage.
type Service struct {
	o Options

	mu        sync.Mutex
	endpoints map[string]*sdk.OAuthConfig // last good answer of each plugin
}

// New returns a Service.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Service{o: o, endpoints: map[string]*sdk.OAuthConfig{}}
}

func (s *Service) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) stateTTL() time.Duration {
	if s.o.Config.OAuthStateTTL > 0 {
		return s.o.Config.OAuthStateTTL
	}
	return config.DefaultOAuthStateTTL
}

func displayName(p Provider) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}

// app returns the provider and its configured OAuth client, or the
// contract's error: 404 for a provider without OAuth, 403 when OAuth is
// disabled, 503 when it is enabled without client credentials.
func (s *Service) app(name string, needEnabled bool) (Provider, config.OAuthClient, error) {
	p, ok := s.o.Providers.Provider(name)
	if !ok {
		return p, config.OAuthClient{}, hub.Errorf(hub.ENotFound, "Unknown provider: %s", name)
	}
	if !p.HasOAuth {
		return p, config.OAuthClient{}, hub.Errorf(hub.ENotFound, "Provider %s does not support OAuth", name)
	}
	oc := s.o.Config.OAuthClient(name)
	if needEnabled && !oc.Enabled {
		return p, oc, hub.Errorf(hub.EForbidden, "%s OAuth is not enabled", displayName(p))
	}
	if len(oc.Missing) > 0 {
		return p, oc, hub.Errorf(hub.EUnavailable, "Missing OAuth credentials: %s", strings.Join(oc.Missing, ", "))
	}
	if p.Client == nil {
		return p, oc, hub.Errorf(hub.EUnavailable, "Provider %s is unavailable", name)
	}
	return p, oc, nil
}

// oauth2Config builds the client configuration from the plugin's endpoints.
func (s *Service) oauth2Config(ctx context.Context, p Provider, oc config.OAuthClient) (*oauth2.Config, *sdk.OAuthConfig, error) {
	ep, err := p.Client.OAuthConfig(ctx)
	s.mu.Lock()
	if err == nil {
		s.endpoints[p.Name] = ep
	} else if cached := s.endpoints[p.Name]; cached != nil {
		s.o.Logger.Warn("plugin did not return its OAuth endpoints; using the last ones", "provider", p.Name, "error", err)
		ep, err = cached, nil
	}
	s.mu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("OAuth endpoints of %s: %w", p.Name, err)
	}
	for _, u := range []string{ep.AuthURL, ep.TokenURL} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, nil, fmt.Errorf("OAuth endpoints of %s: %q is not an absolute http(s) URL", p.Name, u)
		}
	}
	return &oauth2.Config{
		ClientID:     oc.ClientID,
		ClientSecret: oc.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL:  s.o.Config.OAuthRedirectURL(p.Name),
		Scopes:       append([]string(nil), ep.DefaultScopes...),
	}, ep, nil
}

func (s *Service) httpContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.o.HTTPClient)
}

// stateBytes is the entropy of a state value (256 bits).
const stateBytes = 32

// hashState is the key a state is stored under.
func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func verifierBinding(stateHash string) string { return secrets.OAuthVerifierBinding(stateHash) }

// Login starts an authorization for owner: it stores a single-use state
// bound to the owner, valid for Config.OAuthStateTTL, with a sealed PKCE
// verifier, and returns the provider's authorization URL.
func (s *Service) Login(ctx context.Context, provider string, owner hub.Owner) (string, error) {
	p, oc, err := s.app(provider, true)
	if err != nil {
		return "", err
	}
	cfg, _, err := s.oauth2Config(ctx, p, oc)
	if err != nil {
		return "", err
	}
	raw := make([]byte, stateBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating OAuth state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(raw)
	verifier := oauth2.GenerateVerifier()
	h := hashState(state)
	sealed, err := s.o.Sealer.Seal([]byte(verifier), verifierBinding(h))
	if err != nil {
		return "", fmt.Errorf("sealing PKCE verifier: %w", err)
	}
	now := s.now()
	if n, err := s.o.Store.PruneOAuthStates(ctx, now); err != nil {
		s.o.Logger.Warn("pruning expired OAuth states failed", "error", err)
	} else if n > 0 {
		s.o.Logger.Debug("pruned expired OAuth states", "count", n)
	}
	err = s.o.Store.CreateOAuthState(ctx, &store.OAuthState{
		StateHash: h, Provider: provider, UserID: owner.UserID, OrgID: owner.OrgID,
		Verifier: sealed, RedirectURI: cfg.RedirectURL, CreatedAt: now, ExpiresAt: now.Add(s.stateTTL()),
	})
	if err != nil {
		return "", err
	}
	s.o.Logger.Info("OAuth login started", "provider", provider, "owner_kind", owner.Kind())
	return startURL(cfg.RedirectURL, state), nil
}

// startURL is the hub URL the browser is sent to first: beside the callback
// (same origin and path, so the binding cookie reaches the callback),
// <base>/<provider>/oauth/start?state=...
func startURL(redirectURI, state string) string {
	return strings.TrimSuffix(redirectURI, "/callback") + "/start?" + url.Values{"state": {state}}.Encode()
}

// Browser binding: the start URL sets a cookie holding a random secret in
// the browser that follows it, and stores the secret's hash with the state;
// the callback completes only in a browser that sends that cookie back.
const (
	bindingCookiePrefix = "aurora_oauth_"
	bindingSecretBytes  = 32
)

// bindingCookieName is per state (a prefix of its hash), so two logins in
// one browser do not overwrite each other's binding.
func bindingCookieName(stateHash string) string { return bindingCookiePrefix + stateHash[:16] }

// bindingCookie is the HttpOnly, SameSite=Lax cookie of a binding, scoped to
// the callback's directory; maxAge < 0 deletes it.
func bindingCookie(redirectURI, stateHash, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name: bindingCookieName(stateHash), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
	if u, err := url.Parse(redirectURI); err == nil {
		c.Secure = u.Scheme == "https"
		if dir := path.Dir(u.Path); dir != "." && dir != "" {
			c.Path = dir
		}
	}
	return c
}

// StartResult is the outcome of a browser following the start URL.
type StartResult struct {
	// AuthURL is the provider's authorization URL; Cookie binds the flow to
	// the browser. Both are set on success.
	AuthURL string
	Cookie  *http.Cookie
	// Code is "" on success, else one of the Code* constants.
	Code string
	// Err is the cause of a failure, for the log only.
	Err error
}

// Start binds the authorization named by the start URL's raw query to the
// browser that follows it (once: a second visit, from any browser, is
// refused) and returns the provider's authorization URL with the cookie to
// set. It never returns an error: every failure is a Code.
func (s *Service) Start(ctx context.Context, provider, rawQuery string) StartResult {
	failed := func(code string, err error) StartResult { return StartResult{Code: code, Err: err} }
	p, oc, q, code, err := s.request(provider, rawQuery)
	if code != "" {
		return failed(code, err)
	}
	raw := make([]byte, bindingSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return failed(CodeUnexpected, fmt.Errorf("generating the browser binding: %w", err))
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	st, err := s.o.Store.BindOAuthState(ctx, hashState(q.State), hashState(secret), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return failed(CodeInvalid, errors.New("unknown, expired or already started state"))
	case err != nil:
		return failed(CodeUnexpected, err)
	case st.Provider != provider:
		return failed(CodeInvalid, fmt.Errorf("state was issued for provider %s", st.Provider))
	}
	verifier, err := s.o.Sealer.Open(st.Verifier, verifierBinding(st.StateHash))
	if err != nil {
		return failed(CodeUnexpected, fmt.Errorf("opening PKCE verifier: %w", err))
	}
	cfg, _, err := s.oauth2Config(ctx, p, oc)
	if err != nil {
		return failed(CodeUnexpected, err)
	}
	cfg.RedirectURL = st.RedirectURI
	maxAge := int(st.ExpiresAt.Sub(now) / time.Second)
	return StartResult{
		AuthURL: cfg.AuthCodeURL(q.State, oauth2.S256ChallengeOption(string(verifier))),
		Cookie:  bindingCookie(st.RedirectURI, st.StateHash, secret, max(maxAge, 1)),
	}
}

// Result is the outcome of a callback.
type Result struct {
	// Code is "" on success, else one of the Code* constants.
	Code string
	// Owner and Conn are set on success.
	Owner hub.Owner
	Conn  *hub.Connection
	// Err is the cause of a failure, for the log only.
	Err error
	// Cookie deletes the browser binding the callback was sent with, if any.
	Cookie *http.Cookie
}

func fail(code string, err error) Result { return Result{Code: code, Err: err} }

// callbackTimeout bounds the exchange and the validation.
const callbackTimeout = 30 * time.Second

// request checks what the start and the callback both need: OAuth enabled
// for the provider and a well-formed query with a state. code is "" when
// the request may go on.
func (s *Service) request(provider, rawQuery string) (p Provider, oc config.OAuthClient, q CallbackParams, code string, err error) {
	p, oc, err = s.app(provider, true)
	if err != nil {
		if c := hub.ErrorCode(err); c == hub.EForbidden || c == hub.ENotFound {
			return p, oc, q, CodeNotEnabled, err
		}
		return p, oc, q, CodeUnexpected, err
	}
	if q, err = ParseCallback(rawQuery); err != nil {
		return p, oc, q, CodeInvalid, err
	}
	if q.State == "" {
		return p, oc, q, CodeInvalid, errors.New("no state")
	}
	return p, oc, q, "", nil
}

// Callback completes an authorization from the callback's raw query in the
// browser that started it: cookie reads the request's cookies. It never
// returns an error: every failure is a Result code.
func (s *Service) Callback(ctx context.Context, provider, rawQuery string, cookie func(name string) string) Result {
	p, oc, q, code, err := s.request(provider, rawQuery)
	if code != "" {
		return fail(code, err)
	}
	h := hashState(q.State)
	secret := cookie(bindingCookieName(h))
	if secret == "" {
		return fail(CodeInvalid, errors.New("no browser binding: the login was not started in this browser"))
	}
	res := s.complete(ctx, provider, p, oc, q, h, secret)
	res.Cookie = bindingCookie(s.o.Config.OAuthRedirectURL(provider), h, "", -1)
	return res
}

// complete consumes the state bound to the browser's secret, exchanges the
// code and stores the connection.
func (s *Service) complete(ctx context.Context, provider string, p Provider, oc config.OAuthClient, q CallbackParams, stateHash, secret string) Result {
	st, err := s.o.Store.ConsumeOAuthState(ctx, stateHash, hashState(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(CodeInvalid, errors.New("unknown or already used state, or one started in another browser"))
	case err != nil:
		return fail(CodeUnexpected, err)
	case st.Provider != provider:
		return fail(CodeInvalid, fmt.Errorf("state was issued for provider %s", st.Provider))
	case !s.now().Before(st.ExpiresAt):
		return fail(CodeInvalid, errors.New("state expired"))
	}
	owner := hub.Owner{UserID: st.UserID, OrgID: st.OrgID}
	if q.Error != "" {
		if q.Error == "access_denied" {
			return fail(CodeAccessDenied, errors.New("the user denied access"))
		}
		return fail(CodeUnexpected, fmt.Errorf("provider answered error %q", q.Error))
	}
	if q.Code == "" {
		return fail(CodeInvalid, errors.New("no code"))
	}
	verifier, err := s.o.Sealer.Open(st.Verifier, verifierBinding(st.StateHash))
	if err != nil {
		return fail(CodeUnexpected, fmt.Errorf("opening PKCE verifier: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	defer cancel()
	cfg, _, err := s.oauth2Config(ctx, p, oc)
	if err != nil {
		return fail(CodeUnexpected, err)
	}
	cfg.RedirectURL = st.RedirectURI // what the authorization request named
	tok, err := cfg.Exchange(s.httpContext(ctx), q.Code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		return fail(CodeExchangeFailed, describeTokenError(err))
	}
	if tok.AccessToken == "" {
		return fail(CodeExchangeFailed, errors.New("token response has no access_token"))
	}
	scope := strings.Join(cfg.Scopes, " ")
	if sc, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(sc) != "" {
		scope = strings.Join(strings.Fields(sc), " ")
	}
	val, err := p.Client.ValidateCredentials(ctx, sdk.Credentials{Kind: sdk.AuthOAuth, Token: tok.AccessToken, Scope: scope})
	if err != nil {
		s.revokeAsync(provider, tok)
		return fail(CodeValidationFailed, err)
	}
	expiry := tok.Expiry.UTC()
	if tok.ExpiresIn > 0 {
		expiry = s.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	conn, err := s.o.Connections.ConnectOAuth(ctx, provider, owner, displayName(p), val, connections.OAuthToken{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: expiry, Scope: scope,
	})
	if err != nil {
		s.revokeAsync(provider, tok)
		return fail(CodeUnexpected, err)
	}
	return Result{Owner: owner, Conn: conn}
}

// describeTokenError keeps what a token endpoint error says without its body.
func describeTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("token endpoint answered %d %s: %s", status, re.ErrorCode, re.ErrorDescription)
	}
	return err
}

func (s *Service) revokeAsync(provider string, tok *oauth2.Token) {
	token, hint := tok.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = tok.AccessToken, "access_token"
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Revoke(ctx, provider, token, hint); err != nil {
			s.o.Logger.Debug("revoking an unused OAuth token failed (ignored)", "provider", provider, "error", err)
		}
	}()
}

// FrontendRedirect is where the callback sends the browser for res.
func (s *Service) FrontendRedirect(provider string, res Result) string {
	return FrontendRedirect(s.o.Config, provider, res.Code)
}

// FrontendRedirect is ${FRONTEND_URL}/<provider>/auth/callback with
// ?oauth=success, or ?oauth=failed&error=<code> when code is not "".
func FrontendRedirect(cfg *config.Config, provider, code string) string {
	base := DefaultFrontendURL
	if cfg != nil && cfg.FrontendURL != "" {
		base = cfg.FrontendURL
	}
	out := base + "/" + url.PathEscape(provider) + "/auth/callback"
	if code == "" {
		return out + "?oauth=success"
	}
	return out + "?oauth=failed&error=" + url.QueryEscape(code)
}

// RefreshToken implements connections.OAuthApps: it redeems refreshToken
// at the provider's token endpoint. Refresh needs the client credentials,
// not the enable flag: connections made while OAuth was enabled keep working.
func (s *Service) RefreshToken(ctx context.Context, provider, refreshToken string) (*oauth2.Token, error) {
	p, oc, err := s.app(provider, false)
	if err != nil {
		return nil, err
	}
	cfg, _, err := s.oauth2Config(ctx, p, oc)
	if err != nil {
		return nil, err
	}
	return cfg.TokenSource(s.httpContext(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// Revoke implements connections.OAuthApps (RFC 7009). A plugin without a
// revocation endpoint makes it a no-op.
func (s *Service) Revoke(ctx context.Context, provider, token, tokenTypeHint string) error {
	p, oc, err := s.app(provider, false)
	if err != nil {
		return err
	}
	_, ep, err := s.oauth2Config(ctx, p, oc)
	if err != nil {
		return err
	}
	if ep.RevokeURL == "" || token == "" {
		return nil
	}
	form := url.Values{"token": {token}, "client_id": {oc.ClientID}, "client_secret": {oc.ClientSecret}}
	if tokenTypeHint != "" {
		form.Set("token_type_hint", tokenTypeHint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("revocation endpoint answered %d", res.StatusCode)
	}
	return nil
}

// Check logs, at start-up, how OAuth is configured for each provider that
// offers it; a misconfiguration is a warning, never a reason not to start.
func (s *Service) Check(providers []string) {
	for _, name := range providers {
		p, ok := s.o.Providers.Provider(name)
		if !ok || !p.HasOAuth {
			continue
		}
		oc := s.o.Config.OAuthClient(name)
		switch {
		case !oc.Enabled:
			s.o.Logger.Info("OAuth disabled", "provider", name)
		case len(oc.Missing) > 0:
			s.o.Logger.Warn("OAuth enabled but client credentials are missing: its routes answer 503 until they are set", "provider", name, "missing", strings.Join(oc.Missing, ","))
		default:
			if s.o.Config.FrontendURL == "" {
				s.o.Logger.Warn("FRONTEND_URL is unset: the OAuth callback redirects to "+DefaultFrontendURL, "provider", name)
			}
			s.o.Logger.Info("OAuth enabled", "provider", name, "redirect_url", s.o.Config.OAuthRedirectURL(name))
		}
	}
}
