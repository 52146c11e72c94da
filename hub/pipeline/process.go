package pipeline

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/apilimit"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/aurora-hub/aurora-hub/hub/metrics"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// ProcessIncidentArgs asks for a new incident's evidence and correlation,
// and, unless it joins an existing incident, its root-cause analysis.
type ProcessIncidentArgs struct {
	IncidentID string `json:"incident_id"`
}

// Kind names the job in River.
func (ProcessIncidentArgs) Kind() string { return "process_incident" }

// Deps are what the pipeline's jobs work with.
type Deps struct {
	Store       *store.Store
	Plugins     *pluginhost.Host
	Connections *connections.Service
	Live        *live.Broker
	Config      config.Pipeline
	Logger      hclog.Logger
	// Metrics counts what the jobs do (nil: not counted).
	Metrics *metrics.Metrics
	// Limiter paces enrichment's calls to providers' APIs per connection
	// (nil: not paced).
	Limiter *apilimit.Limiter
}

// ProcessIncidentWorker enriches a new incident through its provider's
// plugin, correlates it with the tenant's open incidents, and schedules its
// analysis.
type ProcessIncidentWorker struct {
	river.WorkerDefaults[ProcessIncidentArgs]
	Deps
}

// Work implements river.Worker: it processes the job's incident and
// completes the job in the transaction that finishes it.
func (w *ProcessIncidentWorker) Work(ctx context.Context, job *river.Job[ProcessIncidentArgs]) error {
	return w.process(ctx, job.Args.IncidentID, func(ctx context.Context, tx bun.Tx) error {
		return jobs.CompleteTx(ctx, w.Store, tx.Tx, job)
	})
}

// process processes one incident. An incident that joins an open one on
// what the hub already knows (same service or key, before any API call)
// gets a light enrichment, its own alerts; any other is enriched in full
// (the service-level part shared with the service's other incidents), then
// correlated with everything known and, unless it joins one, analysed.
// So a storm costs one full enrichment per parent and one call per child.
// The last transaction marks the incident processed and runs finish.
func (w *ProcessIncidentWorker) process(ctx context.Context, id string, finish func(context.Context, bun.Tx) error) error {
	inc, err := incidents.LoadFacts(ctx, w.Store.Bun(), id)
	if err != nil {
		return err
	}
	done := func(ctx context.Context, tx bun.Tx) error {
		if err := incidents.MarkProcessed(ctx, tx, inc.ID, time.Now()); err != nil {
			return err
		}
		if finish == nil {
			return nil
		}
		return finish(ctx, tx)
	}
	joined, err := w.correlateEarly(ctx, inc)
	if err != nil {
		return err
	}
	if joined {
		if err := w.enrich(ctx, inc, true); err != nil {
			return err
		}
		return w.Store.InTx(ctx, done)
	}
	if err := w.enrich(ctx, inc, false); err != nil {
		return err
	}
	var correlated *live.Event
	err = w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var joined bool
		var err error
		joined, correlated, err = w.correlate(ctx, tx, inc, false)
		if err != nil {
			return err
		}
		if !joined {
			if err := w.scheduleRCA(ctx, tx, inc); err != nil {
				return err
			}
		}
		return done(ctx, tx)
	})
	if err == nil && correlated != nil {
		// Only once committed: a client that refetches must find it.
		w.Live.Publish(ctx, inc.OwnerKind, inc.OwnerID, *correlated)
	}
	return err
}

// correlateEarly attaches inc, before its enrichment, to an open incident
// of the same service or key that it matches on what the hub knows.
func (w *ProcessIncidentWorker) correlateEarly(ctx context.Context, inc *incidents.Facts) (bool, error) {
	if inc.ServiceID == "" && inc.IncidentKey == "" {
		return false, nil
	}
	var joined bool
	var correlated *live.Event
	err := w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		joined, correlated, err = w.correlate(ctx, tx, inc, true)
		return err
	})
	if err == nil && correlated != nil {
		w.Live.Publish(ctx, inc.OwnerKind, inc.OwnerID, *correlated)
	}
	return joined, err
}

