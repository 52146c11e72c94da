package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Aurora's incident API (/api/incidents...), as its frontend calls it:
// AURORA-INCIDENTS.md. Same authentication as the hub's other management
// routes; errors are {"error": "..."} with Aurora's messages.

// auroraListLimit is the default page of GET /api/incidents.
const auroraListLimit = 100

// recentWindow is how far back GET /api/incidents/recent-unlinked looks.
const recentWindow = 30 * time.Minute

func (s *Server) auroraRoutes() {
	a := s.app.Group("/api/incidents", s.managementAuth)
	a.Get("", s.auroraListIncidents)
	a.Get("/stream", s.stream(auroraStream))
	a.Get("/recent-unlinked", s.auroraRecentUnlinked)
	a.Get("/:id", s.auroraGetIncident)
	a.Patch("/:id", s.auroraPatchIncident)
	a.Post("/:id/merge-alert", s.auroraMergeAlert)
	a.Get("/:id/feedback", s.auroraGetFeedback)
	a.Post("/:id/feedback", s.auroraPostFeedback)
	a.Get("/:id/findings", s.auroraFindings)
	a.Get("/:id/findings/:agentId", s.auroraFinding)
	// Everything else under /api is unknown here, not a provider named "api".
	s.app.All("/api/*", func(c *fiber.Ctx) error {
		return hub.Errorf(hub.ENotFound, "Not found")
	})
}

// incidentID reads the :id parameter: a UUID (normalised), else 400 msg.
func incidentID(c *fiber.Ctx, param, msg string) (string, error) {
	id, err := uuid.Parse(c.Params(param))
	if err != nil {
		return "", hub.Errorf(hub.EInvalid, "%s", msg)
	}
	return id.String(), nil
}

// idAndBody reads a write's :id (else 400 msg) and its JSON object body.
func idAndBody(c *fiber.Ctx, msg string) (string, map[string]json.RawMessage, error) {
	id, err := incidentID(c, "id", msg)
	if err != nil {
		return "", nil, err
	}
	body, err := jsonBody(c)
	return id, body, err
}

// jsonBody decodes a JSON object body; an empty body, null or {} is 400
// "Missing request body".
func jsonBody(c *fiber.Ctx) (map[string]json.RawMessage, error) {
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(raw)
	if len(body) == 0 || string(body) == "null" {
		return nil, hub.Errorf(hub.EInvalid, "Missing request body")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, hub.Errorf(hub.EInvalid, "Invalid JSON body: expected an object")
	}
	if len(m) == 0 {
		return nil, hub.Errorf(hub.EInvalid, "Missing request body")
	}
	return m, nil
}

// stringField reads body[key] as a string; ok is false when absent,
// null, or not a string.
func stringField(body map[string]json.RawMessage, key string) (v string, present, ok bool) {
	raw, present := body[key]
	if !present || string(bytes.TrimSpace(raw)) == "null" {
		return "", present, false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, false
	}
	return v, true, true
}

// auroraListIncidents is GET /api/incidents: {"incidents": [...], "total":
// n, "nextCursor": ...}, newest first, merged incidents left out; the hub's
// filters and cursor are optional query parameters (limit default 100).
func (s *Server) auroraListIncidents(c *fiber.Ctx) error {
	f, err := parseFilter(c, auroraListLimit)
	if err != nil {
		return err
	}
	f.ExcludeMerged = true
	ctx, db, o := c.UserContext(), s.store.Reads(), owner(c)
	items, next, err := incidents.List(ctx, db, o, f)
	if err != nil {
		return err
	}
	total, err := incidents.Count(ctx, db, o, f)
	if err != nil {
		return err
	}
	var mergedInto []string
	for i := range items {
		if m := items[i].MergedIntoIncidentID; m != nil {
			mergedInto = append(mergedInto, *m)
		}
	}
	titles, err := incidents.Titles(ctx, db, o, mergedInto)
	if err != nil {
		return err
	}
	out := make([]auroraIncidentJSON, 0, len(items))
	for i := range items {
		j := auroraIncident(&items[i], nil)
		j.MergedIntoTitle = mergedTitle(items[i].MergedIntoIncidentID, titles)
		out = append(out, j)
	}
	return c.JSON(fiber.Map{"incidents": out, "total": total, "nextCursor": nonEmpty(next)})
}

func mergedTitle(id *string, titles map[string]string) *string {
	if id == nil {
		return nil
	}
	t := titles[*id]
	return &t
}

