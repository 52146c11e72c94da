package pipeline

import (
	"context"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// correlationReads reads what one transaction's correlation decisions
// need, each thing once: the candidates of a chunk's incidents of one
// service together (incidents.CandidateBatch), the candidates' evidence,
// and the parents their candidates lead to. In a storm a chunk's incidents
// share their service, candidates and parent, and reading them per
// incident was most of early correlation's cost. attached keeps what it
// holds true to what the transaction writes. With batchReads the
// attachments are written together (incidents.AttachBatch), before
// anything reads incidents from the database again and before the
// transaction ends (flush).
type correlationReads struct {
	tx bun.Tx
	// attachments: nil when each attachment is written at once.
	attachments *incidents.AttachBatch
	// batch: nil when each incident's candidates are read alone.
	batch *incidents.CandidateBatch
	// evidence by incident, for every incident in read.
	evidence map[string][]store.Evidence
	read     map[string]bool
	parents  map[string]*incidents.Facts
}

func newCorrelationReads(tx bun.Tx) *correlationReads {
	return &correlationReads{tx: tx, evidence: map[string][]store.Evidence{}, read: map[string]bool{}, parents: map[string]*incidents.Facts{}}
}

// batchReads is correlationReads for incs correlated narrowly in tx, one
// after another: one candidate read per service, and the evidence of
// them and of those candidates in one read.
func batchReads(ctx context.Context, tx bun.Tx, incs []*incidents.Facts, window time.Duration) (*correlationReads, error) {
	r := newCorrelationReads(tx)
	r.attachments = &incidents.AttachBatch{}
	var err error
	if r.batch, err = incidents.NewCandidateBatch(ctx, tx, incs, window); err != nil {
		return nil, err
	}
	r.batch.BeforeRead = r.flush
	// The parents the pooled candidates lead to, in one read before any
	// attachment (so none to write first): read when first needed, each
	// was a flush of the attachments and a round trip, a few per
	// transaction in a storm, whose parents are older than the pools.
	parents, err := incidents.LoadFactsOf(ctx, tx, r.batch.Parents())
	if err != nil {
		return nil, err
	}
	for id, f := range parents {
		r.parents[id] = f
	}
	ids := make([]string, 0, len(incs))
	for _, inc := range incs {
		ids = append(ids, inc.ID)
	}
	if _, err := r.signals(ctx, append(ids, r.batch.Pooled()...)); err != nil {
		return nil, err
	}
	return r, nil
}

// candidates returns what inc may join (incidents.Candidates).
func (r *correlationReads) candidates(ctx context.Context, inc *incidents.Facts, since time.Time, narrow bool) ([]incidents.Facts, error) {
	if narrow && r.batch != nil {
		return r.batch.Candidates(ctx, inc, since)
	}
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	return incidents.Candidates(ctx, r.tx, inc, since, narrow)
}

// signals returns the correlation evidence of ids, reading only those
// not read before.
func (r *correlationReads) signals(ctx context.Context, ids []string) ([]store.Evidence, error) {
	var missing []string
	for _, id := range ids {
		if !r.read[id] {
			r.read[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		ev, err := store.CorrelationSignals(ctx, r.tx, missing...)
		if err != nil {
			return nil, err
		}
		for _, e := range ev {
			r.evidence[e.IncidentID] = append(r.evidence[e.IncidentID], e)
		}
	}
	var out []store.Evidence
	for _, id := range ids {
		out = append(out, r.evidence[id]...)
	}
	return out, nil
}

// parent returns the facts of incident id, read once per transaction (or
// taken from the batch's candidate reads).
func (r *correlationReads) parent(ctx context.Context, id string) (*incidents.Facts, error) {
	if f := r.parents[id]; f != nil {
		return f, nil
	}
	if r.batch != nil {
		if f, ok := r.batch.Top(id); ok {
			r.parents[id] = &f
			return &f, nil
		}
	}
	f, err := r.loadFacts(ctx, id)
	if err != nil {
		return nil, err
	}
	r.parents[id] = f
	return f, nil
}

// attached records that child joined parent, whose affected services are
// now services: child is a parent no more, and the incidents that had
// joined it moved with it.
func (r *correlationReads) attached(child, parent string, services []string) {
	delete(r.parents, child)
	if p := r.parents[parent]; p != nil {
		p.AffectedServices = services
	}
	if r.batch != nil {
		r.batch.Attached(child, parent, services)
	}
}

// attach writes that a's incident joins its parent: at once, or with the
// transaction's other attachments.
func (r *correlationReads) attach(ctx context.Context, a incidents.Attachment) error {
	if r.attachments == nil {
		return incidents.Attach(ctx, r.tx, a)
	}
	return r.attachments.Add(ctx, r.tx, a)
}

// flush writes the attachments gathered so far; the transaction must not
// end, nor read incidents, before.
func (r *correlationReads) flush(ctx context.Context) error {
	if r.attachments == nil {
		return nil
	}
	return r.attachments.Flush(ctx, r.tx)
}

// loadFacts reads incident id as the transaction has it.
func (r *correlationReads) loadFacts(ctx context.Context, id string) (*incidents.Facts, error) {
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
	return incidents.LoadFacts(ctx, r.tx, id)
}
