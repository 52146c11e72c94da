// Package httpapi serves the hub's HTTP API with Fiber: the frontend's
// management routes, provider webhooks and health.
package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/health"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/oauth"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/queues"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-hclog"
)

// Server is the hub's HTTP API.
type Server struct {
	app      *fiber.App
	cfg      *config.Config
	log      hclog.Logger
	store    *store.Store
	plugins  *pluginhost.Host
	conns    *connections.Service
	webhooks *webhooks.Service
	oauth    *oauth.Service
	live     *live.Broker
	jobs     *jobs.Client
	// streams caps the event streams per tenant.
	streams *live.Limiter
	health  *health.Checker
	metrics *metrics.Metrics
	queues  *queues.Service
}

// Deps are what the API serves from.
type Deps struct {
	Config      *config.Config
	Logger      hclog.Logger
	Store       *store.Store
	Plugins     *pluginhost.Host
	Connections *connections.Service
	Webhooks    *webhooks.Service
	// OAuth runs provider OAuth; nil answers as if OAuth were disabled.
	OAuth *oauth.Service
	// Live feeds GET /incidents/stream.
	Live *live.Broker
	// Jobs enqueues analyses asked for through the API.
	Jobs *jobs.Client
	// Health answers /healthz and /readyz.
	Health *health.Checker
	// Metrics serves /metrics and counts webhook deliveries (nil: neither).
	Metrics *metrics.Metrics
	// Queues serves the operators' pipeline routes (nil: not served).
	Queues *queues.Service
}

// maxBodyBytes bounds every request body; webhooks have a tighter limit.
const maxBodyBytes = 1 << 20

// New builds the API and its routes.
func New(d Deps) *Server {
	s := &Server{cfg: d.Config, log: d.Logger, store: d.Store, plugins: d.Plugins, conns: d.Connections, webhooks: d.Webhooks, oauth: d.OAuth, live: d.Live, jobs: d.Jobs, health: d.Health}
	s.streams = newStreamLimiter(d.Config)
	s.metrics, s.queues = d.Metrics, d.Queues
	s.app = fiber.New(fiber.Config{
		AppName:               "aurora-hub",
		DisableStartupMessage: true,
		BodyLimit:             maxBodyBytes,
		ReadTimeout:           30 * time.Second,
		// No WriteTimeout: it would cut server-sent-event streams.
		IdleTimeout:  120 * time.Second,
		ErrorHandler: s.handleError,
		JSONEncoder:  marshalJSON,
		// Idle keep-alive connections hand their read and write buffers
		// back between requests: a storm's 256 connections held 6 to 7 MB
		// of RSS otherwise, for 2 to 3 µs of CPU a request (round 16 in
		// docs/performance-history.md).
		ReduceMemoryUsage: true,
	})
	s.routes()
	return s
}

// App exposes the Fiber app (for tests and benchmarks).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting requests and waits for in-flight ones.
func (s *Server) Shutdown(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return s.app.Shutdown()
	}
	return s.app.ShutdownWithTimeout(time.Until(deadline))
}

// marshalJSON is encoding/json without HTML escaping: the API's messages
// contain ">" and "&" and nobody embeds them in HTML.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (s *Server) routes() {
	s.app.Get("/livez", s.livez)
	s.app.Get("/readyz", s.readyz)
	s.operationRoutes()
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/incidents", s.managementAuth, s.listIncidents)
	s.app.Get("/incidents/stream", s.managementAuth, s.stream(hubStream))
	s.app.Get("/incidents/:id", s.managementAuth, s.getIncident)
	s.app.Post("/incidents/:id/rca", s.managementAuth, s.requestRCA)
	s.app.Get("/incidents/:id/rca", s.managementAuth, s.getRCA)
	s.app.Get("/settings", s.managementAuth, s.getSettings)
	s.app.Put("/settings", s.managementAuth, s.putSettings)
	s.app.Get("/pipeline/dead-letters", s.managementAuth, s.deadLetters)
	// Aurora's incident API, before /:provider would take "api" for a provider.
	s.auroraRoutes()

	// Open to the internet, authenticated by its single-use state; always
	// a redirect, so it is routed before the provider middleware's JSON errors.
	s.app.Get("/:provider/oauth/callback", s.oauthBrowserRoute(s.oauthCallback))
	// Open to the internet, authenticated by its single-use state: binds the
	// OAuth login to the browser that follows the login's oauth_url.
	s.app.Get("/:provider/oauth/start", s.oauthBrowserRoute(s.oauthStart))

	p := s.app.Group("/:provider", s.provider)
	// Open to the internet: authenticated by the delivery's signature.
	p.Post("/webhook/:user_id", s.receiveWebhook)
	p.Post("/webhook/:user_id/:key", s.receiveWebhook)

	mgmt := s.managementAuth
	p.Get("", mgmt, s.getConnection)
	p.Post("", mgmt, s.connect)
	p.Patch("", mgmt, s.rotate)
	p.Delete("", mgmt, s.disconnect)
	p.Get("/webhook-url", mgmt, s.webhookURL)
	p.Put("/webhook-secret", mgmt, s.putWebhookSecret)
	p.Delete("/webhook-secret", mgmt, s.deleteWebhookSecret)
	p.Post("/webhook-subscription", mgmt, s.createWebhookSubscription)
	p.Get("/webhook-subscription", mgmt, s.getWebhookSubscription)
	p.Delete("/webhook-subscription", mgmt, s.deleteWebhookSubscription)
	p.Post("/oauth/login", mgmt, s.oauthLogin)
}

