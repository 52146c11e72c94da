package pdsim

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testClient   = "hub-client"
	testSecret   = "hub-secret"
	testRedirect = "http://127.0.0.1:8080/oauth/callback"
	testVerifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

func oauthEnv(t *testing.T, opts Options) *env {
	e := newEnv(t, opts)
	e.sim.AddOAuthApp(OAuthApp{ClientID: testClient, ClientSecret: testSecret, RedirectURIs: []string{testRedirect}})
	return e
}

// authorize runs /oauth/authorize and returns the redirect's query.
func (e *env) authorize(t *testing.T, params url.Values) (int, url.Values) {
	t.Helper()
	q := url.Values{
		"client_id": {testClient}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {"openid users.read incidents.read"}, "state": {"xyz"},
		"code_challenge": {PKCEChallenge(testVerifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range params {
		if v == nil {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	r := e.do("GET", "/oauth/authorize?"+q.Encode(), "", nil)
	if r.status != 302 {
		return r.status, nil
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), testRedirect) {
		t.Fatalf("Location = %q", r.header.Get("Location"))
	}
	return r.status, loc.Query()
}

func (e *env) token(form url.Values) result {
	return e.do("POST", "/oauth/token", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect},
		"client_id": {testClient}, "client_secret": {testSecret}, "code_verifier": {testVerifier}}
}

func oauthErr(t *testing.T, r result) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON: %s", r.body)
	}
	s, _ := m["error"].(string)
	return s
}

func TestOAuthCodePKCEExchange(t *testing.T) {
	e := oauthEnv(t, Options{})
	e.sim.SetOAuthUser(DemoResponderID)
	status, q := e.authorize(t, nil)
	if status != 302 || q.Get("code") == "" || q.Get("state") != "xyz" {
		t.Fatalf("authorize: %d %v", status, q)
	}
	r := e.token(codeForm(q.Get("code")))
	if r.status != 200 {
		t.Fatalf("token = %d %s", r.status, r.body)
	}
	tok := r.json(t)
	if tok["token_type"] != "bearer" || tok["access_token"] == "" || tok["refresh_token"] == "" ||
		tok["scope"] != "openid users.read incidents.read" || tok["expires_in"] != float64(86400) {
		t.Errorf("token response = %v", tok)
	}
	// id_token is JWT-shaped with the account claims.
	parts := strings.Split(tok["id_token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("id_token = %v", tok["id_token"])
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	_ = json.Unmarshal(claims, &c)
	if c["subdomain"] != "acme" || c["user_id"] != DemoResponderID {
		t.Errorf("claims = %v", c)
	}
	bearer := "Bearer " + tok["access_token"].(string)
	me := e.do("GET", "/users/me", bearer, nil)
	if me.status != 200 || me.json(t)["user"].(map[string]any)["id"] != DemoResponderID {
		t.Errorf("/users/me with bearer = %d %s", me.status, me.body)
	}
	// Scopes are enforced.
	for path, want := range map[string]int{"/incidents": 200, "/users": 200, "/services": 403, "/abilities": 403} {
		if r := e.do("GET", path, bearer, nil); r.status != want {
			t.Errorf("GET %s = %d, want %d", path, r.status, want)
		}
	}
	if r := e.do("POST", "/incidents", bearer, map[string]any{}); r.status != 403 {
		t.Errorf("POST without incidents.write = %d", r.status)
	}
	// The code is single use.
	if r := e.token(codeForm(q.Get("code"))); r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Errorf("code reuse = %d %s", r.status, r.body)
	}
	if s := e.sim.TokenRequests(); s.Total != 2 || s.AuthorizationCode != 2 || s.Errors != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestOAuthCodeExchangeErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(f url.Values)
		advance time.Duration
		status  int
		code    string
	}{
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", "not-the-verifier-0000000000000000000000000") }, 0, 400, "invalid_grant"},
		{"missing verifier", func(f url.Values) { f.Del("code_verifier") }, 0, 400, "invalid_grant"},
		{"wrong redirect", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:8080/other") }, 0, 400, "invalid_grant"},
		{"wrong secret", func(f url.Values) { f.Set("client_secret", "nope") }, 0, 401, "invalid_client"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "nope") }, 0, 401, "invalid_client"},
		{"unknown code", func(f url.Values) { f.Set("code", "nope") }, 0, 400, "invalid_grant"},
		{"expired code", func(url.Values) {}, 31 * time.Second, 400, "invalid_grant"},
		{"bad grant type", func(f url.Values) { f.Set("grant_type", "password") }, 0, 400, "unsupported_grant_type"},
		{"still valid at 29s", func(url.Values) {}, 29 * time.Second, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := oauthEnv(t, Options{})
			_, q := e.authorize(t, nil)
			e.clock.Advance(tc.advance)
			f := codeForm(q.Get("code"))
			tc.mutate(f)
			r := e.token(f)
			if r.status != tc.status {
				t.Fatalf("status = %d %s", r.status, r.body)
			}
			if tc.code != "" {
				if got := oauthErr(t, r); got != tc.code {
					t.Errorf("error = %q, want %q", got, tc.code)
				}
				var m map[string]any
				_ = json.Unmarshal(r.body, &m)
				if m["error_description"] == "" || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("error body/headers: %s %v", r.body, r.header)
				}
			}
		})
	}
}

