package httpapi

import (
	"crypto/subtle"
	"strconv"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/health"
	"github.com/gofiber/fiber/v2"
)

// livez is GET /livez: the process serves HTTP. Public, no details: a
// liveness probe that fails restarts the process, which cures nothing a
// database outage causes.
func (s *Server) livez(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz is GET /readyz: 200 when this hub can take webhooks (database
// writable, disk room, plugins up, queue keeping up), else 503 with
// Retry-After. Everyone sees which checks failed; the management secret
// shows each check's details.
func (s *Server) readyz(c *fiber.Ctx) error {
	r := s.health.Run(c.UserContext())
	return s.healthAnswer(c, r, "fail", fiber.Map{})
}

// healthz is GET /healthz, kept for existing probes: the database takes
// writes, the disk has room and no plugin has failed or been disabled
// (queue lag is /readyz's alone). Public: status and database state; the
// management secret adds the plugins and the checks.
func (s *Server) healthz(c *fiber.Ctx) error {
	r := s.health.Run(c.UserContext(), health.CheckDatabase, health.CheckDisk, health.CheckPlugins)
	db := "ok"
	if ch := r.Checks[health.CheckDatabase]; !ch.OK {
		db = ch.Reason
		if db == "" {
			db = "unavailable"
		}
	}
	extra := fiber.Map{"database": db}
	if s.showHealthDetails(c) {
		extra["plugins"] = r.Checks[health.CheckPlugins].Plugins
	}
	return s.healthAnswer(c, r, "degraded", extra)
}

func (s *Server) healthAnswer(c *fiber.Ctx, r health.Report, failStatus string, body fiber.Map) error {
	body["status"] = "ok"
	code := fiber.StatusOK
	if !r.OK {
		body["status"], body["failed"] = failStatus, r.Failed
		code = fiber.StatusServiceUnavailable
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(5))
	}
	if s.showHealthDetails(c) {
		body["checks"] = r.Checks
		body["checkedAt"] = r.CheckedAt.UTC().Format(time.RFC3339Nano)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(code).JSON(body)
}

// showHealthDetails: the management secret when one is configured (without
// one the hub listens on loopback only).
func (s *Server) showHealthDetails(c *fiber.Ctx) bool {
	want := s.cfg.InternalAPISecret
	return want == "" || subtle.ConstantTimeCompare([]byte(c.Get("X-Internal-Secret")), []byte(want)) == 1
}