// auroraGetIncident is GET /api/incidents/{id}: {"incident": {...}} in a
// bounded number of queries (the detail page polls it every second).
func (s *Server) auroraGetIncident(c *fiber.Ctx) error {
	id, err := incidentID(c, "id", "Invalid incident ID format")
	if err != nil {
		return err
	}
	o := owner(c)
	var (
		d           *hub.IncidentDetail
		attached    []incidents.AttachedIncident
		mergedInto  *string
		thoughts    []hub.Thought
		citations   []hub.Citation
		suggestions []hub.Suggestion
	)
	// One moment of the database: the page polls, and its parts must agree.
	err = s.store.ReadTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		var err error
		if d, err = incidents.Get(ctx, tx, o, id); err != nil {
			return err
		}
		if attached, err = incidents.Attached(ctx, tx, d.ID); err != nil {
			return err
		}
		if m := d.MergedIntoIncidentID; m != nil {
			titles, err := incidents.Titles(ctx, tx, o, []string{*m})
			if err != nil {
				return err
			}
			mergedInto = mergedTitle(m, titles)
		}
		if thoughts, err = store.Thoughts(ctx, tx, d.ID); err != nil {
			return err
		}
		if citations, err = store.Citations(ctx, tx, d.ID); err != nil {
			return err
		}
		suggestions, err = store.Suggestions(ctx, tx, d.ID)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"incident": auroraDetail(d, attached, mergedInto, thoughts, citations, suggestions)})
}

// auroraPatchIncident is PATCH /api/incidents/{id}: status, auroraStatus,
// summary (at most 10,000 characters) and activeTab (accepted, not kept:
// the hub has no chat tab). 200 {"success": true, "id": "..."}.
func (s *Server) auroraPatchIncident(c *fiber.Ctx) error {
	id, body, err := idAndBody(c, "Invalid incident ID format")
	if err != nil {
		return err
	}
	var p incidents.Patch
	known := false
	if v, present, ok := stringField(body, "status"); present {
		if !ok || oneOf(v, auroraStatuses, "") == "" {
			return hub.Errorf(hub.EInvalid, "Invalid status. Must be one of: %s", strings.Join(auroraStatuses, ", "))
		}
		p.Status, known = &v, true
	}
	if v, present, ok := stringField(body, "auroraStatus"); present {
		if !ok || oneOf(v, auroraAuroraStatuses, "") == "" {
			return hub.Errorf(hub.EInvalid, "Invalid auroraStatus. Must be one of: %s", strings.Join(auroraAuroraStatuses, ", "))
		}
		p.AuroraStatus, known = &v, true
	}
	if v, present, ok := stringField(body, "activeTab"); present {
		if !ok || oneOf(v, auroraActiveTabs, "") == "" {
			return hub.Errorf(hub.EInvalid, "Invalid activeTab. Must be one of: %s", strings.Join(auroraActiveTabs, ", "))
		}
		known = true
	}
	if raw, present := body["summary"]; present {
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return hub.Errorf(hub.EInvalid, "Invalid summary: must be a string")
		}
		if v != nil && utf8.RuneCountInString(*v) > 10000 {
			return hub.Errorf(hub.EInvalid, "Summary too long (max 10000 characters)")
		}
		p.Summary, known = v, true
		if v == nil {
			empty := ""
			p.Summary = &empty
		}
	}
	if !known {
		return hub.Errorf(hub.EInvalid, "No valid fields to update")
	}
	ctx, o := c.UserContext(), owner(c)
	provider, err := incidents.Update(ctx, s.store.Bun(), o, id, p)
	if err != nil {
		return err
	}
	s.publishUpdate(ctx, o, id, provider)
	return c.JSON(fiber.Map{"success": true, "id": id})
}

// publishUpdate tells the tenant's lists that an incident changed.
func (s *Server) publishUpdate(ctx context.Context, o hub.Owner, id, provider string) {
	if s.live != nil {
		s.live.Publish(ctx, o.Kind(), o.ID(), live.Event{Type: live.IncidentUpdate, IncidentID: id, Source: provider})
	}
}

type recentJSON struct {
	ID           string `json:"id"`
	AlertTitle   string `json:"alertTitle"`
	AlertService string `json:"alertService"`
	Severity     string `json:"severity"`
	SourceType   string `json:"sourceType"`
	Status       string `json:"status"`
	AuroraStatus string `json:"auroraStatus"`
	CreatedAt    string `json:"createdAt"`
}

// auroraRecentUnlinked is GET /api/incidents/recent-unlinked?exclude=:
// the newest 10 incidents still investigating, created in the last 30
// minutes and attached to no other: what a user may merge.
func (s *Server) auroraRecentUnlinked(c *fiber.Ctx) error {
	exclude := ""
	if u, err := uuid.Parse(c.Query("exclude")); err == nil {
		exclude = u.String()
	}
	items, err := incidents.RecentUnlinked(c.UserContext(), s.store.Reads(), owner(c), time.Now().Add(-recentWindow), exclude)
	if err != nil {
		return err
	}
	out := make([]recentJSON, 0, len(items))
	for i := range items {
		in := &items[i]
		out = append(out, recentJSON{
			ID: in.ID, AlertTitle: in.Title, AlertService: serviceName(in), Severity: orDefault(in.Severity, "unknown"),
			SourceType: in.Provider, Status: oneOf(in.Status, auroraStatuses, hub.IncidentInvestigating),
			AuroraStatus: oneOf(in.AuroraStatus, auroraAuroraStatuses, hub.AuroraIdle), CreatedAt: apiTime(in.CreatedAt),
		})
	}
	return c.JSON(fiber.Map{"incidents": out})
}

