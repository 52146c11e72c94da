package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

const (
	oauthClientID     = "e2e-client-id"
	oauthClientSecret = "e2e-client-secret"
	frontendURL       = "http://frontend.test"
	oauthFrontendPath = frontendURL + "/pagerduty/auth/callback?"
	msgOAuthExpired   = "OAuth token expired, please reconnect"
)

// startSimWith is startSim with simulator options (token lifetimes).
func startSimWith(t *testing.T, o pdsim.Options) *simServer {
	t.Helper()
	o.Subdomain, o.WebhookRetryDelay = "acme", 100*time.Millisecond
	sim := pdsim.New(o)
	ts := httptest.NewServer(sim)
	sim.SetBaseURL(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return &simServer{Sim: sim, URL: ts.URL}
}

// oauthEnv enables PagerDuty OAuth with the e2e client, plus extra.
func oauthEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"NEXT_PUBLIC_ENABLE_PAGERDUTY_OAUTH": "true",
		"PAGERDUTY_CLIENT_ID":                oauthClientID,
		"PAGERDUTY_CLIENT_SECRET":            oauthClientSecret,
		"FRONTEND_URL":                       frontendURL,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startOAuthHub starts a hub with OAuth enabled and registers the e2e
// OAuth app at the simulator with the hub's callback as its only redirect URI.
func startOAuthHub(t *testing.T, sim *simServer, backend string, extra map[string]string) *hubProc {
	t.Helper()
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: backend, env: oauthEnv(extra)})
	sim.AddOAuthApp(pdsim.OAuthApp{
		ClientID: oauthClientID, ClientSecret: oauthClientSecret, Name: "Aurora e2e",
		RedirectURIs: []string{h.URL + "/pagerduty/oauth/callback"}, RequirePKCE: true,
	})
	return h
}

// oauthLogin is POST /pagerduty/oauth/login; it returns the oauth_url: the
// hub's start URL, which binds the login to the browser that follows it.
func (h *hubProc) oauthLogin(c caller) string {
	h.t.Helper()
	res := h.do(c, "POST", "/pagerduty/oauth/login", nil)
	u, _ := res.JSON["oauth_url"].(string)
	if res.Status != 200 || !strings.HasPrefix(u, h.URL+"/pagerduty/oauth/start?state=") {
		h.t.Fatalf("oauth login = %d %s", res.Status, res.Body)
	}
	return u
}

// browser is a user's browser: it keeps cookies and does not follow redirects.
type browser struct{ client *http.Client }

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(t *testing.T, u string) response {
	t.Helper()
	res, err := b.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// startAt follows a login's start URL in b and returns where the hub sends
// it: the provider's authorization URL. The hub sets the binding cookie.
func startAt(t *testing.T, h *hubProc, b *browser, startURL string) string {
	t.Helper()
	res := b.get(t, startURL)
	loc := res.Header.Get("Location")
	if res.Status != http.StatusFound || strings.HasPrefix(loc, oauthFrontendPath) {
		t.Fatalf("start = %d %q %s\n%s", res.Status, loc, res.Body, h.Logs())
	}
	ck := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(ck, "aurora_oauth_") || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax") ||
		!strings.Contains(ck, "path=/pagerduty/oauth") || !strings.Contains(ck, "max-age=") {
		t.Fatalf("binding cookie %q", ck)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("start headers %v", res.Header)
	}
	return loc
}

// authorizeAt follows an authorization URL at the simulator, as the user's
// browser would, and returns where the simulator redirects it: the hub's callback.
func authorizeAt(t *testing.T, h *hubProc, authURL string) string {
	t.Helper()
	res := doRequest(t, mustRequest(t, "GET", authURL))
	loc := res.Header.Get("Location")
	if res.Status != http.StatusFound || !strings.HasPrefix(loc, h.URL+"/pagerduty/oauth/callback?") {
		t.Fatalf("authorize = %d %q %s", res.Status, loc, res.Body)
	}
	return loc
}

// frontendOutcome reads a redirect to the frontend's OAuth page: "success"
// or the error code.
func frontendOutcome(t *testing.T, what string, res response) string {
	t.Helper()
	loc := res.Header.Get("Location")
	if res.Status != http.StatusFound || !strings.HasPrefix(loc, oauthFrontendPath) {
		t.Fatalf("%s = %d %q %s", what, res.Status, loc, res.Body)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s headers %v", what, res.Header)
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(loc, oauthFrontendPath))
	switch {
	case q.Get("oauth") == "success" && len(q) == 1:
		return "success"
	case q.Get("oauth") == "failed" && q.Get("error") != "":
		return q.Get("error")
	}
	t.Fatalf("%s redirected to %q", what, loc)
	return ""
}

// callback requests the hub's callback URL in b (without following the
// final redirect to the frontend) and returns the outcome.
func callback(t *testing.T, b *browser, callbackURL string) string {
	t.Helper()
	return frontendOutcome(t, "callback", b.get(t, callbackURL))
}

// connectOAuth runs the whole flow for c in one browser and expects success.
func connectOAuth(t *testing.T, h *hubProc, c caller) (callbackURL string) {
	t.Helper()
	b := newBrowser(t)
	callbackURL = authorizeAt(t, h, startAt(t, h, b, h.oauthLogin(c)))
	if got := callback(t, b, callbackURL); got != "success" {
		t.Fatalf("callback outcome = %s\n%s", got, h.Logs())
	}
	return callbackURL
}

// TestOAuthBoundToBrowser: a login completes only in the browser that
// followed its oauth_url; its callback, completed in another client, is
// refused without consuming it; the start URL is single use.
func TestOAuthBoundToBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		h := startOAuthHub(t, sim, backend, nil)
		mallory := caller{user: "user-mallory"}
		startURL := h.oauthLogin(mallory)
		own := newBrowser(t)
		cbURL := authorizeAt(t, h, startAt(t, h, own, startURL))

		other := newBrowser(t)
		if got := frontendOutcome(t, "second start", other.get(t, startURL)); got != "invalid" {
			t.Fatalf("second start = %s", got)
		}
		if got := callback(t, other, cbURL); got != "invalid" {
			t.Fatalf("callback in another browser = %s", got)
		}
		if got := callback(t, newBrowser(t), cbURL); got != "invalid" {
			t.Fatalf("callback in a fresh browser = %s", got)
		}
		if n := sim.TokenRequests().AuthorizationCode; n != 0 {
			t.Fatalf("%d code exchanges for refused callbacks", n)
		}
		if res := h.do(mallory, "GET", "/pagerduty", nil); string(res.Body) != `{"connected":false}` {
			t.Fatalf("a refused callback connected: %s", res.Body)
		}
		if got := callback(t, own, cbURL); got != "success" {
			t.Fatalf("callback in the starting browser = %s\n%s", got, h.Logs())
		}
		if res := h.do(mallory, "GET", "/pagerduty", nil); res.JSON["connected"] != true {
			t.Fatalf("GET = %s", res.Body)
		}
	})
}

