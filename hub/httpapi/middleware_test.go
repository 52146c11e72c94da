package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-hclog"
)

// TestMiddlewaresReturnErrors: the middlewares return their errors and the
// one error handler writes them, in the bodies and status codes of the
// contract.
func TestMiddlewaresReturnErrors(t *testing.T) {
	const secret = "s3cret"
	srv := New(Deps{
		Config:  &config.Config{InternalAPISecret: secret},
		Logger:  hclog.NewNullLogger(),
		Plugins: pluginhost.New(pluginhost.Options{Dir: t.TempDir(), Logger: hclog.NewNullLogger()}),
	})
	// The same middlewares behind a handler that records what reached it.
	var seen error
	spy := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		seen = err
		return srv.handleError(c, err)
	}})
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	spy.Get("/mgmt", srv.managementAuth, ok)
	spy.Get("/ops", srv.operatorAuth, ok)
	spy.Get("/browser/:provider", srv.oauthBrowserRoute(func(c *fiber.Ctx, _ string) error { return ok(c) }))
	spy.Get("/p/:provider", srv.provider, ok)

	tests := []struct {
		name       string
		spyPath    string // the middleware alone
		path       string // the same through the real routes (operatorAuth guards no route without queues)
		secret     string
		user       string
		wantCode   hub.Code
		wantStatus int
		wantBody   string
	}{
		{"management without the secret", "/mgmt", "/incidents", "", "u1", hub.EForbidden, 403, `{"error":"Forbidden: invalid or missing X-Internal-Secret header"}`},
		{"management with a wrong secret", "/mgmt", "/incidents", "nope", "u1", hub.EForbidden, 403, `{"error":"Forbidden: invalid or missing X-Internal-Secret header"}`},
		{"management without a user", "/mgmt", "/incidents", secret, "", hub.EUnauthorized, 401, `{"error":"Unauthorized"}`},
		{"operator without the secret", "/ops", "", "", "u1", hub.EForbidden, 403, `{"error":"Forbidden: invalid or missing X-Internal-Secret header"}`},
		{"unknown provider", "/p/nosuch", "/nosuch", secret, "u1", hub.ENotFound, 404, `{"error":"Unknown provider: nosuch"}`},
		{"unknown provider on the OAuth callback", "/browser/nosuch", "/nosuch/oauth/callback", "", "", hub.ENotFound, 404, `{"error":"Unknown provider: nosuch"}`},
		{"unknown route under /api", "", "/api/nothing-here", secret, "u1", hub.ENotFound, 404, `{"error":"Not found"}`},
	}
	get := func(t *testing.T, app *fiber.App, path, secret, user string) (int, string) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		if secret != "" {
			req.Header.Set("X-Internal-Secret", secret)
		}
		if user != "" {
			req.Header.Set("X-User-ID", user)
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spyPath != "" {
				seen = nil
				get(t, spy, tt.spyPath, tt.secret, tt.user)
				var he *hub.Error
				if !errors.As(seen, &he) || he.Code != tt.wantCode {
					t.Fatalf("the middleware returned %v to the error handler, want a *hub.Error %s", seen, tt.wantCode)
				}
			}
			if tt.path == "" {
				return
			}
			status, body := get(t, srv.App(), tt.path, tt.secret, tt.user)
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestPluginErrorStatus: a plugin's error answers the request as it is,
// with the status its code always had (the table the connections package
// used to translate through) and its message, but for internal errors.
func TestPluginErrorStatus(t *testing.T) {
	srv := &Server{log: hclog.NewNullLogger()}
	app := fiber.New(fiber.Config{ErrorHandler: srv.handleError})
	var answer error
	app.Get("/", func(*fiber.Ctx) error { return answer })
	tests := []struct {
		code       sdk.Code
		wantStatus int
		wantBody   string
	}{
		{sdk.CodeInvalid, 400, `{"error":"Plugin says"}`},
		{sdk.CodeUnauthenticated, 401, `{"error":"Plugin says"}`},
		{sdk.CodePermissionDenied, 403, `{"error":"Plugin says"}`},
		{sdk.CodeNotFound, 404, `{"error":"Plugin says"}`},
		{sdk.CodeUnimplemented, 404, `{"error":"Plugin says"}`},
		{sdk.CodeRateLimited, 429, `{"error":"Plugin says"}`},
		{sdk.CodeUpstream, 502, `{"error":"Plugin says"}`},
		{sdk.CodeUnavailable, 503, `{"error":"Plugin says"}`},
		{sdk.CodeInternal, 500, `{"error":"Internal server error"}`},
		{"teapot", 500, `{"error":"Internal server error"}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			answer = fmt.Errorf("calling the plugin: %w", &sdk.Error{Code: tt.code, Message: "Plugin says"})
			resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
