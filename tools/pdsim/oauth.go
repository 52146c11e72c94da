package pdsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AuthCodeTTL is how long an authorization code stays valid.
const AuthCodeTTL = 30 * time.Second

// DefaultOAuthScope is granted when neither the request nor the app names
// scopes (a classic app with write access).
const DefaultOAuthScope = "openid write"

type oauthState struct {
	apps       map[string]*OAuthApp
	codes      map[string]*authCode
	access     map[string]*accessToken
	refresh    map[string]*refreshToken
	decision   OAuthDecision
	userID     string
	grantScope string
	stats      TokenStats
}

type authCode struct {
	clientID, redirectURI, scope, challenge, userID string
	expiresAt                                       time.Time
}

type accessToken struct {
	clientID, userID, scope string
	expiresAt               time.Time
}

type refreshToken struct {
	clientID, userID, scope string
	expiresAt               time.Time
	used, revoked           bool
}

func (o *oauthState) init() {
	o.apps = map[string]*OAuthApp{}
	o.codes = map[string]*authCode{}
	o.access = map[string]*accessToken{}
	o.refresh = map[string]*refreshToken{}
}

// AddOAuthApp registers (or replaces) an OAuth client.
func (s *Sim) AddOAuthApp(app OAuthApp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if app.ClientID == "" {
		return
	}
	app.RedirectURIs = copyStrings(app.RedirectURIs)
	app.Scopes = copyStrings(app.Scopes)
	s.oauth.apps[app.ClientID] = &app
}

// SetOAuthDecision chooses what the user answers at /oauth/authorize.
func (s *Sim) SetOAuthDecision(d OAuthDecision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.decision = d
}

// SetOAuthUser chooses which user approves at /oauth/authorize (default:
// the first owner or admin, else the first user).
func (s *Sim) SetOAuthUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.userID = userID
}

// SetOAuthGrantedScope makes the next authorizations grant exactly scope
// (space-separated) whatever was requested, e.g. "openid read" to simulate
// a user granting read-only access. "" restores the normal behaviour.
func (s *Sim) SetOAuthGrantedScope(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.grantScope = scope
}

// TokenRequests counts requests to /oauth/token by grant type.
func (s *Sim) TokenRequests() TokenStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oauth.stats
}

// RevokeRefreshTokens invalidates every refresh token issued so far.
func (s *Sim) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.oauth.refresh {
		rt.revoked = true
	}
}

// ExpireAccessTokens makes every access token issued so far expired (REST
// calls with them answer 401).
func (s *Sim) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for _, at := range s.oauth.access {
		at.expiresAt = past
	}
}

// IssueAccessToken mints a bearer token directly (no OAuth flow) for userID
// ("" = account-level) with scope, valid for AccessTokenTTL.
func (s *Sim) IssueAccessToken(userID, scope string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := "pdsim_at_" + newSecret(40)
	s.oauth.access[tok] = &accessToken{userID: userID, scope: scope, expiresAt: s.now().Add(s.opts.AccessTokenTTL)}
	return tok
}

func (s *Sim) defaultOAuthUserLocked() string {
	if s.oauth.userID != "" {
		return s.oauth.userID
	}
	for u := range s.users.all() {
		if u.Role == RoleOwner || u.Role == RoleAdmin {
			return u.ID
		}
	}
	if len(s.users.order) > 0 {
		return s.users.order[0]
	}
	return ""
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// redirectWith sends a 302 to base with params added to its query.
func redirectWith(w http.ResponseWriter, base *url.URL, params url.Values) {
	u := *base
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			if v != "" {
				q.Set(k, v)
			}
		}
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

func (s *Sim) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.oauth.apps[q.Get("client_id")]
	if app == nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_client", "unknown client_id")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" && len(app.RedirectURIs) == 1 {
		redirectURI = app.RedirectURIs[0]
	}
	if redirectURI == "" || (len(app.RedirectURIs) > 0 && !contains(app.RedirectURIs, redirectURI)) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri is missing or not registered for this client")
		return
	}
	target, err := url.Parse(redirectURI)
	if err != nil || !target.IsAbs() {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri must be an absolute URL")
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		redirectWith(w, target, url.Values{"error": {code}, "error_description": {desc}, "state": {state}})
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "response_type must be code")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" && method != "S256" {
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	if challenge == "" && app.RequirePKCE {
		fail("invalid_request", "code_challenge is required")
		return
	}
	scope := strings.Join(strings.Fields(q.Get("scope")), " ")
	if len(app.Scopes) > 0 {
		for _, sc := range strings.Fields(scope) {
			if !contains(app.Scopes, sc) {
				fail("invalid_scope", "scope "+sc+" is not allowed for this client")
				return
			}
		}
		if scope == "" {
			scope = strings.Join(app.Scopes, " ")
		}
	}
	if scope == "" {
		scope = DefaultOAuthScope
	}
	if s.oauth.grantScope != "" {
		scope = s.oauth.grantScope
	}
	if s.oauth.decision == Deny {
		fail("access_denied", "The user denied the request")
		return
	}
	user := s.defaultOAuthUserLocked()
	if s.users.byID[user] == nil {
		fail("server_error", "no user is available to approve the request")
		return
	}
	code := newSecret(32)
	s.oauth.codes[code] = &authCode{
		clientID: app.ClientID, redirectURI: q.Get("redirect_uri"), scope: scope,
		challenge: challenge, userID: user, expiresAt: s.now().Add(AuthCodeTTL),
	}
	redirectWith(w, target, url.Values{"code": {code}, "state": {state}})
}

