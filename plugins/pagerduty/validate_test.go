package pagerduty

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/hashicorp/go-hclog"
)

// simEnv is a seeded simulator behind an httptest server and a provider
// pointed at it.
type simEnv struct {
	sim *pdsim.Sim
	srv *httptest.Server
	p   *Provider
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	sim := pdsim.New(pdsim.Options{Subdomain: "acme"})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	sim.SetBaseURL(srv.URL)
	sim.Seed()
	return &simEnv{sim: sim, srv: srv, p: New(Config{APIURL: srv.URL, Logger: hclog.NewNullLogger()})}
}

func apiToken(tok string) sdk.Credentials { return sdk.Credentials{Kind: sdk.AuthAPIToken, Token: tok} }

// writes are the non-GET requests the sim received.
func (e *simEnv) writes() []pdsim.RecordedRequest {
	var out []pdsim.RecordedRequest
	for _, r := range e.sim.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

func TestValidateUserKeys(t *testing.T) {
	tests := []struct {
		name                string
		token               string
		addKey              *pdsim.APIKey
		wantID, wantEmail   string
		wantName, wantRole  string
		wantRead, wantWrite bool
	}{
		{name: "admin", token: pdsim.DemoUserToken, wantID: pdsim.DemoAdminID, wantEmail: "ada.admin@acme.example",
			wantName: "Ada Admin", wantRole: "admin", wantRead: true, wantWrite: true},
		{name: "read_only_user", token: "ro-user-key", addKey: &pdsim.APIKey{Token: "ro-user-key", UserID: pdsim.DemoReadOnlyID},
			wantID: pdsim.DemoReadOnlyID, wantEmail: "rita.readonly@acme.example", wantName: "Rita Readonly", wantRole: "read_only_user", wantRead: true},
		{name: "observer", token: pdsim.DemoObserverToken, wantID: pdsim.DemoObserverID, wantEmail: "omar.observer@acme.example",
			wantName: "Omar Observer", wantRole: "observer", wantRead: true},
		{name: "restricted_access", token: "restricted-key", addKey: &pdsim.APIKey{Token: "restricted-key", UserID: pdsim.DemoRestrictedID},
			wantID: pdsim.DemoRestrictedID, wantEmail: "remy.restricted@acme.example", wantName: "Remy Restricted", wantRole: "restricted_access", wantRead: true},
		{name: "limited_user writes", token: "limited-key", addKey: &pdsim.APIKey{Token: "limited-key", UserID: pdsim.DemoLimitedID},
			wantID: pdsim.DemoLimitedID, wantEmail: "lee.limited@acme.example", wantName: "Lee Limited", wantRole: "limited_user", wantRead: true, wantWrite: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			if tc.addKey != nil {
				e.sim.AddAPIKey(*tc.addKey)
			}
			v, err := e.p.ValidateCredentials(context.Background(), apiToken("  "+tc.token+"\n"))
			if err != nil {
				t.Fatalf("ValidateCredentials: %v", err)
			}
			id := v.Identity
			if id.AccountLevel || deref(id.UserID) != tc.wantID || deref(id.UserEmail) != tc.wantEmail ||
				deref(id.UserName) != tc.wantName || deref(id.UserRole) != tc.wantRole || id.AccountSubdomain != "acme" {
				t.Errorf("identity = %+v (%s %s %s %s)", id, deref(id.UserID), deref(id.UserEmail), deref(id.UserName), deref(id.UserRole))
			}
			if v.Capabilities[CapReadIncidents] != tc.wantRead || v.Capabilities[CapWriteIncidents] != tc.wantWrite || len(v.Capabilities) != 2 {
				t.Errorf("capabilities = %v", v.Capabilities)
			}
			if w := e.writes(); len(w) != 0 {
				t.Errorf("user-key validation wrote: %+v", w)
			}
			for _, r := range e.sim.Requests() {
				if got := r.Header.Get("Authorization"); got != "Token token="+tc.token {
					t.Errorf("%s %s Authorization = %q", r.Method, r.Path, got)
				}
				if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" || !strings.Contains(r.Header.Get("User-Agent"), "aurora-hub") {
					t.Errorf("%s %s headers = %v", r.Method, r.Path, r.Header)
				}
			}
		})
	}
}