// enrich gathers the incident's evidence (light: its alerts only). What
// cannot be gathered is recorded, not fatal; a rate limit postpones the job
// as the provider asks, and so does a spent API call budget.
func (w *ProcessIncidentWorker) enrich(ctx context.Context, inc *incidents.Facts, light bool) error {
	rec := &store.Enrichment{IncidentID: inc.ID, Status: "complete", Notes: "[]", RelatedServices: "[]", GatheredAt: time.Now().UTC()}
	var evidence []store.Evidence
	began := time.Now()
	res, err := w.gather(ctx, inc, light)
	took := time.Since(began)
	se := pluginError(err)
	var spent *snoozeError
	switch {
	case errors.As(err, &spent):
		w.Logger.Debug("enrichment paced, snoozing", "incident", inc.ID, "after", spent.after)
		return river.JobSnooze(spent.after)
	case err == nil:
		evidence = evidenceRows(inc.ID, res.Evidence)
		rec.Notes = mustJSON(nonNil(res.Notes))
		rec.RelatedServices = mustJSON(nonNil(res.RelatedServices))
		if len(res.Notes) > 0 {
			rec.Status = "partial"
		}
	case sdk.IsUnimplemented(err):
		rec.Status, rec.Error = "unsupported", "the provider offers no enrichment"
	case se != nil && se.Code == sdk.CodeRateLimited:
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Minute
		}
		w.Metrics.Enriched(inc.Provider, metrics.EnrichRateLimited, took, wait)
		// No call on this connection until then, from any job or replica.
		if err := w.Limiter.Pause(ctx, budgetKey(inc.Provider, inc.ConnectionID), wait); err != nil {
			w.Logger.Warn("pausing the API call budget", "error", err)
		}
		w.Logger.Info("enrichment rate limited, snoozing", "incident", inc.ID, "retry_after", wait)
		return river.JobSnooze(wait)
	case se != nil && se.Code == sdk.CodeUnavailable:
		w.Metrics.Enriched(inc.Provider, metrics.EnrichUnavailable, took, 0)
		return fmt.Errorf("enriching incident %s: %w", inc.ID, err) // the plugin restarts; River retries
	default:
		rec.Status, rec.Error = "failed", errorMessage(err)
		w.Logger.Warn("enrichment failed", "incident", inc.ID, "error", err)
	}
	// The store's statuses are the metric's: complete, partial, unsupported, failed.
	w.Metrics.Enriched(inc.Provider, rec.Status, took, 0)
	return w.Store.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		return store.SaveEnrichment(ctx, tx, rec, evidence)
	})
}

func (w *ProcessIncidentWorker) gather(ctx context.Context, inc *incidents.Facts, light bool) (*sdk.Enrichment, error) {
	p, ok := w.Plugins.Get(inc.Provider)
	if !ok {
		return nil, &sdk.Error{Code: sdk.CodeUnimplemented, Message: "provider " + inc.Provider + " is not installed"}
	}
	if p.State != pluginhost.StateRunning {
		return nil, &sdk.Error{Code: sdk.CodeUnavailable, Message: "provider " + inc.Provider + " is " + p.State}
	}
	if !p.Manifest.Has(sdk.CapabilityEnrichment) {
		return nil, &sdk.Error{Code: sdk.CodeUnimplemented, Message: "no enrichment"}
	}
	conn, err := w.Store.ConnectionByID(ctx, inc.ConnectionID)
	if err != nil {
		return nil, fmt.Errorf("loading the incident's connection: %w", err)
	}
	creds, err := w.Connections.Credentials(ctx, conn)
	if err != nil {
		return nil, &credentialsError{err}
	}
	e := &enricher{w: w, p: p, inc: inc, conn: conn, creds: creds}
	if light {
		return e.light(ctx)
	}
	return e.full(ctx)
}

// credentialsError: the connection's token could not be had. Its codes are
// the hub's, not the plugin's (one error type carries both), so it is
// recorded as a failure, never retried as the plugin's unavailability.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// pluginError is err's *sdk.Error when the plugin (or the host for it)
// answered with it; nil for anything else, the hub's own errors included.
func pluginError(err error) *sdk.Error {
	var se *sdk.Error
	var creds *credentialsError
	if !errors.As(err, &se) || errors.As(err, &creds) {
		return nil
	}
	return se
}

func errorMessage(err error) string {
	var he *hub.Error
	if errors.As(err, &he) {
		return he.Message
	}
	return "enrichment failed"
}