// pkceS256 is BASE64URL(SHA256(verifier)) without padding.
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PKCEChallenge returns the S256 code_challenge for a code_verifier.
func PKCEChallenge(verifier string) string { return pkceS256(verifier) }

func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oauth.stats.Total++
	status, code, desc := s.token(w, r, body)
	if code != "" {
		s.oauth.stats.Errors++
		if code == "invalid_client" {
			w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
		writeOAuthError(w, status, code, desc)
	}
}

// token serves /oauth/token; it returns an error code to write, or "" when
// it wrote a token response.
func (s *Sim) token(w http.ResponseWriter, r *http.Request, body []byte) (int, string, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "invalid_request", "use POST"
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return http.StatusBadRequest, "invalid_request", "the body must be form-encoded"
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, secret = u, p
	}
	grant := form.Get("grant_type")
	switch grant {
	case "authorization_code":
		s.oauth.stats.AuthorizationCode++
	case "refresh_token":
		s.oauth.stats.RefreshToken++
	case "client_credentials":
		s.oauth.stats.ClientCredentials++
	default:
		return http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code, refresh_token or client_credentials"
	}
	app := s.oauth.apps[clientID]
	if app == nil {
		return http.StatusUnauthorized, "invalid_client", "unknown client"
	}
	needSecret := app.ClientSecret != "" || grant == "client_credentials"
	if needSecret && subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		return http.StatusUnauthorized, "invalid_client", "client authentication failed"
	}
	now := s.now()
	switch grant {
	case "authorization_code":
		c := s.oauth.codes[form.Get("code")]
		delete(s.oauth.codes, form.Get("code")) // single use, whatever happens next
		switch {
		case c == nil:
			return http.StatusBadRequest, "invalid_grant", "the authorization code is invalid or was already used"
		case !now.Before(c.expiresAt):
			return http.StatusBadRequest, "invalid_grant", "the authorization code has expired"
		case c.clientID != clientID:
			return http.StatusBadRequest, "invalid_grant", "the authorization code was issued to another client"
		case c.redirectURI != form.Get("redirect_uri"):
			return http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request"
		}
		if c.challenge != "" {
			v := form.Get("code_verifier")
			if v == "" {
				return http.StatusBadRequest, "invalid_grant", "code_verifier is required"
			}
			if subtle.ConstantTimeCompare([]byte(pkceS256(v)), []byte(c.challenge)) != 1 {
				return http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge"
			}
		} else if form.Get("code_verifier") != "" {
			return http.StatusBadRequest, "invalid_grant", "code_verifier given but the authorization request had no code_challenge"
		}
		s.issueTokens(w, clientID, c.userID, c.scope, true)
	case "refresh_token":
		rt := s.oauth.refresh[form.Get("refresh_token")]
		switch {
		case rt == nil:
			return http.StatusBadRequest, "invalid_grant", "unknown refresh token"
		case rt.clientID != clientID:
			return http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client"
		case rt.used:
			return http.StatusBadRequest, "invalid_grant", "the refresh token was already used"
		case rt.revoked:
			return http.StatusBadRequest, "invalid_grant", "the refresh token was revoked"
		case !now.Before(rt.expiresAt):
			return http.StatusBadRequest, "invalid_grant", "the refresh token has expired"
		}
		rt.used = true
		s.issueTokens(w, clientID, rt.userID, rt.scope, true)
	case "client_credentials":
		scope := strings.Join(strings.Fields(form.Get("scope")), " ")
		if scope == "" {
			scope = strings.Join(app.Scopes, " ")
		}
		if scope == "" {
			scope = DefaultOAuthScope
		}
		s.issueTokens(w, clientID, "", scope, false)
	}
	return 0, "", ""
}

func (s *Sim) issueTokens(w http.ResponseWriter, clientID, userID, scope string, withRefresh bool) {
	now := s.now()
	at := "pdsim_at_" + newSecret(40)
	s.oauth.access[at] = &accessToken{clientID: clientID, userID: userID, scope: scope, expiresAt: now.Add(s.opts.AccessTokenTTL)}
	resp := map[string]any{
		"access_token": at, "token_type": "bearer", "scope": scope,
		"expires_in": int(s.opts.AccessTokenTTL / time.Second),
	}
	if withRefresh {
		rt := "pdsim_rt_" + newSecret(40)
		s.oauth.refresh[rt] = &refreshToken{clientID: clientID, userID: userID, scope: scope, expiresAt: now.Add(s.opts.RefreshTokenTTL)}
		resp["refresh_token"] = rt
	}
	if contains(strings.Fields(scope), "openid") {
		resp["id_token"] = s.idToken(clientID, userID, now)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// idToken returns a JWT-shaped string whose signature is not real.
func (s *Sim) idToken(clientID, userID string, now time.Time) string {
	enc := func(v any) string { return base64.RawURLEncoding.EncodeToString(mustJSON(v)) }
	header := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "pdsim"}
	claims := map[string]any{
		"iss": "https://identity.pagerduty.com/global/oauth/anonymous", "aud": clientID,
		"iat": now.Unix(), "exp": now.Add(s.opts.AccessTokenTTL).Unix(),
		"subdomain": s.opts.Subdomain, "region": "us", "account_id": "PACCT01",
	}
	if userID != "" {
		claims["sub"], claims["user_id"] = userID, userID
		if u := s.users.byID[userID]; u != nil {
			claims["email"], claims["name"] = u.Email, u.Name
		}
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("pdsim-unsigned"))
}