func TestOAuthConnect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		h := startOAuthHub(t, sim, backend, nil)
		bob := caller{user: "user-bob", org: "org-1"}
		carol := caller{user: "user-carol", org: "org-1"}

		b := newBrowser(t)
		authURL := startAt(t, h, b, h.oauthLogin(bob))
		u, _ := url.Parse(authURL)
		q := u.Query()
		if !strings.HasPrefix(authURL, sim.URL+"/oauth/authorize?") || q.Get("client_id") != oauthClientID ||
			q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
			len(q.Get("state")) < 22 || q.Get("redirect_uri") != h.URL+"/pagerduty/oauth/callback" ||
			!strings.Contains(q.Get("scope"), "incidents.read") || q.Has("code_verifier") {
			t.Fatalf("oauth_url = %s", authURL)
		}
		cbURL := authorizeAt(t, h, authURL)
		if got := callback(t, b, cbURL); got != "success" {
			t.Fatalf("callback = %s\n%s", got, h.Logs())
		}

		// The organisation's connection, seen by another of its users.
		get := h.do(carol, "GET", "/pagerduty", nil)
		want := map[string]any{
			"connected": true, "displayName": "PagerDuty", "authType": "oauth",
			"externalUserEmail": "john@example.com", "externalUserName": "John Doe", "accountSubdomain": "acme",
		}
		for k, v := range want {
			if get.JSON[k] != v {
				t.Errorf("GET %s = %#v, want %#v (%s)", k, get.JSON[k], v, get.Body)
			}
		}
		caps, _ := get.JSON["capabilities"].(map[string]any)
		if caps["can_read_incidents"] != true || caps["can_write_incidents"] != false {
			t.Errorf("capabilities = %v (default scopes grant no incident write)", caps)
		}

		// A replayed callback is refused before any exchange.
		if got := callback(t, b, cbURL); got != "invalid" {
			t.Fatalf("replay = %s", got)
		}
		if n := sim.TokenRequests().AuthorizationCode; n != 1 {
			t.Fatalf("%d code exchanges, want 1", n)
		}

		res := h.do(bob, "PATCH", "/pagerduty", map[string]any{"token": adminToken})
		if res.Status != 400 || string(res.Body) != `{"error":"Cannot rotate OAuth tokens"}` {
			t.Fatalf("PATCH = %d %s", res.Status, res.Body)
		}

		// Nothing secret reaches the logs.
		cq, _ := url.Parse(cbURL)
		logs := h.Logs()
		for _, secret := range []string{cq.Query().Get("code"), cq.Query().Get("state"), oauthClientSecret, "pdsim_at_", "pdsim_rt_"} {
			if strings.Contains(logs, secret) {
				t.Fatalf("the logs contain a secret value")
			}
		}

		// DELETE disconnects (revocation is best effort: the simulator has no endpoint).
		if res := h.do(bob, "DELETE", "/pagerduty", nil); res.Status != 200 || string(res.Body) != `{"success":true}` {
			t.Fatalf("DELETE = %d %s", res.Status, res.Body)
		}
		if res := h.do(carol, "GET", "/pagerduty", nil); string(res.Body) != `{"connected":false}` {
			t.Fatalf("GET after DELETE = %s", res.Body)
		}
	})
}

func TestOAuthRefusedCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		h := startOAuthHub(t, sim, backend, map[string]string{"HUB_OAUTH_STATE_TTL": "1s"})

		t.Run("forged state", func(t *testing.T) {
			for _, q := range []string{
				"code=abc&state=Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2VkZm9yZ2Vk",
				"code=abc",
				"state=a&state=b&code=abc",
				"code=abc&state=" + strings.Repeat("A", 200),
			} {
				if got := callback(t, newBrowser(t), h.URL+"/pagerduty/oauth/callback?"+q); got != "invalid" {
					t.Errorf("%.50s = %s", q, got)
				}
			}
		})
		t.Run("expired state", func(t *testing.T) {
			b := newBrowser(t)
			authURL := startAt(t, h, b, h.oauthLogin(alice))
			late := h.oauthLogin(alice)
			time.Sleep(1200 * time.Millisecond)
			if got := callback(t, b, authorizeAt(t, h, authURL)); got != "invalid" {
				t.Fatalf("= %s", got)
			}
			if got := frontendOutcome(t, "late start", b.get(t, late)); got != "invalid" {
				t.Fatalf("start after expiry = %s", got)
			}
		})
		t.Run("denied", func(t *testing.T) {
			sim.SetOAuthDecision(pdsim.Deny)
			defer sim.SetOAuthDecision(pdsim.Approve)
			b := newBrowser(t)
			if got := callback(t, b, authorizeAt(t, h, startAt(t, h, b, h.oauthLogin(alice)))); got != "access_denied" {
				t.Fatalf("= %s", got)
			}
		})
		if n := sim.TokenRequests().AuthorizationCode; n != 0 {
			t.Fatalf("%d code exchanges for refused callbacks", n)
		}
		t.Run("verifier does not match the challenge", func(t *testing.T) {
			// Authorize with A's challenge, come back with B's state (and so B's verifier).
			br := newBrowser(t)
			a, _ := url.Parse(startAt(t, h, br, h.oauthLogin(alice)))
			b, _ := url.Parse(startAt(t, h, br, h.oauthLogin(alice)))
			q := a.Query()
			q.Set("state", b.Query().Get("state"))
			a.RawQuery = q.Encode()
			if got := callback(t, br, authorizeAt(t, h, a.String())); got != "exchange_failed" {
				t.Fatalf("= %s", got)
			}
			if st := sim.TokenRequests(); st.AuthorizationCode != 1 || st.Errors != 1 {
				t.Fatalf("token requests %+v", st)
			}
		})
		if res := h.do(alice, "GET", "/pagerduty", nil); string(res.Body) != `{"connected":false}` {
			t.Fatalf("a refused callback stored something: %s", res.Body)
		}
	})
}

