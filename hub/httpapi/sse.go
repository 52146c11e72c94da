package httpapi

import (
	"bufio"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/gofiber/fiber/v2"
)

// Defaults for a Config without stream limits (tests that build one by hand).
const (
	defaultStreamsPerTenant   = 20
	defaultStreamWriteTimeout = 30 * time.Second
)

func newStreamLimiter(cfg *config.Config) *live.Limiter {
	n := defaultStreamsPerTenant
	if cfg != nil && cfg.SSE.MaxPerTenant > 0 {
		n = cfg.SSE.MaxPerTenant
	}
	return live.NewLimiter(n)
}

// streamSlot takes one of the caller's tenant's stream slots, or answers 429
// when the tenant holds HUB_SSE_MAX_STREAMS_PER_TENANT streams already.
// The stream calls release when it ends.
func (s *Server) streamSlot(o hub.Owner) (release func(), err error) {
	release, ok := s.streams.Acquire(o.Kind(), o.ID())
	if !ok {
		return nil, &hub.Error{Code: hub.ERateLimited, RetryAfter: 5 * time.Second,
			Message: "Too many event streams open for this user or organisation: close one first"}
	}
	return release, nil
}

// streamFlusher returns the flush a stream writer must use: it sets a write
// deadline on the connection first, so a client that stops reading is cut
// off after HUB_SSE_WRITE_TIMEOUT instead of holding its goroutine, slot
// and buffers forever (the Fiber app has no write timeout: it would cut
// every stream). Call it from the handler; it marks the response
// Connection: close, as the deadline stays on the connection.
func (s *Server) streamFlusher(c *fiber.Ctx) func(*bufio.Writer) error {
	d := defaultStreamWriteTimeout
	if s.cfg != nil && s.cfg.SSE.WriteTimeout > 0 {
		d = s.cfg.SSE.WriteTimeout
	}
	conn := c.Context().Conn()
	c.Context().SetConnectionClose()
	return func(w *bufio.Writer) error {
		// fasthttp copies what is flushed to the connection from another
		// goroutine: the deadline bounds that copy, and when it fails the
		// stream's next flush fails too.
		if err := conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return err
		}
		return w.Flush()
	}
}
