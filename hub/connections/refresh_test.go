package connections_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/secrets"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"
)

const redirectURI = "http://hub.test/pagerduty/oauth/callback"

// simApps implements connections.OAuthApps against the simulator's token
// endpoint; down makes every call fail as an unreachable network would.
type simApps struct {
	cfg  *oauth2.Config
	down atomic.Bool
}

func (a *simApps) RefreshToken(ctx context.Context, _, rt string) (*oauth2.Token, error) {
	if a.down.Load() {
		return nil, &url.Error{Op: "Post", URL: a.cfg.Endpoint.TokenURL, Err: errors.New("connection refused")}
	}
	return a.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

func (a *simApps) Revoke(context.Context, string, string, string) error { return nil }

// clock is a settable time source shared by the services.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// authorize runs the simulator's authorization-code flow and returns the tokens.
func authorize(t *testing.T, simURL string, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := oauth2.GenerateVerifier()
	res, err := client.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize answered %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestCredentialsRefreshOnce runs the token source against the simulator on
// a real database, with two services on separate pools standing in for two
// hub replicas.
func TestCredentialsRefreshOnce(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			sim := pdsim.New(pdsim.Options{Subdomain: "acme", AccessTokenTTL: time.Hour})
			ts := httptest.NewServer(sim)
			t.Cleanup(func() { ts.Close(); sim.Close() })
			sim.SetBaseURL(ts.URL)
			sim.AddUser(pdsim.User{ID: "PADMIN1", Name: "John Doe", Email: "john@example.com", Role: "admin"})
			sim.AddOAuthApp(pdsim.OAuthApp{ClientID: "cid", ClientSecret: "csecret", RedirectURIs: []string{redirectURI}})
			cfg := &oauth2.Config{
				ClientID: "cid", ClientSecret: "csecret", RedirectURL: redirectURI, Scopes: []string{"read", "write"},
				Endpoint: oauth2.Endpoint{AuthURL: ts.URL + "/oauth/authorize", TokenURL: ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
			}
			first := authorize(t, ts.URL, cfg)

			opts := storetest.Options(t, driver)
			key := make([]byte, 32)
			rand.Read(key)
			sealer, err := secrets.New(key)
			if err != nil {
				t.Fatal(err)
			}
			clk := &clock{now: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}
			apps := &simApps{cfg: cfg}
			var replicas []*connections.Service
			for i := 0; i < 2; i++ {
				st, err := store.Open(ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				replicas = append(replicas, &connections.Service{Store: st, Sealer: sealer, Logger: hclog.NewNullLogger(), Now: clk.Now, OAuth: apps})
			}
			svc := replicas[0]
			owner := hub.Owner{UserID: "u1", OrgID: "org-1"}
			val := &sdk.Validation{Identity: sdk.Identity{AccountSubdomain: "acme"}, Capabilities: map[string]bool{"can_read_incidents": true}}
			_, err = svc.ConnectOAuth(ctx, "pagerduty", owner, "PagerDuty", val, connections.OAuthToken{
				AccessToken: first.AccessToken, RefreshToken: first.RefreshToken, Expiry: clk.Now().Add(time.Hour), Scope: "read write",
			})
			if err != nil {
				t.Fatal(err)
			}
			refreshes := func() int { return sim.TokenRequests().RefreshToken }
			load := func() *hub.Connection {
				c, err := svc.Store.Connection(ctx, "pagerduty", owner.Kind(), owner.ID())
				if err != nil {
					t.Fatal(err)
				}
				return c
			}

			// A fresh token is used as it is.
			creds, err := svc.Credentials(ctx, load())
			if err != nil || creds.Token != first.AccessToken || creds.Kind != sdk.AuthOAuth || creds.Scope != "read write" {
				t.Fatalf("fresh credentials = %v, %v", creds, err)
			}
			if refreshes() != 0 {
				t.Fatalf("a fresh token was refreshed")
			}

			// Within the refresh margin: 8 concurrent uses on two replicas refresh once.
			clk.Add(59 * time.Minute)
			concurrent := func() string {
				const n = 8
				tokens := make([]string, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					c := load()
					wg.Add(1)
					go func() {
						defer wg.Done()
						cr, err := replicas[i%2].Credentials(ctx, c)
						tokens[i], errs[i] = cr.Token, err
					}()
				}
				wg.Wait()
				for i := range tokens {
					if errs[i] != nil {
						t.Fatalf("use %d: %v", i, errs[i])
					}
					if tokens[i] != tokens[0] {
						t.Fatalf("uses got different tokens")
					}
				}
				return tokens[0]
			}
			second := concurrent()
			if refreshes() != 1 || second == first.AccessToken {
				t.Fatalf("after concurrent uses: %d refreshes, token changed %v", refreshes(), second != first.AccessToken)
			}
			if c := load(); c.Status != hub.StatusConnected {
				t.Fatalf("status = %s", c.Status)
			}
			// The stored row holds the new token: no further refresh.
			if cr, err := svc.Credentials(ctx, load()); err != nil || cr.Token != second || refreshes() != 1 {
				t.Fatalf("after refresh: %v %v, %d refreshes", cr.Token == second, err, refreshes())
			}

			// A second refresh works only if the rotated refresh token was kept
			// (the simulator refuses a used one).
			clk.Add(time.Hour)
			third := concurrent()
			if refreshes() != 2 || third == second {
				t.Fatalf("second refresh: %d refreshes", refreshes())
			}

			// A network failure is not expiry.
			clk.Add(time.Hour)
			apps.down.Store(true)
			c := load()
			_, err = svc.Credentials(ctx, c)
			if hub.ErrorCode(err) != hub.EUpstream || c.Status != hub.StatusConnected || load().Status != hub.StatusConnected {
				t.Fatalf("network failure: %v, status %s", err, load().Status)
			}
			if got, err := svc.Get(ctx, "pagerduty", owner); err != nil || got.Status != hub.StatusConnected {
				t.Fatalf("Get during an outage = %v, %v", got, err)
			}
			apps.down.Store(false)

			// A revoked refresh token expires the connection, for good.
			sim.RevokeRefreshTokens()
			got, err := svc.Get(ctx, "pagerduty", owner)
			if err != nil || got.Status != hub.StatusExpired || got.StatusError != connections.MsgOAuthExpired {
				t.Fatalf("Get after revocation = %+v, %v", got, err)
			}
			if c := load(); c.Status != hub.StatusExpired {
				t.Fatalf("stored status = %s", c.Status)
			}
			n := refreshes()
			_, err = replicas[1].Credentials(ctx, load())
			var he *hub.Error
			if !errors.As(err, &he) || he.Code != hub.EUnauthorized || he.Message != connections.MsgOAuthExpired || refreshes() != n {
				t.Fatalf("credentials of an expired connection: %v (%d refreshes, was %d)", err, refreshes(), n)
			}

			// API tokens never refresh.
			tc, err := svc.ConnectToken(ctx, staticValidator{val}, "pagerduty", hub.Owner{UserID: "u2"}, "tok123", "PD")
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(1000 * time.Hour)
			if cr, err := svc.Credentials(ctx, tc); err != nil || cr.Token != "tok123" || cr.Kind != sdk.AuthAPIToken {
				t.Fatalf("api token credentials = %v, %v", cr, err)
			}
		})
	}
}

type staticValidator struct{ v *sdk.Validation }

func (s staticValidator) ValidateCredentials(context.Context, sdk.Credentials) (*sdk.Validation, error) {
	return s.v, nil
}