func evidenceRows(incidentID string, es []sdk.Evidence) []store.Evidence {
	rows := make([]store.Evidence, 0, len(es))
	for i, e := range es {
		r := store.Evidence{IncidentID: incidentID, Kind: e.Kind, ExternalID: e.ID, Summary: e.Summary, DedupKey: e.DedupKey}
		if r.ExternalID == "" {
			r.ExternalID = fmt.Sprintf("#%d", i)
		}
		if !e.At.IsZero() {
			at := e.At.UTC()
			r.At = &at
		}
		if len(e.Data) > 0 && json.Valid(e.Data) {
			d := string(e.Data)
			r.Data = &d
		}
		if e.Service != nil {
			r.ServiceID, r.ServiceName = e.Service.ID, e.Service.Summary
		}
		rows = append(rows, r)
	}
	return rows
}

// correlate attaches inc to the best-matching open incident of its tenant,
// if any scores at or above the threshold, and returns the live event to
// publish once tx commits. narrow considers only open incidents of the same
// service or incident key (an index lookup, a handful of rows in a storm)
// instead of up to 500. inc is read again in tx first: another job (the
// chunk's correlate_incidents, or a retry) may have attached it since.
func (w *ProcessIncidentWorker) correlate(ctx context.Context, tx bun.Tx, inc *incidents.Facts, narrow bool) (bool, *live.Event, error) {
	if err := w.lockCorrelation(ctx, tx, inc.OwnerKind, inc.OwnerID); err != nil {
		return false, nil, err
	}
	fresh, err := incidents.LoadFacts(ctx, tx, inc.ID)
	if err != nil {
		return false, nil, err
	}
	*inc = *fresh
	return w.correlateLocked(ctx, newCorrelationReads(tx), inc, narrow)
}

// lockCorrelation makes one tenant's correlation decisions one at a time
// on PostgreSQL (across replicas too), so two new incidents cannot each
// pick the other, or a parent that is being attached elsewhere at that
// moment. SQLite's single writer gives the same order.
func (w *ProcessIncidentWorker) lockCorrelation(ctx context.Context, tx bun.Tx, ownerKind, ownerID string) error {
	if w.Store.Driver != "postgres" {
		return nil
	}
	return incidents.LockCorrelation(ctx, tx, ownerKind, ownerID)
}

// correlateLocked is correlate for an inc read in reads' transaction after
// the tenant's correlation lock was taken.
func (w *ProcessIncidentWorker) correlateLocked(ctx context.Context, reads *correlationReads, inc *incidents.Facts, narrow bool) (bool, *live.Event, error) {
	if inc.ParentIncidentID != nil {
		return true, nil, nil // already attached by an earlier attempt
	}
	// Only incidents that started earlier (ties broken by id) can be
	// parents, so two incidents never choose each other. Narrow: incidents
	// of the service that already joined a parent count too (inc then
	// joins that parent), so a storm's later incidents find it however its
	// first ones were attached.
	open, err := reads.candidates(ctx, inc, inc.StartedAt.Add(-w.Config.CorrelationWindow), narrow)
	if err != nil {
		return false, nil, err
	}
	if len(open) == 0 {
		return false, nil, nil
	}
	ids := make([]string, 1, len(open)+1)
	ids[0] = inc.ID
	for _, o := range open {
		ids = append(ids, o.ID)
	}
	evidence, err := reads.signals(ctx, ids)
	if err != nil {
		return false, nil, err
	}
	dedup := map[string][]string{}
	var edges [][2]string
	serviceOf := make(map[string]string, len(open)+1)
	serviceOf[inc.ID] = inc.ServiceID
	for _, o := range open {
		serviceOf[o.ID] = o.ServiceID
	}
	for _, e := range evidence {
		switch e.Kind {
		case sdk.EvidenceAlert:
			if e.DedupKey != "" {
				dedup[e.IncidentID] = append(dedup[e.IncidentID], e.DedupKey)
			}
		case sdk.EvidenceDependency:
			if from := serviceOf[e.IncidentID]; from != "" && e.ServiceID != "" {
				edges = append(edges, [2]string{from, e.ServiceID})
			}
		}
	}
	candidate := func(f *incidents.Facts) correlation.Candidate {
		return correlation.Candidate{
			ID: f.ID, Provider: f.Provider, ServiceID: f.ServiceID, ServiceName: f.ServiceName,
			IncidentKey: f.IncidentKey, DedupKeys: dedup[f.ID], Title: f.Title, StartedAt: f.StartedAt,
		}
	}
	cands := make([]correlation.Candidate, len(open))
	for i := range open {
		cands[i] = candidate(&open[i])
	}
	cfg := correlation.Config{Window: w.Config.CorrelationWindow, Threshold: w.Config.CorrelationThreshold}
	best, ok := correlation.Best(cfg, correlation.NewGraph(edges), candidate(inc), cands)
	if !ok {
		return false, nil, nil
	}
	var parent *incidents.Facts
	for i := range open {
		if open[i].ID == best.CandidateID {
			parent = &open[i]
		}
	}
	if parent.ParentIncidentID != nil {
		// inc matches an incident that joined another: it joins that one.
		if *parent.ParentIncidentID == inc.ID {
			return false, nil, nil
		}
		if parent, err = reads.parent(ctx, *parent.ParentIncidentID); err != nil {
			return false, nil, err
		}
		if parent.Status != hub.IncidentInvestigating && parent.Status != hub.IncidentAnalyzed {
			return false, nil, nil // that storm is over
		}
	}
	services, err := attach(ctx, reads, inc, parent, best)
	if err != nil {
		return false, nil, err
	}
	reads.attached(inc.ID, parent.ID, services)
	score := best.Total
	w.Metrics.IncidentCorrelated(inc.Provider)
	w.Logger.Info("incident correlated", "incident", inc.ID, "parent", parent.ID, "score", score)
	return true, &live.Event{
		Type: live.AlertCorrelated, IncidentID: parent.ID, Source: inc.Provider,
		CorrelationScore: &score, CorrelatedIncidentID: inc.ID, AlertTitle: inc.Title,
	}, nil
}

