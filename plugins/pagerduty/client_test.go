package pagerduty

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		msg        string
		code       int
		errs       []string
		stringForm bool
	}{
		{name: "documented envelope", body: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":["Title can't be blank"]}}`,
			msg: "Invalid Input Provided", code: 2001, errs: []string{"Title can't be blank"}},
		{name: "error as a plain string", body: `{"error":"Because this request was made using an account-level access token, we were unable to determine the user's identity."}`,
			msg: "Because this request was made using an account-level access token, we were unable to determine the user's identity.", stringForm: true},
		{name: "errors as a string", body: `{"error":{"message":"Invalid","code":"2001","errors":"Token is malformed"}}`,
			msg: "Invalid", code: 2001, errs: []string{"Token is malformed"}},
		{name: "errors as an object", body: `{"error":{"message":"Invalid","errors":{"token":"is malformed"}}}`,
			msg: "Invalid", errs: []string{"token: is malformed"}},
		{name: "error as an array", body: `{"error":[{"message":"first","code":2006},"second"]}`,
			msg: "first", code: 2006, errs: []string{"second"}},
		{name: "top-level errors and message", body: `{"message":"Not Found","code":2100,"errors":[{"message":"no such thing"}]}`,
			msg: "Not Found", code: 2100, errs: []string{"no such thing"}},
		{name: "bare JSON string", body: `"nope"`, msg: "nope"},
		{name: "HTML", body: "<html>\n<body>401 Authorization Required</body>\n</html>", msg: "<html> <body>401 Authorization Required</body> </html>"},
		{name: "empty", body: "", msg: ""},
		{name: "null error", body: `{"error":null}`, msg: ""},
		{name: "numbers where strings go", body: `{"error":{"message":12,"code":1e3,"errors":[true,null,3]}}`,
			msg: "12", code: 1000, errs: []string{"true", "3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ae := parseErrorBody([]byte(tc.body))
			if ae.Message != tc.msg || ae.Code != tc.code || ae.StringForm != tc.stringForm || strings.Join(ae.Errors, "|") != strings.Join(tc.errs, "|") {
				t.Errorf("got msg %q code %d errs %q string %v", ae.Message, ae.Code, ae.Errors, ae.StringForm)
			}
		})
	}
	long := parseErrorBody([]byte(strings.Repeat("é", 1000)))
	if len(long.Message) > 310 || !strings.HasSuffix(long.Message, "…") {
		t.Errorf("long message not trimmed: %d bytes", len(long.Message))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Ratelimit-Reset": {"30"}}, 30 * time.Second},
		{http.Header{"Ratelimit-Reset": {"0"}}, time.Second},
		{http.Header{"Ratelimit-Reset": {"2.5"}}, 3 * time.Second},
		{http.Header{"Ratelimit-Reset": {"999999"}}, time.Hour},
		{http.Header{"Ratelimit-Reset": {"-4"}}, defaultRetryAfter},
		{http.Header{"Ratelimit-Reset": {"x"}, "Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{}, defaultRetryAfter},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestClientLimitsAndHeaders(t *testing.T) {
	var gotFrom, gotCT string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(`{"x":"`))
			chunk := []byte(strings.Repeat("a", 1<<16))
			for i := 0; i < (maxBodyBytes>>16)+2; i++ {
				w.Write(chunk)
			}
			w.Write([]byte(`"}`))
		case "/write":
			gotFrom, gotCT = r.Header.Get("From"), r.Header.Get("Content-Type")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	p := New(Config{APIURL: srv.URL, Logger: hclog.NewNullLogger()})
	c := p.client(sdk.Credentials{Kind: sdk.AuthAPIToken, Token: "t", Fields: map[string]string{"from": "ada@acme.example"}})
	var out map[string]any
	err := c.get(context.Background(), "/big", nil, &out)
	if _, ok := err.(*transportError); !ok || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big body: %v", err)
	}
	if err := c.do(context.Background(), http.MethodPost, "/write", nil, map[string]any{"a": 1}, &out); err != nil {
		t.Fatal(err)
	}
	if gotFrom != "ada@acme.example" || gotCT != "application/json" {
		t.Errorf("From %q Content-Type %q", gotFrom, gotCT)
	}
}

func TestConfig(t *testing.T) {
	t.Setenv(EnvAPIURL, "")
	t.Setenv(EnvOAuthURL, "")
	t.Setenv(EnvOAuthScopes, "")
	c := ConfigFromEnv()
	if c.APIURL != DefaultAPIURL || c.OAuthURL != DefaultOAuthURL || strings.Join(c.OAuthScopes, " ") !=
		"users.read incidents.read services.read abilities.read webhook_subscriptions.read webhook_subscriptions.write change_events.read" {
		t.Errorf("defaults = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate defaults: %v", err)
	}

	t.Setenv(EnvAPIURL, "https://api.eu.pagerduty.com/")
	t.Setenv(EnvOAuthURL, "http://127.0.0.1:9999")
	t.Setenv(EnvOAuthScopes, "read,write  openid")
	c = ConfigFromEnv()
	if c.APIURL != "https://api.eu.pagerduty.com" || c.OAuthURL != "http://127.0.0.1:9999" || strings.Join(c.OAuthScopes, " ") != "read write openid" {
		t.Errorf("from env = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	for _, bad := range []string{"api.pagerduty.com", "ftp://x", "https://", "/v2", "https://u:p@api.pagerduty.com", "https://api.pagerduty.com?x=1", "::"} {
		t.Setenv(EnvAPIURL, bad)
		err := ConfigFromEnv().Validate()
		if err == nil || !strings.Contains(err.Error(), EnvAPIURL) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Validate(%q) = %v", bad, err)
		}
	}
}

func TestManifestAndOAuth(t *testing.T) {
	p := New(Config{OAuthURL: "https://identity.example/", Logger: hclog.NewNullLogger()})
	m := sdk.ManifestOf(p)
	if m.Name != "pagerduty" || m.DisplayName != "PagerDuty" || m.Version != Version || m.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("manifest = %+v", m)
	}
	if strings.Join(m.AuthKinds, ",") != "api_token,oauth" || strings.Join(m.ConfigKeys, ",") != "PAGERDUTY_API_URL,PAGERDUTY_OAUTH_URL,PAGERDUTY_OAUTH_SCOPES" {
		t.Errorf("manifest = %+v", m)
	}
	for _, c := range []string{sdk.CapabilityAuth, sdk.CapabilityWebhooks, sdk.CapabilityOAuth, sdk.CapabilityProvisioning, sdk.CapabilityEnrichment} {
		if !m.Has(c) {
			t.Errorf("capability %s missing", c)
		}
	}
	if len(m.OAuthScopes) != len(DefaultOAuthScopes) || len(m.WebhookEventTypes) < 30 {
		t.Errorf("manifest = %+v", m)
	}
	oc, err := p.OAuthConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if oc.AuthURL != "https://identity.example/oauth/authorize" || oc.TokenURL != "https://identity.example/oauth/token" ||
		oc.RevokeURL != "https://identity.example/oauth/revoke" || !oc.RequirePKCE || len(oc.DefaultScopes) != len(DefaultOAuthScopes) {
		t.Errorf("OAuthConfig = %+v", oc)
	}
}
