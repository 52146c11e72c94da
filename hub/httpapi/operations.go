package httpapi

import (
	"crypto/subtle"
	"errors"
	"strconv"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/queues"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// operationRoutes are the operators' routes: metrics, queue status and dead
// letters across tenants. They take the management secret and no user id.
func (s *Server) operationRoutes() {
	if s.metrics != nil {
		s.app.Get("/metrics", s.operatorAuth, adaptor.HTTPHandler(s.metrics.Handler()))
		// Counts every delivery, then hands it on to the provider routes.
		s.app.Post("/:provider/webhook/:user_id", s.observeWebhook)
		s.app.Post("/:provider/webhook/:user_id/:key", s.observeWebhook)
	}
	if s.queues != nil {
		s.app.Get("/pipeline/status", s.operatorAuth, s.pipelineStatus)
		s.app.Get("/pipeline/dead-letters/events", s.operatorAuth, s.deadEvents)
		s.app.Get("/pipeline/dead-letters/jobs", s.operatorAuth, s.deadJobs)
		s.app.Post("/pipeline/dead-letters/events/:id/retry", s.operatorAuth, s.retryDeadEvent)
		s.app.Post("/pipeline/dead-letters/jobs/:id/retry", s.operatorAuth, s.retryDeadJob)
		s.app.Post("/pipeline/dead-letters/retry", s.operatorAuth, s.retryAllDeadLetters)
	}
}

// operatorAuth admits the frontend's server or an operator: the shared
// secret when one is configured (the hub listens on loopback otherwise).
// No user id: these routes see every tenant.
func (s *Server) operatorAuth(c *fiber.Ctx) error {
	if want := s.cfg.InternalAPISecret; want != "" {
		got := c.Get("X-Internal-Secret")
		if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return errBadSecret
		}
	}
	return c.Next()
}

type receiptKey struct{}

// observeWebhook counts a delivery by provider and outcome and times the
// ones recorded. Unknown provider names are not counted: they come from
// the URL and would make labels without bound.
func (s *Server) observeWebhook(c *fiber.Ctx) error {
	p, ok := s.plugins.Get(c.Params("provider"))
	if !ok {
		return c.Next()
	}
	series := s.metrics.Webhook(p.Name) // p.Name: c.Params' bytes are reused after the request
	began := time.Now()
	err := c.Next()
	series.Delivered(webhookOutcome(c, err), time.Since(began))
	return err
}

func webhookOutcome(c *fiber.Ctx, err error) metrics.Outcome {
	if err != nil {
		var he *hub.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &he):
			switch he.Code {
			case hub.EUnauthorized, hub.EForbidden:
				return metrics.OutcomeUnauthorized
			case hub.EInvalid:
				return metrics.OutcomeInvalid
			case hub.ENotFound, hub.EUnimplemented:
				return metrics.OutcomeNotConnected
			case hub.ETooLarge:
				return metrics.OutcomeTooLarge
			case hub.EUnavailable, hub.ERateLimited:
				return metrics.OutcomeUnavailable
			}
		case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
			return metrics.OutcomeTooLarge
		}
		return metrics.OutcomeError
	}
	switch c.Response().StatusCode() {
	case fiber.StatusAccepted:
		r, _ := c.Locals(receiptKey{}).(*webhooks.Receipt)
		switch {
		case r == nil:
			return metrics.OutcomeAccepted
		case r.Recorded == 0 && r.Duplicates > 0:
			return metrics.OutcomeDuplicate
		case !r.Verified:
			return metrics.OutcomeAcceptedUnverified
		}
		return metrics.OutcomeAccepted
	case fiber.StatusServiceUnavailable:
		return metrics.OutcomeUnavailable
	case fiber.StatusNotFound:
		return metrics.OutcomeNotConnected
	}
	return metrics.OutcomeError
}

// pipelineStatus is GET /pipeline/status.
func (s *Server) pipelineStatus(c *fiber.Ctx) error {
	st, err := s.queues.Status(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// limitParam reads ?limit= (1 to 1000, default 100).
func limitParam(c *fiber.Ctx) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, hub.Errorf(hub.EInvalid, "limit must be a number from 1 to 1000")
	}
	return n, nil
}

// deadEvents is GET /pipeline/dead-letters/events: every tenant's inbox
// events that failed to apply, newest first.
func (s *Server) deadEvents(c *fiber.Ctx) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	ev, err := s.queues.DeadEvents(c.UserContext(), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"events": ev})
}

// deadJobs is GET /pipeline/dead-letters/jobs: River jobs discarded after
// their last attempt, most recent first.
func (s *Server) deadJobs(c *fiber.Ctx) error {
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	jobs, err := s.queues.DeadJobs(c.UserContext(), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"jobs": jobs})
}

func (s *Server) retryDeadEvent(c *fiber.Ctx) error {
	id, err := queues.ParseID(c.Params("id"))
	if err != nil {
		return err
	}
	if err := s.queues.RetryEvent(c.UserContext(), id); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"retried": fiber.Map{"events": 1, "jobs": 0}})
}

func (s *Server) retryDeadJob(c *fiber.Ctx) error {
	id, err := queues.ParseID(c.Params("id"))
	if err != nil {
		return err
	}
	if err := s.queues.RetryJob(c.UserContext(), id); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"retried": fiber.Map{"events": 0, "jobs": 1}})
}

// retryAllDeadLetters is POST /pipeline/dead-letters/retry: every dead
// letter, events and jobs.
func (s *Server) retryAllDeadLetters(c *fiber.Ctx) error {
	events, jobs, err := s.queues.RetryAll(c.UserContext())
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"retried": fiber.Map{"events": events, "jobs": jobs}})
}