// attach makes inc a child of parent (incidents that had already joined
// inc move with it), the parent's affected services now also inc's, and
// returns those.
func attach(ctx context.Context, reads *correlationReads, inc, parent *incidents.Facts, best correlation.Score) ([]string, error) {
	services := append([]string(nil), parent.AffectedServices...)
	for _, s := range append([]string{parent.ServiceName, inc.ServiceName}, inc.AffectedServices...) {
		if s != "" && !contains(services, s) {
			services = append(services, s)
		}
	}
	sort.Strings(services)
	return services, reads.attach(ctx, incidents.Attachment{
		IncidentID: inc.ID, ParentID: parent.ID, AffectedServices: services,
		Score: best.Total, Parts: mustJSON(best.Parts), At: time.Now().UTC(), NoneAttached: inc.Attached == 0,
	})
}

// scheduleRCA queues the automatic analysis after the configured delay,
// unless the tenant switched it off.
func (w *ProcessIncidentWorker) scheduleRCA(ctx context.Context, tx bun.Tx, inc *incidents.Facts) error {
	settings, err := store.TenantSettings(ctx, tx, inc.OwnerKind, inc.OwnerID)
	if err != nil {
		return err
	}
	if !settings.AutomatedRCA {
		return nil
	}
	_, err = EnqueueRCA(ctx, tx, river.ClientFromContext[*sql.Tx](ctx), inc.ID, "automatic", w.Config.RCADelay)
	return err
}

// EnqueueRCA records a queued analysis of the incident and inserts its job
// (to run after delay), both in tx.
func EnqueueRCA(ctx context.Context, tx bun.Tx, jc *jobs.Client, incidentID, reason string, delay time.Duration) (string, error) {
	r := &store.RCA{ID: uuid.NewString(), IncidentID: incidentID, Status: store.RCAQueued, Reason: reason, CreatedAt: time.Now().UTC()}
	if err := store.InsertRCA(ctx, tx, r); err != nil {
		return "", err
	}
	opts := &river.InsertOpts{}
	if delay > 0 {
		opts.ScheduledAt = time.Now().Add(delay)
	}
	if _, err := jc.InsertTx(ctx, tx.Tx, RCAArgs{IncidentID: incidentID, RCAID: r.ID}, opts); err != nil {
		return "", fmt.Errorf("enqueuing analysis: %w", err)
	}
	return r.ID, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// InsertOpts makes the job unique per incident (an incident is processed
// once, however many workers see it open) and runs it on the analysis queue
// behind analyses (priority 2 to their 1), so a storm's parent is analysed
// as soon as it is due, not after its thousands of children are processed.
func (ProcessIncidentArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueAnalysis, Priority: 2, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}
