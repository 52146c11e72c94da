package httpapi

import (
	"bufio"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// heartbeat keeps idle SSE connections open through proxies.
const heartbeat = 15 * time.Second

// streamIncidents is GET /incidents/stream: the caller's live incident
// events as server-sent events, one JSON object per event.
func (s *Server) streamIncidents(c *fiber.Ctx) error {
	o := owner(c)
	release, err := s.streamSlot(o)
	if err != nil {
		return err
	}
	sub, err := s.live.Subscribe(o.Kind(), o.ID())
	if err != nil {
		release()
		return fiber.NewError(fiber.StatusServiceUnavailable, "Shutting down")
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	flush := s.streamFlusher(c)
	c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
		defer release()
		defer s.live.Unsubscribe(sub)
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		w.WriteString("retry: 3000\n: connected\n\n")
		if flush(w) != nil {
			return
		}
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				b, err := json.Marshal(ev)
				if err != nil {
					continue
				}
				w.WriteString("data: ")
				w.Write(b)
				w.WriteString("\n\n")
			case <-t.C:
				w.WriteString(": ping\n\n")
			}
			if flush(w) != nil {
				return // the client went away or stopped reading
			}
		}
	}))
	return nil
}
