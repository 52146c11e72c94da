package oauth_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/oauth"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/hashicorp/go-hclog"
)

func TestParseCallback(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		raw     string
		want    oauth.CallbackParams
		wantErr bool
	}{
		{raw: "code=abc.DEF-1~&state=AbC-_09", want: oauth.CallbackParams{State: "AbC-_09", Code: "abc.DEF-1~"}},
		{raw: "error=access_denied&error_description=The+user+said+no&state=s1", want: oauth.CallbackParams{State: "s1", Error: "access_denied"}},
		{raw: "", want: oauth.CallbackParams{}},
		{raw: "state=a&state=b", wantErr: true},
		{raw: "state=" + long, wantErr: true},
		{raw: "state=a%2Bb", wantErr: true},
		{raw: "code=a%20b&state=s", wantErr: true},
		{raw: "code=a%00b&state=s", wantErr: true},
		{raw: "error=Access-Denied&state=s", wantErr: true},
		{raw: "state=s&x=%zz", wantErr: true},
		{raw: "state=s&pad=" + strings.Repeat("x", 5000), wantErr: true},
	}
	for _, tt := range tests {
		got, err := oauth.ParseCallback(tt.raw)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseCallback(%.40q) = %+v, %v", tt.raw, got, err)
		}
	}
}

func TestFrontendRedirect(t *testing.T) {
	cfg := &config.Config{FrontendURL: "https://app.example.com"}
	if got := oauth.FrontendRedirect(cfg, "pagerduty", ""); got != "https://app.example.com/pagerduty/auth/callback?oauth=success" {
		t.Error(got)
	}
	if got := oauth.FrontendRedirect(cfg, "pagerduty", oauth.CodeInvalid); got != "https://app.example.com/pagerduty/auth/callback?oauth=failed&error=invalid" {
		t.Error(got)
	}
	if got := oauth.FrontendRedirect(&config.Config{}, "pagerduty", ""); got != "http://localhost:3000/pagerduty/auth/callback?oauth=success" {
		t.Error(got)
	}
}

type fakePlugin struct {
	base string
	mu   sync.Mutex
	seen []sdk.Credentials
	fail bool
}

func (f *fakePlugin) OAuthConfig(context.Context) (*sdk.OAuthConfig, error) {
	return &sdk.OAuthConfig{
		AuthURL: f.base + "/oauth/authorize", TokenURL: f.base + "/oauth/token",
		DefaultScopes: []string{"users.read", "incidents.read"}, RequirePKCE: true,
	}, nil
}

func (f *fakePlugin) ValidateCredentials(_ context.Context, c sdk.Credentials) (*sdk.Validation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, c)
	if f.fail {
		return nil, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: "Unauthorized"}
	}
	u := "PADMIN1"
	return &sdk.Validation{Identity: sdk.Identity{UserID: &u, AccountSubdomain: "acme"}, Capabilities: map[string]bool{"can_read_incidents": true}}, nil
}

type providers map[string]oauth.Provider

func (p providers) Provider(name string) (oauth.Provider, bool) { v, ok := p[name]; return v, ok }

type flow struct {
	t     *testing.T
	sim   *pdsim.Sim
	svc   *oauth.Service
	conns *connections.Service
	plug  *fakePlugin
	now   time.Time
	cfg   *config.Config
}

func newFlow(t *testing.T, env map[string]string) *flow {
	t.Helper()
	sim := pdsim.New(pdsim.Options{Subdomain: "acme"})
	ts := httptest.NewServer(sim)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	sim.SetBaseURL(ts.URL)
	sim.AddUser(pdsim.User{ID: "PADMIN1", Name: "John Doe", Email: "john@example.com", Role: "admin"})
	full := map[string]string{
		"NEXT_PUBLIC_ENABLE_PAGERDUTY_OAUTH": "true", "PAGERDUTY_CLIENT_ID": "cid", "PAGERDUTY_CLIENT_SECRET": "csecret",
		"FRONTEND_URL": "http://front.test", "NEXT_PUBLIC_BACKEND_URL": "http://hub.test",
	}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.FromEnv(full)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddOAuthApp(pdsim.OAuthApp{ClientID: "cid", ClientSecret: "csecret", RedirectURIs: []string{"http://hub.test/pagerduty/oauth/callback"}, RequirePKCE: true})
	key := make([]byte, 32)
	rand.Read(key)
	sealer, _ := secrets.New(key)
	st := storetest.Open(t, "sqlite")
	f := &flow{t: t, sim: sim, plug: &fakePlugin{base: ts.URL}, now: time.Now().UTC(), cfg: cfg}
	f.conns = &connections.Service{Store: st, Sealer: sealer, Logger: hclog.NewNullLogger()}
	f.svc = oauth.New(oauth.Options{
		Config: cfg, Store: st, Sealer: sealer, Connections: f.conns, Logger: hclog.NewNullLogger(),
		Providers: providers{"pagerduty": {Name: "pagerduty", DisplayName: "PagerDuty", HasOAuth: true, Client: f.plug}},
		Now:       func() time.Time { return f.now },
	})
	f.conns.OAuth = f.svc
	return f
}

