package pipeline

import (
	"context"
	"slices"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"
)

// CorrelateIncidentsArgs asks for the early correlation of the incidents
// one applied chunk opened: each that matches an open incident of its
// service or incident key on what the hub knows joins it. It runs in the
// default queue, beside the apply worker, because the chunk's
// process_incidents job runs in the analysis queue at the pace of the
// provider's API budget: a storm's children were correlated at about 15 a
// second there (the enrichment rate), and now as fast as they are applied.
// The process_incidents job finds them attached and gives them their light
// enrichment; it correlates early itself when it runs first.
type CorrelateIncidentsArgs struct {
	IncidentIDs []string `json:"incident_ids"`
}

// Kind names the job in River.
func (CorrelateIncidentsArgs) Kind() string { return "correlate_incidents" }

// InsertOpts: the default queue, behind the apply worker (priority 1), so
// that applying what arrives stays first.
func (CorrelateIncidentsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Priority: 2} }

// CorrelateIncidentsWorker correlates a chunk's incidents early, in order,
// in one transaction (the chunk is at most an apply transaction's size).
// Correlating is idempotent: an incident already attached is left as it is,
// so a retry or the chunk's process_incidents job running first is harmless.
type CorrelateIncidentsWorker struct {
	river.WorkerDefaults[CorrelateIncidentsArgs]
	Deps
	// Wakeups tells whether the apply worker is behind: correlating then
	// takes at most half of the time (nil: never yields).
	Wakeups *Wakeups
}

// Work implements river.Worker.
func (w *CorrelateIncidentsWorker) Work(ctx context.Context, job *river.Job[CorrelateIncidentsArgs]) error {
	one := &ProcessIncidentWorker{Deps: w.Deps}
	type published struct {
		ownerKind, ownerID string
		ev                 live.Event
	}
	var out []published
	began := time.Now()
	err := w.Store.InTxDeferring(ctx, func(ctx context.Context, tx bun.Tx) error {
		out = out[:0]
		facts, err := incidents.LoadFactsOf(ctx, tx, job.Args.IncidentIDs)
		if err != nil {
			return err
		}
		// The tenants' locks in one order, so two chunks' jobs never wait
		// for each other crosswise.
		var tenants [][2]string
		for _, f := range facts {
			tenants = append(tenants, [2]string{f.OwnerKind, f.OwnerID})
		}
		slices.SortFunc(tenants, func(a, b [2]string) int { return compareTenant(a, b) })
		for _, t := range slices.Compact(tenants) {
			if err := one.lockCorrelation(ctx, tx, t[0], t[1]); err != nil {
				return err
			}
		}
		for _, id := range job.Args.IncidentIDs {
			if f := facts[id]; f == nil || (f.ServiceID == "" && f.IncidentKey == "") {
				continue // gone (retention), or nothing to match on before enrichment
			}
			// Read again: the chunk's earlier decisions may have changed it.
			inc, err := incidents.LoadFacts(ctx, tx, id)
			if err != nil {
				return err
			}
			_, ev, err := one.correlateLocked(ctx, tx, inc, true)
			if err != nil {
				return err
			}
			if ev != nil {
				out = append(out, published{inc.OwnerKind, inc.OwnerID, *ev})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Only once committed: a client that refetches must find it.
	for _, p := range out {
		w.Live.Publish(ctx, p.ownerKind, p.ownerID, p.ev)
	}
	return w.Wakeups.yieldToApply(ctx, began)
}

func compareTenant(a, b [2]string) int {
	if a[0] != b[0] {
		if a[0] < b[0] {
			return -1
		}
		return 1
	}
	switch {
	case a[1] < b[1]:
		return -1
	case a[1] > b[1]:
		return 1
	}
	return 0
}
