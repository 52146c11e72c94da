package httpapi

import (
	"bufio"
	"encoding/json"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// streamFormat is the wire format of an incident event stream.
type streamFormat struct {
	// hello is written when the stream opens ("" for nothing).
	hello string
	// keepalive is written after idle without events.
	keepalive string
	idle      time.Duration
	// encode turns an event into the JSON of its data: line; false skips it.
	encode func(live.Event) ([]byte, bool)
}

// hubStream is GET /incidents/stream: every event as the hub has it.
var hubStream = streamFormat{
	hello:     "retry: 3000\n: connected\n\n",
	keepalive: ": ping\n\n",
	idle:      15 * time.Second,
	encode: func(ev live.Event) ([]byte, bool) {
		b, err := json.Marshal(ev)
		return b, err == nil
	},
}

// auroraStream is GET /api/incidents/stream: Aurora's event types and
// fields, nothing on connect, ": keepalive" after 10 idle seconds.
var auroraStream = streamFormat{
	keepalive: ": keepalive\n\n",
	idle:      10 * time.Second,
	encode:    encodeAuroraEvent,
}

// auroraIncidentUpdate and auroraAlertCorrelated are Aurora's two events.
type auroraIncidentUpdate struct {
	Type                string `json:"type"`
	IncidentID          string `json:"incident_id"`
	Source              string `json:"source"`
	CustomFieldsUpdated bool   `json:"custom_fields_updated,omitempty"`
}

type auroraAlertCorrelated struct {
	Type             string  `json:"type"`
	IncidentID       string  `json:"incident_id"`
	Source           string  `json:"source"`
	AlertTitle       string  `json:"alert_title"`
	CorrelationScore float64 `json:"correlation_score"`
}

// encodeAuroraEvent maps the hub's events to Aurora's: a finished analysis
// is an incident_update (the list regroups the incident as analyzed).
func encodeAuroraEvent(ev live.Event) ([]byte, bool) {
	var v any
	switch ev.Type {
	case live.IncidentUpdate, live.RCAComplete:
		v = auroraIncidentUpdate{Type: live.IncidentUpdate, IncidentID: ev.IncidentID, Source: ev.Source, CustomFieldsUpdated: ev.CustomFieldsUpdated}
	case live.AlertCorrelated:
		a := auroraAlertCorrelated{Type: live.AlertCorrelated, IncidentID: ev.IncidentID, Source: ev.Source, AlertTitle: ev.AlertTitle}
		if ev.CorrelationScore != nil {
			a.CorrelationScore = *ev.CorrelationScore
		}
		v = a
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// stream serves the caller's live incident events as server-sent events,
// one JSON object per data: line, in format f.
func (s *Server) stream(f streamFormat) fiber.Handler {
	return func(c *fiber.Ctx) error {
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
		// The headers go out at once: a proxy waiting for them must not
		// wait for the first event.
		c.Context().Response.ImmediateHeaderFlush = true
		// After the headers above: it marks the response Connection: close.
		flush := s.streamFlusher(c)
		c.Context().SetBodyStreamWriter(fasthttp.StreamWriter(func(w *bufio.Writer) {
			defer release()
			defer s.live.Unsubscribe(sub)
			idle := time.NewTimer(f.idle)
			defer idle.Stop()
			if f.hello != "" {
				w.WriteString(f.hello)
				if flush(w) != nil {
					return
				}
			}
			for {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						return
					}
					b, ok := f.encode(ev)
					if !ok {
						continue
					}
					w.WriteString("data: ")
					w.Write(b)
					w.WriteString("\n\n")
				case <-idle.C:
					w.WriteString(f.keepalive)
				}
				if flush(w) != nil {
					return // the client went away
				}
				if !idle.Stop() {
					select {
					case <-idle.C:
					default:
					}
				}
				idle.Reset(f.idle)
			}
		}))
		return nil
	}
}
