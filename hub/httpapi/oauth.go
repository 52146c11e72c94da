package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/oauth"
	"github.com/gofiber/fiber/v2"
)

// oauthLogin is POST /:provider/oauth/login: 200 {"oauth_url": ...}.
// Errors: 403 "<Provider> OAuth is not enabled" when
// NEXT_PUBLIC_ENABLE_<PROVIDER>_OAUTH is not true; 503 "Missing OAuth
// credentials: <PROVIDER>_CLIENT_ID[, <PROVIDER>_CLIENT_SECRET]" when it is
// enabled without them (a configuration problem of this service, so 503,
// not the 500 reserved for unexpected failures); 404 for a provider
// without OAuth.
func (s *Server) oauthLogin(c *fiber.Ctx) error {
	p := plugin(c)
	if s.oauth == nil {
		return hub.Errorf(hub.EForbidden, "%s OAuth is not enabled", p.Manifest.DisplayName)
	}
	u, err := s.oauth.Login(c.UserContext(), p.Name, owner(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"oauth_url": u})
}

// oauthBrowserRoute wraps the OAuth routes a browser follows (start and
// callback, open to the internet): an unknown provider is 404; otherwise the
// answer is a redirect that is never cached and whose URL (it carries the
// state or the code) stays out of Referer headers; with OAuth not set up,
// a redirect to the frontend with oauth_not_enabled.
func (s *Server) oauthBrowserRoute(next func(c *fiber.Ctx, provider string) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name := c.Params("provider")
		if _, ok := s.plugins.Get(name); !ok {
			return errUnknownProvider(name)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		if s.oauth == nil {
			return c.Redirect(oauth.FrontendRedirect(s.cfg, name, oauth.CodeNotEnabled), fiber.StatusFound)
		}
		return next(c, name)
	}
}

// logOAuthFailure logs a failed start or callback: an unexpected failure
// as an error, the others (bad or replayed requests) as information.
func (s *Server) logOAuthFailure(msg, provider, code string, err error) {
	level := s.log.Info
	if code == oauth.CodeUnexpected {
		level = s.log.Error
	}
	level(msg, "provider", provider, "outcome", code, "error", err)
}

// oauthStart is GET /:provider/oauth/start, where the login's oauth_url
// sends the browser: it binds the login to this browser with a cookie and
// redirects (302) to the provider's authorization page; on failure, to the
// frontend like the callback. The URL carries the state: it is single use.
func (s *Server) oauthStart(c *fiber.Ctx, name string) error {
	res := s.oauth.Start(c.UserContext(), name, string(c.Request().URI().QueryString()))
	if res.Code != "" {
		s.logOAuthFailure("OAuth start failed", name, res.Code, res.Err)
		return c.Redirect(oauth.FrontendRedirect(s.cfg, name, res.Code), fiber.StatusFound)
	}
	setCookie(c, res.Cookie)
	return c.Redirect(res.AuthURL, fiber.StatusFound)
}

// oauthCallback is GET /:provider/oauth/callback. It always answers 302 to
// the frontend (oauth=success, or oauth=failed with an error code), completes
// only in the browser that followed the start URL, and never logs the code,
// the state or a token.
func (s *Server) oauthCallback(c *fiber.Ctx, name string) error {
	ctx := c.UserContext()
	res := s.oauth.Callback(ctx, name, string(c.Request().URI().QueryString()), func(n string) string { return c.Cookies(n) })
	setCookie(c, res.Cookie)
	if res.Code == "" {
		if err := s.learnConnection(ctx, res.Owner); err != nil {
			s.log.Warn("remembering the user's organisation failed", "error", err)
		}
		s.log.Info("OAuth connection completed", "provider", name, "owner_kind", res.Owner.Kind(), "connection", res.Conn.ID)
	} else {
		s.logOAuthFailure("OAuth callback failed", name, res.Code, res.Err)
	}
	return c.Redirect(s.oauth.FrontendRedirect(name, res), fiber.StatusFound)
}

// setCookie sets a net/http cookie on the response (nil: none).
func setCookie(c *fiber.Ctx, hc *http.Cookie) {
	if hc == nil {
		return
	}
	ck := &fiber.Cookie{
		Name: hc.Name, Value: hc.Value, Path: hc.Path, MaxAge: hc.MaxAge,
		Secure: hc.Secure, HTTPOnly: hc.HttpOnly, SameSite: fiber.CookieSameSiteLaxMode,
	}
	if hc.MaxAge < 0 {
		ck.Expires = time.Unix(1, 0)
	}
	c.Cookie(ck)
}

// learnConnection tells the webhook routes of a new connection and
// remembers the owner's organisation (every connect does, token or OAuth).
func (s *Server) learnConnection(ctx context.Context, o hub.Owner) error {
	if s.webhooks == nil {
		return nil
	}
	s.webhooks.Invalidate()
	return s.webhooks.RememberMembership(ctx, o.UserID, o.OrgID)
}