func TestValidateAccountLevelKeys(t *testing.T) {
	tests := []struct {
		name        string
		token       string
		wantWrite   bool
		probeStatus int
	}{
		{name: "writable: probe answers 400", token: pdsim.DemoAccountToken, wantWrite: true, probeStatus: 400},
		{name: "read-only: probe answers 403", token: pdsim.DemoReadOnlyToken, wantWrite: false, probeStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			before := len(e.sim.Incidents())
			v, err := e.p.ValidateCredentials(context.Background(), apiToken(tc.token))
			if err != nil {
				t.Fatalf("ValidateCredentials: %v", err)
			}
			id := v.Identity
			if !id.AccountLevel || id.UserID != nil || id.UserEmail != nil || id.UserName != nil || id.UserRole != nil || id.AccountSubdomain != "acme" {
				t.Errorf("identity = %+v", id)
			}
			if !v.Capabilities[CapReadIncidents] || v.Capabilities[CapWriteIncidents] != tc.wantWrite {
				t.Errorf("capabilities = %v", v.Capabilities)
			}
			if got := len(e.sim.Incidents()); got != before {
				t.Errorf("incidents %d -> %d: the probe created something", before, got)
			}
			w := e.writes()
			if len(w) != 1 || w[0].Method != http.MethodPost || w[0].Path != "/incidents" || w[0].Status != tc.probeStatus {
				t.Fatalf("writes = %+v", w)
			}
			if ct := w[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("probe Content-Type = %q", ct)
			}
		})
	}

	t.Run("subdomain falls back to services", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Method: "GET", Path: "/users", Status: 403, Body: `{"error":{"message":"Access Denied","code":2010}}`})
		v, err := e.p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoAccountToken))
		if err != nil || v.Identity.AccountSubdomain != "acme" {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
		var paths []string
		for _, r := range e.sim.Requests() {
			paths = append(paths, r.Method+" "+r.Path+"?"+r.RawQuery)
		}
		if !strings.Contains(strings.Join(paths, " | "), "GET /services?limit=1") {
			t.Errorf("requests = %v", paths)
		}
	})

	t.Run("account-level string error detected in any envelope", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Path: "/users/me", Status: 400,
			Body: `{"error":["Because this request was made using an account-level access token, we were unable to determine the user's identity."]}`})
		v, err := e.p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoAccountToken))
		if err != nil || !v.Identity.AccountLevel {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
	})
}