// authorize follows an authorization URL at the simulator and returns the
// query the simulator redirected to the callback with.
func (f *flow) authorize(authURL string) string {
	f.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(authURL)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), "http://hub.test/pagerduty/oauth/callback?") {
		f.t.Fatalf("authorize = %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.RawQuery
}

func (f *flow) login(owner hub.Owner) string {
	f.t.Helper()
	u, err := f.svc.Login(context.Background(), "pagerduty", owner)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// browser holds the cookies a browser keeps.
type browser map[string]string

func (b browser) cookie(name string) string { return b[name] }

// start follows a login's start URL in b and returns the authorization URL.
func (f *flow) start(b browser, startURL string) string {
	f.t.Helper()
	u, err := url.Parse(startURL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "http://hub.test/pagerduty/oauth/start" {
		f.t.Fatalf("start URL %q", startURL)
	}
	res := f.svc.Start(context.Background(), "pagerduty", u.RawQuery)
	c := res.Cookie
	if res.Code != "" || res.AuthURL == "" || c == nil {
		f.t.Fatalf("start = %+v", res)
	}
	if !strings.HasPrefix(c.Name, "aurora_oauth_") || len(c.Value) < 43 || c.Path != "/pagerduty/oauth" || !c.HttpOnly ||
		c.SameSite != http.SameSiteLaxMode || c.Secure || c.MaxAge <= 0 || c.MaxAge > int(config.DefaultOAuthStateTTL/time.Second) {
		f.t.Fatalf("binding cookie %+v", c)
	}
	b[c.Name] = c.Value
	return res.AuthURL
}

// authorizeIn runs a login up to the callback in b and returns the callback's query.
func (f *flow) authorizeIn(b browser, owner hub.Owner) string {
	f.t.Helper()
	return f.authorize(f.start(b, f.login(owner)))
}

func TestFlow(t *testing.T) {
	ctx := context.Background()
	owner := hub.Owner{UserID: "u1", OrgID: "org-1"}

	t.Run("success and replay", func(t *testing.T) {
		f := newFlow(t, nil)
		b := browser{}
		authURL := f.start(b, f.login(owner))
		u, _ := url.Parse(authURL)
		q := u.Query()
		if len(q.Get("state")) < 43 || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
			q.Get("redirect_uri") != "http://hub.test/pagerduty/oauth/callback" || q.Get("scope") != "users.read incidents.read" || q.Get("client_id") != "cid" {
			t.Fatalf("authorization URL %s", authURL)
		}
		cb := f.authorize(authURL)
		res := f.svc.Callback(ctx, "pagerduty", cb, b.cookie)
		if res.Code != "" || res.Conn == nil || res.Owner != owner {
			t.Fatalf("callback = %+v", res)
		}
		if res.Conn.AuthType != sdk.AuthOAuth || res.Conn.OwnerKind != "org" || res.Conn.DisplayName != "PagerDuty" {
			t.Fatalf("connection = %+v", res.Conn)
		}
		if seen := f.plug.seen; len(seen) != 1 || seen[0].Kind != sdk.AuthOAuth || seen[0].Scope != "users.read incidents.read" || seen[0].Token == "" {
			t.Fatalf("validated %v", seen)
		}
		creds, err := f.conns.Credentials(ctx, res.Conn)
		if err != nil || creds.Token != f.plug.seen[0].Token || creds.Scope != "users.read incidents.read" {
			t.Fatalf("stored credentials %v %v", creds, err)
		}
		if res.Cookie == nil || res.Cookie.MaxAge >= 0 || b[res.Cookie.Name] == "" {
			t.Fatalf("the binding cookie is not deleted: %+v", res.Cookie)
		}
		if again := f.svc.Callback(ctx, "pagerduty", cb, b.cookie); again.Code != oauth.CodeInvalid {
			t.Fatalf("replay = %+v", again)
		}
		if n := f.sim.TokenRequests().AuthorizationCode; n != 1 {
			t.Fatalf("%d code exchanges", n)
		}
	})

	t.Run("forged, expired and malformed state", func(t *testing.T) {
		f := newFlow(t, nil)
		for _, raw := range []string{"code=x&state=forged0123456789forged0123456789forged01234", "code=x", "code=x&state=a&state=b"} {
			if res := f.svc.Callback(ctx, "pagerduty", raw, browser{}.cookie); res.Code != oauth.CodeInvalid {
				t.Errorf("%q = %+v", raw, res)
			}
			if res := f.svc.Start(ctx, "pagerduty", raw); res.Code != oauth.CodeInvalid || res.Cookie != nil {
				t.Errorf("start %q = %+v", raw, res)
			}
		}
		b := browser{}
		authURL := f.start(b, f.login(owner))
		late := f.login(owner)
		f.now = f.now.Add(config.DefaultOAuthStateTTL + time.Second)
		if res := f.svc.Callback(ctx, "pagerduty", f.authorize(authURL), b.cookie); res.Code != oauth.CodeInvalid {
			t.Fatalf("expired = %+v", res)
		}
		if res := f.svc.Start(ctx, "pagerduty", strings.SplitN(late, "?", 2)[1]); res.Code != oauth.CodeInvalid || res.Cookie != nil {
			t.Fatalf("expired start = %+v", res)
		}
		if n := f.sim.TokenRequests().AuthorizationCode; n != 0 {
			t.Fatalf("%d code exchanges", n)
		}
		if c, _ := f.conns.Get(ctx, "pagerduty", owner); c != nil {
			t.Fatal("a connection was stored")
		}
	})

	t.Run("verifier of another state", func(t *testing.T) {
		f := newFlow(t, nil)
		br := browser{}
		a, _ := url.Parse(f.start(br, f.login(owner)))
		b, _ := url.Parse(f.start(br, f.login(owner)))
		q := a.Query()
		q.Set("state", b.Query().Get("state"))
		a.RawQuery = q.Encode()
		if res := f.svc.Callback(ctx, "pagerduty", f.authorize(a.String()), br.cookie); res.Code != oauth.CodeExchangeFailed {
			t.Fatalf("= %+v", res)
		}
	})

	t.Run("bound to the browser that started it", func(t *testing.T) {
		f := newFlow(t, nil)
		starter, other := browser{}, browser{}
		startURL := f.login(owner)
		cb := f.authorize(f.start(starter, startURL))
		// The start URL is single use, whichever browser comes second.
		if res := f.svc.Start(ctx, "pagerduty", strings.SplitN(startURL, "?", 2)[1]); res.Code != oauth.CodeInvalid || res.Cookie != nil {
			t.Fatalf("second start = %+v", res)
		}
		// Without the cookie, with another value under its name, or with the
		// cookie of another login: refused, and nothing is consumed.
		forged := browser{}
		for name := range starter {
			forged[name] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
		f.start(other, f.login(owner))
		for i, b := range []browser{{}, forged, other} {
			if res := f.svc.Callback(ctx, "pagerduty", cb, b.cookie); res.Code != oauth.CodeInvalid || res.Conn != nil {
				t.Fatalf("callback in browser %d = %+v", i, res)
			}
		}
		if n := f.sim.TokenRequests().AuthorizationCode; n != 0 {
			t.Fatalf("%d code exchanges for refused callbacks", n)
		}
		if c, _ := f.conns.Get(ctx, "pagerduty", owner); c != nil {
			t.Fatal("a connection was stored")
		}
		// The browser that started it still completes it.
		if res := f.svc.Callback(ctx, "pagerduty", cb, starter.cookie); res.Code != "" || res.Conn == nil {
			t.Fatalf("callback in the starting browser = %+v", res)
		}
	})

	t.Run("denied", func(t *testing.T) {
		f := newFlow(t, nil)
		f.sim.SetOAuthDecision(pdsim.Deny)
		b := browser{}
		if res := f.svc.Callback(ctx, "pagerduty", f.authorizeIn(b, owner), b.cookie); res.Code != oauth.CodeAccessDenied {
			t.Fatalf("= %+v", res)
		}
	})

	t.Run("validation failed", func(t *testing.T) {
		f := newFlow(t, nil)
		f.plug.fail = true
		b := browser{}
		if res := f.svc.Callback(ctx, "pagerduty", f.authorizeIn(b, owner), b.cookie); res.Code != oauth.CodeValidationFailed {
			t.Fatalf("= %+v", res)
		}
		if c, _ := f.conns.Get(ctx, "pagerduty", owner); c != nil {
			t.Fatal("a connection was stored")
		}
	})

	t.Run("configuration errors", func(t *testing.T) {
		f := newFlow(t, map[string]string{"NEXT_PUBLIC_ENABLE_PAGERDUTY_OAUTH": "false"})
		_, err := f.svc.Login(ctx, "pagerduty", owner)
		if he, ok := err.(*hub.Error); !ok || he.Code != hub.EForbidden || he.Message != "PagerDuty OAuth is not enabled" {
			t.Fatalf("disabled login = %v", err)
		}
		if res := f.svc.Callback(ctx, "pagerduty", "code=x&state=y", browser{}.cookie); res.Code != oauth.CodeNotEnabled {
			t.Fatalf("disabled callback = %+v", res)
		}
		if res := f.svc.Start(ctx, "pagerduty", "state=y"); res.Code != oauth.CodeNotEnabled {
			t.Fatalf("disabled start = %+v", res)
		}
		f = newFlow(t, map[string]string{"PAGERDUTY_CLIENT_ID": "", "PAGERDUTY_CLIENT_SECRET": " "})
		_, err = f.svc.Login(ctx, "pagerduty", owner)
		if he, ok := err.(*hub.Error); !ok || he.Code != hub.EUnavailable || he.Message != "Missing OAuth credentials: PAGERDUTY_CLIENT_ID, PAGERDUTY_CLIENT_SECRET" {
			t.Fatalf("missing credentials login = %v", err)
		}
		if res := f.svc.Callback(ctx, "pagerduty", "code=x&state=y", browser{}.cookie); res.Code != oauth.CodeUnexpected {
			t.Fatalf("missing credentials callback = %+v", res)
		}
	})
}
