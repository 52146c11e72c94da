package pipeline

import (
	"context"
	"slices"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/jobs"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// CorrelateIncidentsArgs asks for the early correlation of incidents that
// applied chunks opened (up to correlateBatch): each that matches an open
// incident of its service or incident key on what the hub knows joins it.
// It runs in the default queue, beside the apply worker, because the
// chunk's process_incidents job runs in the analysis queue at the pace of
// the provider's API budget: a storm's children were correlated at about
// 15 a second there (the enrichment rate), and now as fast as they are
// applied.
// The process_incidents job finds them attached and gives them their light
// enrichment; it correlates early itself when it runs first.
type CorrelateIncidentsArgs struct {
	IncidentIDs []string `json:"incident_ids"`
}

// Kind names the job in River.
func (CorrelateIncidentsArgs) Kind() string { return "correlate_incidents" }

// InsertOpts: a queue of its own (jobs.QueueCorrelation, one worker per
// replica). In the default queue, behind the apply jobs (priority 1), a
// storm's early correlation waited until its backlog was applied: the apply
// jobs took both of SQLite's workers. It yields to applying instead
// (Wakeups.yieldToApply).
func (CorrelateIncidentsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueCorrelation}
}

// CorrelateIncidentsWorker correlates newly opened incidents early, in
// order. Correlating is idempotent: an incident already attached is left as
// it is, so a retry or a process_incidents job running first is harmless.
type CorrelateIncidentsWorker struct {
	river.WorkerDefaults[CorrelateIncidentsArgs]
	Deps
	// Wakeups tells whether the apply worker is behind (correlating then
	// waits) or webhooks arrive (it takes at most half of the time); nil
	// never waits.
	Wakeups *Wakeups
}

// Work implements river.Worker: the incidents grouped by service (byService),
// a few per transaction (Wakeups.correlateChunk), so that the inbox's
// commits never wait long for SQLite's one connection.
func (w *CorrelateIncidentsWorker) Work(ctx context.Context, job *river.Job[CorrelateIncidentsArgs]) error {
	ids, err := w.byService(ctx, job.Args.IncidentIDs)
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), w.Wakeups.correlateChunk())
		began := time.Now()
		if err := w.correlate(ctx, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
		if err := w.Wakeups.yieldToApply(ctx, began); err != nil {
			return err
		}
	}
	return nil
}

// byService orders ids so that incidents of one tenant and service follow
// one another, in the order they started (each service where its first
// incident was), so that a transaction's incidents share one read of their
// candidates (batchReads). Ties are broken by id, as the order in which
// incidents may join one another is: ordered by start alone, a storm's
// incidents of one second (providers give seconds) joined ones later in
// the transaction, which were then read again and moved along when those
// joined their own parent. The order across services does not change the
// decisions: an incident that joins another takes those that had joined it
// along.
func (w *CorrelateIncidentsWorker) byService(ctx context.Context, ids []string) ([]string, error) {
	// On the read connections: ordering needs no writer, and their
	// transaction committed before this job could start.
	facts, err := incidents.LoadFactsOf(ctx, w.Store.Reads(), ids)
	if err != nil {
		return nil, err
	}
	type service struct{ ownerKind, ownerID, id string }
	rank := map[service]int{}
	group := make(map[string]int, len(ids))
	for _, id := range ids {
		var s service
		if f := facts[id]; f != nil {
			s = service{f.OwnerKind, f.OwnerID, f.ServiceID}
		}
		if _, ok := rank[s]; !ok {
			rank[s] = len(rank)
		}
		group[id] = rank[s]
	}
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b string) int {
		if c := group[a] - group[b]; c != 0 {
			return c
		}
		if fa, fb := facts[a], facts[b]; fa != nil && fb != nil {
			return incidents.StartOrder(fa, fb)
		}
		return 0
	})
	return out, nil
}

// correlate correlates ids early in one transaction and publishes the
// correlations once it has committed.
func (w *CorrelateIncidentsWorker) correlate(ctx context.Context, ids []string) error {
	one := &ProcessIncidentWorker{Deps: w.Deps}
	var out []live.Update
	err := w.Store.InTxDeferring(ctx, func(ctx context.Context, tx bun.Tx) error {
		out = out[:0]
		facts, err := incidents.LoadFactsOf(ctx, tx, ids)
		if err != nil {
			return err
		}
		if w.Store.Driver == "postgres" {
			// The tenants' locks in one order, so two jobs never wait for
			// each other crosswise; then read again what they guard.
			var tenants [][2]string
			for _, f := range facts {
				tenants = append(tenants, [2]string{f.OwnerKind, f.OwnerID})
			}
			slices.SortFunc(tenants, func(a, b [2]string) int { return slices.Compare(a[:], b[:]) })
			for _, t := range slices.Compact(tenants) {
				if err := one.lockCorrelation(ctx, tx, t[0], t[1]); err != nil {
					return err
				}
			}
			if facts, err = incidents.LoadFactsOf(ctx, tx, ids); err != nil {
				return err
			}
		}
		// In ids' order, leaving out those gone (retention) and those with
		// nothing to match on before enrichment.
		var incs []*incidents.Facts
		for _, id := range ids {
			if inc := facts[id]; inc != nil && (inc.ServiceID != "" || inc.IncidentKey != "") {
				incs = append(incs, inc)
			}
		}
		reads, err := batchReads(ctx, tx, incs, w.Config.CorrelationWindow)
		if err != nil {
			return err
		}
		// joined: incidents that others joined in this transaction (their
		// stored affected services changed since facts were read).
		joined := map[string]bool{}
		for _, inc := range incs {
			if joined[inc.ID] {
				if inc, err = reads.loadFacts(ctx, inc.ID); err != nil {
					return err
				}
			}
			_, ev, err := one.correlateLocked(ctx, reads, inc, true)
			if err != nil {
				return err
			}
			if ev != nil {
				joined[ev.IncidentID] = true
				out = append(out, live.Update{OwnerKind: inc.OwnerKind, OwnerID: inc.OwnerID, Event: *ev})
			}
		}
		return reads.flush(ctx)
	})
	if err != nil {
		return err
	}
	// Only once committed: a client that refetches must find it.
	w.Live.PublishAll(ctx, out)
	return nil
}