func TestValidateErrorMapping(t *testing.T) {
	const tok = "u+secret-token-value-123"
	tests := []struct {
		name       string
		fault      pdsim.Fault
		code       sdk.Code
		msg        string
		retryAfter time.Duration
	}{
		{name: "401 HTML body", fault: pdsim.Fault{Status: 401, Body: "<html><body><h1>401 Unauthorized</h1></body></html>"},
			code: sdk.CodeUnauthenticated, msg: msgUnauthorized},
		{name: "401 plain text echoing the token", fault: pdsim.Fault{Status: 401, Body: "Invalid token " + tok},
			code: sdk.CodeUnauthenticated, msg: msgUnauthorized},
		{name: "401 empty body", fault: pdsim.Fault{Status: 401}, code: sdk.CodeUnauthenticated, msg: msgUnauthorized},
		{name: "400 malformed token", fault: pdsim.Fault{Status: 400, Body: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":"Token is malformed"}}`},
			code: sdk.CodeInvalid, msg: msgInvalidToken},
		{name: "400 with errors object", fault: pdsim.Fault{Status: 400, Body: `{"error":{"message":"Invalid Input","errors":{"token":"bad"}}}`},
			code: sdk.CodeInvalid, msg: msgInvalidToken},
		{name: "400 error array", fault: pdsim.Fault{Status: 400, Body: `{"error":[{"message":"bad"},"worse"]}`},
			code: sdk.CodeInvalid, msg: msgInvalidToken},
		{name: "403", fault: pdsim.Fault{Status: 403, Body: `{"error":{"message":"Access Denied","code":2010}}`},
			code: sdk.CodePermissionDenied, msg: msgPermissionDenied},
		{name: "429 with ratelimit-reset", fault: pdsim.Fault{Status: 429,
			Header: http.Header{"Ratelimit-Limit": {"960"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"17"}},
			Body:   `{"error":{"message":"Rate Limit Exceeded","code":2020}}`},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: 17 * time.Second},
		{name: "429 with Retry-After only", fault: pdsim.Fault{Status: 429, Header: http.Header{"Retry-After": {"5"}}},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: 5 * time.Second},
		{name: "429 without headers or body", fault: pdsim.Fault{Status: 429},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: defaultRetryAfter},
		{name: "429 with junk reset", fault: pdsim.Fault{Status: 429, Header: http.Header{"Ratelimit-Reset": {"soon"}}},
			code: sdk.CodeRateLimited, msg: msgRateLimited, retryAfter: defaultRetryAfter},
		{name: "500", fault: pdsim.Fault{Status: 500, Body: `{"error":{"message":"Internal Server Error","code":2000}}`},
			code: sdk.CodeUpstream, msg: msgUpstream},
		{name: "502 HTML", fault: pdsim.Fault{Status: 502, Body: "<html>Bad Gateway</html>"}, code: sdk.CodeUpstream, msg: msgUpstream},
		{name: "404", fault: pdsim.Fault{Status: 404, Body: `{"error":{"message":"Not Found","code":2100}}`}, code: sdk.CodeUpstream, msg: msgUpstream},
		{name: "200 that is not JSON", fault: pdsim.Fault{Status: 200, Body: "<html>login</html>"}, code: sdk.CodeUpstream, msg: msgUpstream},
		{name: "200 without a user", fault: pdsim.Fault{Status: 200, Body: `{"user":null}`}, code: sdk.CodeUpstream, msg: msgUpstream},
		{name: "redirect is not followed", fault: pdsim.Fault{Status: 302, Header: http.Header{"Location": {"https://example.com/"}}}, code: sdk.CodeUpstream, msg: msgUpstream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.sim.AddAPIKey(pdsim.APIKey{Token: tok, UserID: pdsim.DemoAdminID})
			f := tc.fault
			f.Path = "/users/me"
			e.sim.InjectFault(f)
			_, err := e.p.ValidateCredentials(context.Background(), apiToken(tok))
			se := wantSDKError(t, err, tc.code, tc.msg)
			if se.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", se.RetryAfter, tc.retryAfter)
			}
			if se.Err == nil {
				t.Error("cause not kept in Err")
			}
			if strings.Contains(err.Error(), tok) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestValidateSimAnswers(t *testing.T) {
	e := newSimEnv(t)
	t.Run("unknown token is 401", func(t *testing.T) {
		_, err := e.p.ValidateCredentials(context.Background(), apiToken("nope"))
		wantSDKError(t, err, sdk.CodeUnauthenticated, msgUnauthorized)
	})
	t.Run("empty token", func(t *testing.T) {
		e.sim.ResetRequests()
		for _, tok := range []string{"", "   ", "\n\t"} {
			_, err := e.p.ValidateCredentials(context.Background(), apiToken(tok))
			wantSDKError(t, err, sdk.CodeInvalid, msgTokenRequired)
		}
		if n := len(e.sim.Requests()); n != 0 {
			t.Errorf("%d requests for an empty token", n)
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		_, err := e.p.ValidateCredentials(context.Background(), sdk.Credentials{Kind: "basic", Token: "x"})
		wantSDKError(t, err, sdk.CodeInvalid, "")
	})
	t.Run("rate limit on the incidents read", func(t *testing.T) {
		e.sim.InjectFault(pdsim.Fault{Path: "/incidents", Status: 429, Header: http.Header{"Ratelimit-Reset": {"3"}}, Times: 1})
		_, err := e.p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoUserToken))
		if se := wantSDKError(t, err, sdk.CodeRateLimited, msgRateLimited); se.RetryAfter != 3*time.Second {
			t.Errorf("RetryAfter = %v", se.RetryAfter)
		}
	})
	t.Run("incidents read refused means cannot read", func(t *testing.T) {
		e.sim.InjectFault(pdsim.Fault{Method: "GET", Path: "/incidents", Status: 403, Times: 1})
		v, err := e.p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoUserToken))
		if err != nil || v.Capabilities[CapReadIncidents] || !v.Capabilities[CapWriteIncidents] {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
	})
	t.Run("probe answering 500 means no write", func(t *testing.T) {
		e.sim.InjectFault(pdsim.Fault{Method: "POST", Path: "/incidents", Status: 500, Times: 1})
		v, err := e.p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoAccountToken))
		if err != nil || !v.Capabilities[CapReadIncidents] || v.Capabilities[CapWriteIncidents] {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
	})
}