// errorStatus maps error codes, the hub's and its plugins', to HTTP status
// codes; a code not here is internal (500).
var errorStatus = map[hub.Code]int{
	hub.EInvalid:       fiber.StatusBadRequest,
	hub.EUnauthorized:  fiber.StatusUnauthorized,
	hub.EForbidden:     fiber.StatusForbidden,
	hub.ENotFound:      fiber.StatusNotFound,
	hub.EUnimplemented: fiber.StatusNotFound, // the provider lacks the capability
	hub.EConflict:      fiber.StatusConflict,
	hub.ETooLarge:      fiber.StatusRequestEntityTooLarge,
	hub.ERateLimited:   fiber.StatusTooManyRequests,
	hub.EUpstream:      fiber.StatusBadGateway,
	hub.EUnavailable:   fiber.StatusServiceUnavailable,
}

func (s *Server) handleError(c *fiber.Ctx, err error) error {
	// A database that is gone, read-only, full or damaged is 503 with
	// Retry-After on every route (logged once per change of state).
	if s.store != nil { // nil in handler tests that need no database
		err = s.store.Avail.Observe(err)
	}
	var he *hub.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &he) && errorStatus[he.Code] != 0:
		if he.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((he.RetryAfter+time.Second-1)/time.Second)))
		}
		if he.Err != nil {
			s.log.Debug("request failed", "method", c.Method(), "path", c.Path(), "code", he.Code, "error", he.Err)
		}
		return c.Status(errorStatus[he.Code]).JSON(fiber.Map{"error": he.Message})
	case errors.As(err, &fe):
		return c.Status(fe.Code).JSON(fiber.Map{"error": fe.Message})
	default:
		s.log.Error("internal error", "method", c.Method(), "path", c.Path(), "error", err)
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": hub.MsgInternal})
	}
}

// The middlewares' errors; handleError writes them like every other.
var (
	errBadSecret = hub.Errorf(hub.EForbidden, "Forbidden: invalid or missing X-Internal-Secret header")
	errNoUser    = hub.Errorf(hub.EUnauthorized, "Unauthorized")
)

func errUnknownProvider(name string) error {
	return hub.Errorf(hub.ENotFound, "Unknown provider: %s", name)
}

// managementAuth authenticates the frontend's server: the shared secret
// (when configured) and the caller's user id.
func (s *Server) managementAuth(c *fiber.Ctx) error {
	if want := s.cfg.InternalAPISecret; want != "" {
		got := c.Get("X-Internal-Secret")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return errBadSecret
		}
	}
	owner := hub.Owner{UserID: c.Get("X-User-ID"), OrgID: c.Get("X-Org-ID")}
	if owner.UserID == "" {
		return errNoUser
	}
	c.Locals(ownerKey{}, owner)
	return c.Next()
}

type ownerKey struct{}
type pluginKey struct{}

func owner(c *fiber.Ctx) hub.Owner { return c.Locals(ownerKey{}).(hub.Owner) }

func plugin(c *fiber.Ctx) *pluginhost.Plugin { return c.Locals(pluginKey{}).(*pluginhost.Plugin) }

// provider resolves /:provider to a running plugin.
func (s *Server) provider(c *fiber.Ctx) error {
	name := c.Params("provider")
	// Acquire: while this request runs, a replaced plugin process is not
	// killed (SIGHUP swaps drain their calls in flight).
	p, release, ok := s.plugins.Acquire(name)
	if !ok {
		return errUnknownProvider(name)
	}
	defer release()
	if p.State != pluginhost.StateRunning {
		// PagerDuty and most senders retry a 5xx: no webhook is lost while
		// the plugin restarts.
		return &hub.Error{Code: hub.EUnavailable, Message: "Provider " + name + " is unavailable: " + p.State, RetryAfter: p.RetryAfter(time.Now())}
	}
	c.Locals(pluginKey{}, p)
	return c.Next()
}