// auroraMergeAlert is POST /api/incidents/{id}/merge-alert
// {"sourceIncidentId": "..."}: the source incident becomes merged, an alert
// of this one.
func (s *Server) auroraMergeAlert(c *fiber.Ctx) error {
	target, body, err := idAndBody(c, "Invalid target incident ID format")
	if err != nil {
		return err
	}
	v, _, ok := stringField(body, "sourceIncidentId")
	src, perr := uuid.Parse(v)
	if !ok || perr != nil {
		return hub.Errorf(hub.EInvalid, "Invalid or missing sourceIncidentId")
	}
	source := src.String()
	if source == target {
		return hub.Errorf(hub.EInvalid, "Cannot merge incident into itself")
	}
	ctx, o := c.UserContext(), owner(c)
	var provider string
	err = s.store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		provider, err = incidents.Merge(ctx, tx, o, target, source)
		return err
	})
	if err != nil {
		return err
	}
	s.publishUpdate(ctx, o, target, provider)
	return c.JSON(fiber.Map{
		"success": true, "message": "Alert merged successfully", "newAlertId": source,
		"sourceIncidentId": source, "targetIncidentId": target,
	})
}

// auroraGetFeedback is GET /api/incidents/{id}/feedback: the caller's
// feedback, {"feedback": null} when none.
func (s *Server) auroraGetFeedback(c *fiber.Ctx) error {
	id, err := incidentID(c, "id", "Invalid incident ID format")
	if err != nil {
		return err
	}
	if _, err := incidents.Lookup(c.UserContext(), s.store.Reads(), owner(c), id); err != nil {
		return err
	}
	f, err := incidents.UserFeedback(c.UserContext(), s.store.Reads(), id, owner(c).UserID)
	if err != nil {
		return err
	}
	if f == nil {
		return c.JSON(fiber.Map{"feedback": nil})
	}
	return c.JSON(fiber.Map{"feedback": fiber.Map{
		"id": f.ID, "feedbackType": f.Type, "comment": f.Comment, "createdAt": apiTime(f.CreatedAt),
	}})
}

// auroraPostFeedback is POST /api/incidents/{id}/feedback
// {"feedback_type": "helpful"|"not_helpful", "comment"?: "..."}: 201, once
// per user and incident, on completed analyses only.
func (s *Server) auroraPostFeedback(c *fiber.Ctx) error {
	id, body, err := idAndBody(c, "Invalid incident ID format")
	if err != nil {
		return err
	}
	typ, _, _ := stringField(body, "feedback_type")
	if typ != incidents.FeedbackHelpful && typ != incidents.FeedbackNotHelpful {
		return hub.Errorf(hub.EInvalid, "Invalid feedback_type. Must be one of: helpful, not_helpful")
	}
	var comment *string
	if raw, present := body["comment"]; present {
		if err := json.Unmarshal(raw, &comment); err != nil {
			return hub.Errorf(hub.EInvalid, "Invalid comment: must be a string")
		}
		if comment != nil && utf8.RuneCountInString(*comment) > 2000 {
			return hub.Errorf(hub.EInvalid, "Comment too long (max 2000 characters)")
		}
		if comment != nil && *comment == "" {
			comment = nil
		}
	}
	ctx, o := c.UserContext(), owner(c)
	b, err := incidents.Lookup(ctx, s.store.Bun(), o, id)
	if err != nil {
		return err
	}
	if b.AuroraStatus != hub.AuroraComplete {
		return hub.Errorf(hub.EInvalid, "Can only provide feedback on completed analyses")
	}
	f := &incidents.Feedback{IncidentID: id, UserID: o.UserID, Type: typ, Comment: comment}
	added, err := incidents.AddFeedback(ctx, s.store.Bun(), f)
	if err != nil {
		return err
	}
	if !added {
		return hub.Errorf(hub.EConflict, "Feedback already submitted for this incident. Feedback cannot be changed.")
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"success": true, "feedbackId": f.ID, "feedbackType": f.Type,
		// The hub keeps feedback; it does not feed a learning store.
		"storedForLearning": false, "createdAt": apiTime(f.CreatedAt),
	})
}

// auroraFindings is GET /api/incidents/{id}/findings: the analysis's
// sub-agent findings; the hub's analyses have none yet.
func (s *Server) auroraFindings(c *fiber.Ctx) error {
	id, err := incidentID(c, "id", "Invalid incident ID format")
	if err != nil {
		return err
	}
	if _, err := incidents.Lookup(c.UserContext(), s.store.Reads(), owner(c), id); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"findings": []struct{}{}})
}

var agentIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// auroraFinding is GET /api/incidents/{id}/findings/{agentId}.
func (s *Server) auroraFinding(c *fiber.Ctx) error {
	id, err := incidentID(c, "id", "Invalid incident ID format")
	if err != nil {
		return err
	}
	if !agentIDPattern.MatchString(c.Params("agentId")) {
		return hub.Errorf(hub.EInvalid, "Invalid agent ID format")
	}
	if _, err := incidents.Lookup(c.UserContext(), s.store.Reads(), owner(c), id); err != nil {
		return err
	}
	return hub.Errorf(hub.ENotFound, "Finding not found")
}