func TestValidateUnreachableAndSlow(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := New(Config{APIURL: "http://" + addr, Logger: hclog.NewNullLogger()})
		_, err = p.ValidateCredentials(context.Background(), apiToken("tok-unreachable"))
		se := wantSDKError(t, err, sdk.CodeUpstream, msgUpstream)
		var te *transportError
		if !errors.As(se.Err, &te) {
			t.Errorf("cause = %v", se.Err)
		}
	})
	t.Run("slow answer times out", func(t *testing.T) {
		e := newSimEnv(t)
		e.sim.InjectFault(pdsim.Fault{Path: "/users/me", Status: 200, Delay: 2 * time.Second, Body: "{}"})
		p := New(Config{APIURL: e.srv.URL, Logger: hclog.NewNullLogger(), HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		_, err := p.ValidateCredentials(context.Background(), apiToken(pdsim.DemoUserToken))
		wantSDKError(t, err, sdk.CodeUpstream, msgUpstream)
	})
	t.Run("cancelled context", func(t *testing.T) {
		e := newSimEnv(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := e.p.ValidateCredentials(ctx, apiToken(pdsim.DemoUserToken))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestValidateOAuth(t *testing.T) {
	tests := []struct {
		name                string
		user                string
		scope               string
		wantRead, wantWrite bool
		wantAccount         bool
	}{
		{name: "scoped read only", user: pdsim.DemoAdminID, scope: "openid users.read incidents.read services.read", wantRead: true},
		{name: "scoped write", user: pdsim.DemoAdminID, scope: "users.read incidents.read incidents.write", wantRead: true, wantWrite: true},
		{name: "classic write", user: pdsim.DemoAdminID, scope: "openid write", wantRead: true, wantWrite: true},
		{name: "classic read", user: pdsim.DemoAdminID, scope: "openid read", wantRead: true},
		{name: "classic write, observer role", user: pdsim.DemoObserverID, scope: "openid write", wantRead: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			tok := e.sim.IssueAccessToken(tc.user, tc.scope)
			v, err := e.p.ValidateCredentials(context.Background(), sdk.Credentials{Kind: sdk.AuthOAuth, Token: tok, Scope: tc.scope})
			if err != nil {
				t.Fatalf("ValidateCredentials: %v", err)
			}
			if deref(v.Identity.UserID) != tc.user || v.Identity.AccountSubdomain != "acme" {
				t.Errorf("identity = %+v", v.Identity)
			}
			if v.Capabilities[CapReadIncidents] != tc.wantRead || v.Capabilities[CapWriteIncidents] != tc.wantWrite {
				t.Errorf("capabilities = %v", v.Capabilities)
			}
			for _, r := range e.sim.Requests() {
				if r.Header.Get("Authorization") != "Bearer "+tok {
					t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
				}
			}
			if len(e.writes()) != 0 {
				t.Error("OAuth validation wrote")
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		e := newSimEnv(t)
		tok := e.sim.IssueAccessToken(pdsim.DemoAdminID, "openid read")
		e.sim.ExpireAccessTokens()
		_, err := e.p.ValidateCredentials(context.Background(), sdk.Credentials{Kind: sdk.AuthOAuth, Token: tok, Scope: "openid read"})
		wantSDKError(t, err, sdk.CodeUnauthenticated, msgUnauthorized)
	})
	t.Run("account-level (client credentials) token", func(t *testing.T) {
		e := newSimEnv(t)
		scope := "as_account-us.acme incidents.read services.read"
		tok := e.sim.IssueAccessToken("", scope)
		v, err := e.p.ValidateCredentials(context.Background(), sdk.Credentials{Kind: sdk.AuthOAuth, Token: tok, Scope: scope})
		if err != nil || !v.Identity.AccountLevel || v.Identity.AccountSubdomain != "acme" || !v.Capabilities[CapReadIncidents] || v.Capabilities[CapWriteIncidents] {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
	})
	t.Run("no scope given falls back to probes", func(t *testing.T) {
		e := newSimEnv(t)
		tok := e.sim.IssueAccessToken(pdsim.DemoAdminID, "openid write")
		v, err := e.p.ValidateCredentials(context.Background(), sdk.Credentials{Kind: sdk.AuthOAuth, Token: tok})
		if err != nil || !v.Capabilities[CapReadIncidents] || !v.Capabilities[CapWriteIncidents] {
			t.Fatalf("ValidateCredentials = %+v, %v", v, err)
		}
	})
}

func TestValidateWebhookSecret(t *testing.T) {
	for secret, ok := range map[string]bool{
		"whsec-e2e-first-0001": true, " abc+/=DEF123 ": true,
		"": false, "  ": false, "Signing secret: abc": false, "abc\ndef": false, "abc\x00": false,
	} {
		err := (&Provider{}).ValidateWebhookSecret(context.Background(), secret)
		if (err == nil) != ok || (err != nil && sdk.ErrorCode(err) != sdk.CodeInvalid) {
			t.Errorf("ValidateWebhookSecret(%q) = %v, want ok=%v", secret, err, ok)
		}
	}
}
