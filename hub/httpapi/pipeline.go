package httpapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"
)

func (s *Server) getSettings(c *fiber.Ctx) error {
	o := owner(c)
	st, err := s.store.Settings(c.UserContext(), o.Kind(), o.ID())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"automatedRca": st.AutomatedRCA})
}

func (s *Server) putSettings(c *fiber.Ctx) error {
	o := owner(c)
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return err
	}
	var body struct {
		AutomatedRCA *bool `json:"automatedRca"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.AutomatedRCA == nil {
		return hub.Errorf(hub.EInvalid, "Body must be {\"automatedRca\": true|false}")
	}
	st := &store.Settings{OwnerKind: o.Kind(), OwnerID: o.ID(), AutomatedRCA: *body.AutomatedRCA}
	if err := s.store.SaveSettings(c.UserContext(), st); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"automatedRca": st.AutomatedRCA})
}

// requestRCA is POST /incidents/:id/rca: run the analysis again now.
func (s *Server) requestRCA(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d, err := incidents.Get(ctx, s.store.Bun(), owner(c), c.Params("id"))
	if err != nil {
		return err
	}
	var id string
	err = s.store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		id, err = pipeline.EnqueueRCA(ctx, tx, s.jobs, d.ID, "manual", 0)
		return err
	})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"rcaId": id, "status": store.RCAQueued})
}

type rcaJSON struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Reason      string          `json:"reason"`
	Analyzer    string          `json:"analyzer,omitempty"`
	Report      json.RawMessage `json:"report"`
	Error       string          `json:"error,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	CompletedAt *time.Time      `json:"completedAt"`
}

func toRCAJSON(r *store.RCA) *rcaJSON {
	if r == nil {
		return nil
	}
	j := &rcaJSON{ID: r.ID, Status: r.Status, Reason: r.Reason, Analyzer: r.Analyzer, Error: r.Error, CreatedAt: r.CreatedAt.UTC(), CompletedAt: r.CompletedAt, Report: json.RawMessage("null")}
	if r.Report != nil {
		j.Report = json.RawMessage(*r.Report)
	}
	return j
}

// getRCA is GET /incidents/:id/rca: the latest analysis.
func (s *Server) getRCA(c *fiber.Ctx) error {
	// One read transaction: the analysis is of the incident as read (a
	// merge or retention between two reads cannot pair them wrongly).
	var r *store.RCA
	err := s.store.ReadTx(c.UserContext(), func(ctx context.Context, tx bun.Tx) error {
		d, err := incidents.Get(ctx, tx, owner(c), c.Params("id"))
		if err != nil {
			return err
		}
		r, err = store.LatestRCA(ctx, tx, d.ID)
		return err
	})
	if err != nil {
		return err
	}
	if r == nil {
		return hub.Errorf(hub.ENotFound, "No analysis yet")
	}
	return c.JSON(toRCAJSON(r))
}

type evidenceJSON struct {
	Kind     string          `json:"kind"`
	ID       string          `json:"id"`
	Summary  string          `json:"summary"`
	At       *time.Time      `json:"at"`
	DedupKey string          `json:"dedupKey,omitempty"`
	Service  *refJSONLite    `json:"service,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

type refJSONLite struct {
	ID      string `json:"id,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// analysisJSON is what the pipeline adds to GET /incidents/:id.
type analysisJSON struct {
	Enrichment  any            `json:"enrichment"`
	Evidence    []evidenceJSON `json:"evidence"`
	Correlation any            `json:"correlation"`
	RCA         *rcaJSON       `json:"rca"`
}

// incidentAnalysis reads the enrichment, evidence, correlation and latest
// analysis of incident id through db.
func incidentAnalysis(ctx context.Context, db bun.IDB, id string) (*analysisJSON, error) {
	enr, ev, err := store.IncidentEvidence(ctx, db, id)
	if err != nil {
		return nil, err
	}
	a := &analysisJSON{Evidence: make([]evidenceJSON, 0, len(ev))}
	if e := enr[id]; e != nil {
		a.Enrichment = fiber.Map{
			"status": e.Status, "notes": json.RawMessage(e.Notes), "relatedServices": json.RawMessage(e.RelatedServices),
			"error": nilIfEmpty(e.Error), "gatheredAt": e.GatheredAt.UTC(),
		}
	}
	for _, e := range ev {
		j := evidenceJSON{Kind: e.Kind, ID: e.ExternalID, Summary: e.Summary, At: e.At, DedupKey: e.DedupKey}
		if e.ServiceID != "" || e.ServiceName != "" {
			j.Service = &refJSONLite{ID: e.ServiceID, Summary: e.ServiceName}
		}
		if e.Data != nil {
			j.Data = json.RawMessage(*e.Data)
		}
		a.Evidence = append(a.Evidence, j)
	}
	corr, err := incidents.CorrelationOf(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if corr != nil {
		a.Correlation = fiber.Map{"parentIncidentId": corr.ParentIncidentID, "score": corr.Score, "parts": json.RawMessage(corr.Parts)}
	}
	r, err := store.LatestRCA(ctx, db, id)
	if err != nil {
		return nil, err
	}
	a.RCA = toRCAJSON(r)
	return a, nil
}

// deadLetters is GET /pipeline/dead-letters: the caller's webhook events
// that failed to apply MaxEventAttempts times.
func (s *Server) deadLetters(c *fiber.Ctx) error {
	o := owner(c)
	rows, err := store.DeadLetters(c.UserContext(), s.store.Reads(), o.Kind(), o.ID(), pipeline.MaxEventAttempts, 200)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, 0, len(rows))
	for _, r := range rows {
		out = append(out, fiber.Map{
			"id": r.ID, "provider": r.Provider, "eventId": r.EventID, "eventType": r.EventType,
			"receivedAt": r.ReceivedAt.UTC(), "attempts": r.Attempts, "lastError": r.LastError,
		})
	}
	return c.JSON(fiber.Map{"deadLetters": out})
}