func TestOAuthAuthorizeVariants(t *testing.T) {
	e := oauthEnv(t, Options{})
	// Denied.
	e.sim.SetOAuthDecision(Deny)
	_, q := e.authorize(t, nil)
	if q.Get("error") != "access_denied" || q.Get("state") != "xyz" || q.Get("code") != "" {
		t.Errorf("deny = %v", q)
	}
	e.sim.SetOAuthDecision(Approve)
	if _, q := e.authorize(t, url.Values{"code_challenge_method": {"plain"}}); q.Get("error") != "invalid_request" {
		t.Errorf("plain PKCE = %v", q)
	}
	if _, q := e.authorize(t, url.Values{"response_type": {"token"}}); q.Get("error") != "unsupported_response_type" {
		t.Errorf("response_type = %v", q)
	}
	// Unregistered redirect or client: no redirect at all.
	if status, _ := e.authorize(t, url.Values{"redirect_uri": {"https://evil.example/cb"}}); status != 400 {
		t.Errorf("unregistered redirect = %d", status)
	}
	if status, _ := e.authorize(t, url.Values{"client_id": {"nope"}}); status != 400 {
		t.Errorf("unknown client = %d", status)
	}
	// Granted scope override (user grants read only).
	e.sim.SetOAuthGrantedScope("openid read")
	_, q = e.authorize(t, nil)
	r := e.token(codeForm(q.Get("code")))
	if r.json(t)["scope"] != "openid read" {
		t.Errorf("scope = %v", r.json(t)["scope"])
	}
	bearer := "Bearer " + r.json(t)["access_token"].(string)
	if r := e.do("GET", "/services", bearer, nil); r.status != 200 {
		t.Errorf("classic read GET = %d", r.status)
	}
	if r := e.do("POST", "/incidents", bearer, map[string]any{}); r.status != 403 {
		t.Errorf("classic read POST = %d", r.status)
	}
	// client_credentials gives an account-level token without refresh token.
	r = e.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret}, "scope": {"incidents.read"}})
	if r.status != 200 || r.json(t)["refresh_token"] != nil {
		t.Fatalf("client_credentials = %d %s", r.status, r.body)
	}
	if me := e.do("GET", "/users/me", "Bearer "+r.json(t)["access_token"].(string), nil); me.status != 400 {
		t.Errorf("/users/me with account token = %d", me.status)
	}
}

func TestOAuthRefreshRotation(t *testing.T) {
	e := oauthEnv(t, Options{AccessTokenTTL: time.Hour})
	_, q := e.authorize(t, url.Values{"scope": {"openid write"}})
	first := e.token(codeForm(q.Get("code"))).json(t)
	if first["expires_in"] != float64(3600) {
		t.Errorf("expires_in = %v", first["expires_in"])
	}
	refresh := func(rt string) result {
		return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {testClient}, "client_secret": {testSecret}})
	}
	r := refresh(first["refresh_token"].(string))
	if r.status != 200 {
		t.Fatalf("refresh = %d %s", r.status, r.body)
	}
	second := r.json(t)
	if second["refresh_token"] == first["refresh_token"] || second["access_token"] == first["access_token"] || second["scope"] != "openid write" {
		t.Errorf("refresh did not rotate: %v", second)
	}
	// The used refresh token is now rejected; the new one works once.
	if r := refresh(first["refresh_token"].(string)); r.status != 400 || oauthErr(t, r) != "invalid_grant" {
		t.Errorf("reused refresh token = %d %s", r.status, r.body)
	}
	r = refresh(second["refresh_token"].(string))
	if r.status != 200 {
		t.Fatalf("second refresh = %d %s", r.status, r.body)
	}
	third := r.json(t)
	if s := e.sim.TokenRequests(); s.RefreshToken != 3 || s.AuthorizationCode != 1 || s.Errors != 1 {
		t.Errorf("stats = %+v", s)
	}
	// Wrong client.
	e.sim.AddOAuthApp(OAuthApp{ClientID: "other", ClientSecret: "x"})
	if r := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third["refresh_token"].(string)}, "client_id": {"other"}, "client_secret": {"x"}}); oauthErr(t, r) != "invalid_grant" {
		t.Errorf("other client = %s", r.body)
	}
	// Revoked.
	e.sim.RevokeRefreshTokens()
	if r := refresh(third["refresh_token"].(string)); oauthErr(t, r) != "invalid_grant" {
		t.Errorf("revoked = %s", r.body)
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	e := oauthEnv(t, Options{AccessTokenTTL: time.Hour})
	_, q := e.authorize(t, nil)
	tok := e.token(codeForm(q.Get("code"))).json(t)
	bearer := "Bearer " + tok["access_token"].(string)
	if r := e.do("GET", "/users/me", bearer, nil); r.status != 200 {
		t.Fatalf("fresh token = %d", r.status)
	}
	e.clock.Advance(59 * time.Minute)
	if r := e.do("GET", "/users/me", bearer, nil); r.status != 200 {
		t.Fatalf("token at 59m = %d", r.status)
	}
	e.clock.Advance(time.Minute)
	r := e.do("GET", "/users/me", bearer, nil)
	if r.status != 401 || r.errorCode(t) != 2006 {
		t.Fatalf("expired token = %d %s", r.status, r.body)
	}
	// ExpireAccessTokens expires a fresh one at once; refresh still works.
	r = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {testClient}, "client_secret": {testSecret}})
	bearer = "Bearer " + r.json(t)["access_token"].(string)
	e.sim.ExpireAccessTokens()
	if r := e.do("GET", "/users/me", bearer, nil); r.status != 401 {
		t.Errorf("after ExpireAccessTokens = %d", r.status)
	}
}