func TestOAuthRefresh(t *testing.T) {
	const ttl, margin = 4 * time.Second, time.Second
	// untilRefresh waits until the hub considers the access token due.
	untilRefresh := func() { time.Sleep(ttl - margin + 300*time.Millisecond) }
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSimWith(t, pdsim.Options{AccessTokenTTL: ttl})
		h := startOAuthHub(t, sim, backend, map[string]string{
			"HUB_OAUTH_REFRESH_MARGIN": margin.String(),
			"PAGERDUTY_OAUTH_SCOPES":   "users.read incidents.read incidents.write services.read abilities.read webhook_subscriptions.read webhook_subscriptions.write",
		})
		connectOAuth(t, h, alice)
		refreshes := func() int { return sim.TokenRequests().RefreshToken }
		if res := h.do(alice, "GET", "/pagerduty", nil); res.JSON["connected"] != true || refreshes() != 0 {
			t.Fatalf("fresh GET = %s, %d refreshes", res.Body, refreshes())
		}

		// Eight concurrent uses of a token due for refresh refresh it once.
		untilRefresh()
		var wg sync.WaitGroup
		results := make([]response, 8)
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = h.do(alice, "GET", "/pagerduty", nil) }()
		}
		wg.Wait()
		for i, res := range results {
			if res.Status != 200 || res.JSON["connected"] != true || res.JSON["authType"] != "oauth" {
				t.Fatalf("GET %d = %d %s", i, res.Status, res.Body)
			}
		}
		if n := refreshes(); n != 1 {
			t.Fatalf("%d refreshes for concurrent uses, want 1\n%s", n, h.Logs())
		}

		// A second refresh succeeds only if the rotated refresh token was stored.
		untilRefresh()
		if res := h.do(alice, "GET", "/pagerduty", nil); res.JSON["connected"] != true || refreshes() != 2 {
			t.Fatalf("second refresh: GET = %s, %d refreshes", res.Body, refreshes())
		}
		if st := sim.TokenRequests(); st.Errors != 0 {
			t.Fatalf("token errors: %+v", st)
		}
		// Webhook provisioning uses the same token source, and PagerDuty takes the refreshed token.
		untilRefresh()
		res := h.do(alice, "POST", "/pagerduty/webhook-subscription", nil)
		if res.Status != 201 || refreshes() != 3 {
			t.Fatalf("webhook subscription = %d %s, %d refreshes", res.Status, res.Body, refreshes())
		}

		// A revoked refresh token: the status shows the connection expired.
		sim.RevokeRefreshTokens()
		untilRefresh()
		for i := 0; i < 2; i++ {
			res := h.do(alice, "GET", "/pagerduty", nil)
			if res.Status != 200 || string(res.Body) != `{"connected":false,"error":"`+msgOAuthExpired+`"}` {
				t.Fatalf("GET after revocation = %d %s", res.Status, res.Body)
			}
		}
		if n := refreshes(); n != 4 {
			t.Fatalf("%d refreshes, want 4 (an expired connection is not retried)", n)
		}
		res = h.do(alice, "DELETE", "/pagerduty/webhook-subscription", nil)
		if res.Status != 401 || res.JSON["error"] != msgOAuthExpired {
			t.Fatalf("provisioning with an expired connection = %d %s", res.Status, res.Body)
		}
		// Reconnecting brings it back.
		connectOAuth(t, h, alice)
		if res := h.do(alice, "GET", "/pagerduty", nil); res.JSON["connected"] != true {
			t.Fatalf("GET after reconnect = %s", res.Body)
		}
		if logs := h.Logs(); strings.Contains(logs, "pdsim_at_") || strings.Contains(logs, "pdsim_rt_") {
			t.Fatal("the logs contain a token")
		}
	})
}

func TestOAuthConfiguration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)

		t.Run("disabled", func(t *testing.T) {
			h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{
				"PAGERDUTY_CLIENT_ID": oauthClientID, "PAGERDUTY_CLIENT_SECRET": oauthClientSecret, "FRONTEND_URL": frontendURL,
			}})
			res := h.do(alice, "POST", "/pagerduty/oauth/login", nil)
			if res.Status != 403 || string(res.Body) != `{"error":"PagerDuty OAuth is not enabled"}` {
				t.Fatalf("login = %d %s", res.Status, res.Body)
			}
			if got := callback(t, newBrowser(t), h.URL+"/pagerduty/oauth/callback?code=abc&state=def"); got != "oauth_not_enabled" {
				t.Fatalf("callback = %s", got)
			}
			if got := frontendOutcome(t, "start", newBrowser(t).get(t, h.URL+"/pagerduty/oauth/start?state=def")); got != "oauth_not_enabled" {
				t.Fatalf("start = %s", got)
			}
		})
		t.Run("missing credentials", func(t *testing.T) {
			h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{
				"NEXT_PUBLIC_ENABLE_PAGERDUTY_OAUTH": "true", "PAGERDUTY_CLIENT_SECRET": oauthClientSecret, "FRONTEND_URL": frontendURL,
			}})
			res := h.do(alice, "POST", "/pagerduty/oauth/login", nil)
			if res.Status != 503 || string(res.Body) != `{"error":"Missing OAuth credentials: PAGERDUTY_CLIENT_ID"}` {
				t.Fatalf("login = %d %s", res.Status, res.Body)
			}
			if got := callback(t, newBrowser(t), h.URL+"/pagerduty/oauth/callback?code=abc&state=def"); got != "unexpected" {
				t.Fatalf("callback = %s", got)
			}
			// Everything else is served.
			if res := h.do(alice, "POST", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 200 {
				t.Fatalf("token connect = %d %s", res.Status, res.Body)
			}
		})
		t.Run("login needs management authentication", func(t *testing.T) {
			h := startOAuthHub(t, startSim(t), backend, nil)
			none := ""
			if res := h.do(caller{user: "u1", secret: &none}, "POST", "/pagerduty/oauth/login", nil); res.Status != 403 {
				t.Fatalf("without secret = %d %s", res.Status, res.Body)
			}
			if res := h.do(caller{}, "POST", "/pagerduty/oauth/login", nil); res.Status != 401 {
				t.Fatalf("without user = %d %s", res.Status, res.Body)
			}
		})
	})
}
