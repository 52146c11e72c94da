package incidents

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// CandidateBatch answers the narrow Candidates of incidents correlated in
// one transaction. Incidents of one tenant and service share one read of
// the service's most recent open incidents instead of one read each (in a
// storm, a chunk's incidents of a service are each other's candidates).
// The transaction's attachments are told to it (Attached) so that what it
// answers stays what a read would find.
type CandidateBatch struct {
	db    bun.IDB
	pools map[serviceKey]*servicePool
	// BeforeRead, when set, runs before Candidates reads the database (to
	// write what the transaction holds back, such as an AttachBatch).
	BeforeRead func(context.Context) error
}

type serviceKey struct{ ownerKind, ownerID, serviceID string }

// servicePool holds the most recent open incidents of a service that
// started before the latest of the batch's incidents of it, newest first,
// since a time.
type servicePool struct {
	rows []Facts
	// cut: the last read returned as many rows as it asked for (limit), so
	// older ones may exist that it did not return.
	cut   bool
	since time.Time
	limit int
}

// NewCandidateBatch reads, for each service with two or more of incs (of
// one tenant), the open incidents any of them may join on service: those
// that started within window before the earliest of them and before the
// latest, as many as the newest candidates of each need.
func NewCandidateBatch(ctx context.Context, db bun.IDB, incs []*Facts, window time.Duration) (*CandidateBatch, error) {
	b := &CandidateBatch{db: db, pools: map[serviceKey]*servicePool{}}
	groups := map[serviceKey][]*Facts{}
	for _, inc := range incs {
		if inc.ServiceID != "" {
			k := serviceKey{inc.OwnerKind, inc.OwnerID, inc.ServiceID}
			groups[k] = append(groups[k], inc)
		}
	}
	var reads []poolRead
	for k, g := range groups {
		if len(g) < 2 {
			continue // one read either way
		}
		latest, earliest := g[0], g[0]
		for _, inc := range g[1:] {
			if before(latest, inc) {
				latest = inc
			}
			if before(inc, earliest) {
				earliest = inc
			}
		}
		// Room for the group's own incidents and for others of the service
		// that started between them: with one row per incident instead of
		// two, a third of a storm's answers fell back to a read of their own.
		reads = append(reads, poolRead{key: k, latest: latest, since: earliest.StartedAt.Add(-window), limit: narrowCandidates + 2*len(g)})
	}
	pools, err := readPools(ctx, db, reads)
	if err != nil {
		return nil, err
	}
	for i, r := range reads {
		b.pools[r.key] = &servicePool{rows: pools[i], cut: len(pools[i]) == r.limit, since: r.since, limit: r.limit}
	}
	return b, nil
}

// poolRead is the read of one service's pool: its open incidents that
// started since since and before latest, newest first, at most limit.
type poolRead struct {
	key    serviceKey
	latest *Facts
	since  time.Time
	limit  int
}

// readPools reads the pools, their rows by read. On PostgreSQL in one
// statement: each read was a round trip made while the tenant's
// correlation lock is held, a few per transaction in a storm. On SQLite one
// each, whose statement text stays the same (and compiled).
func readPools(ctx context.Context, db bun.IDB, reads []poolRead) ([][]Facts, error) {
	out := make([][]Facts, len(reads))
	if len(reads) < 2 || store.SQLiteConn(db) != nil {
		for i, r := range reads {
			rows, err := readNarrow(ctx, db, r.latest, r.since, narrowByService, r.key.serviceID, r.limit)
			if err != nil {
				return nil, err
			}
			out[i] = rows
		}
		return out, nil
	}
	parts := make([]string, len(reads))
	var args []any
	for i, r := range reads {
		parts[i] = "(" + narrowByService + ")"
		args = append(append(args, openBeforeArgs(r.latest, r.since)...), r.key.serviceID, r.limit)
	}
	var rows []incidentRow
	if err := store.Select(ctx, db, &rows, strings.Join(parts, " UNION ALL "), args...); err != nil {
		return nil, fmt.Errorf("loading open incidents of %d services: %w", len(reads), err)
	}
	index := make(map[serviceKey]int, len(reads))
	for i, r := range reads {
		index[r.key] = i
	}
	for _, f := range factsOf(rows) {
		if i, ok := index[serviceKey{f.OwnerKind, f.OwnerID, f.ServiceID}]; ok {
			out[i] = append(out[i], f)
		}
	}
	for i := range out {
		// UNION ALL promises no order: each read's as narrowByService's.
		slices.SortFunc(out[i], newestFirst)
	}
	return out, nil
}

// Candidates is Candidates(ctx, db, inc, since, true), from the batch's
// read of inc's service when that read holds all of them.
func (b *CandidateBatch) Candidates(ctx context.Context, inc *Facts, since time.Time) ([]Facts, error) {
	p := b.pools[serviceKey{inc.OwnerKind, inc.OwnerID, inc.ServiceID}]
	if p == nil {
		if err := b.beforeRead(ctx); err != nil {
			return nil, err
		}
		return Candidates(ctx, b.db, inc, since, true)
	}
	service, ok := p.before(inc, since)
	for !ok {
		// The pool stops short of inc's candidates (other incidents of the
		// service started between the batch's): it reads on from its
		// oldest row. In a PostgreSQL storm a third of a transaction's
		// incidents each read their own candidates instead, a round trip
		// each, with the attachments written before every one.
		if err := b.beforeRead(ctx); err != nil {
			return nil, err
		}
		if err := p.extend(ctx, b.db, inc.ServiceID); err != nil {
			return nil, err
		}
		service, ok = p.before(inc, since)
	}
	if inc.IncidentKey == "" {
		return service, nil // withSameKey would read nothing
	}
	if err := b.beforeRead(ctx); err != nil {
		return nil, err
	}
	return withSameKey(ctx, b.db, inc, since, service)
}

func (b *CandidateBatch) beforeRead(ctx context.Context) error {
	if b.BeforeRead == nil {
		return nil
	}
	return b.BeforeRead(ctx)
}

// extend reads the pool's next rows: the open incidents of the service
// that started since the pool's time and before its oldest row.
func (p *servicePool) extend(ctx context.Context, db bun.IDB, serviceID string) error {
	more, err := readNarrow(ctx, db, &p.rows[len(p.rows)-1], p.since, narrowByService, serviceID, p.limit)
	if err != nil {
		return err
	}
	p.rows = append(p.rows, more...)
	p.cut = len(more) == p.limit
	return nil
}

// before returns the pool's newest narrowCandidates that inc may join,
// and whether they are exactly what a read for inc would return: they are
// unless the pool's read was cut before it found that many.
func (p *servicePool) before(inc *Facts, since time.Time) ([]Facts, bool) {
	var out []Facts
	for i := range p.rows {
		r := &p.rows[i]
		if !before(r, inc) {
			continue
		}
		if r.StartedAt.Before(since) || len(out) == narrowCandidates {
			return out, true // the rest are older still
		}
		if out == nil {
			out = make([]Facts, 0, min(narrowCandidates, len(p.rows)-i))
		}
		out = append(out, *r)
	}
	return out, len(out) == narrowCandidates || !p.cut
}

// Attached tells the batch that childID joined parentID, whose affected
// services are now parentServices, and that the incidents which had joined
// childID moved with it (Attach).
func (b *CandidateBatch) Attached(childID, parentID string, parentServices []string) {
	for _, p := range b.pools {
		for i := range p.rows {
			r := &p.rows[i]
			switch {
			case r.ID == childID:
				r.ParentIncidentID = &parentID
			case r.ID == parentID:
				r.AffectedServices = slices.Clone(parentServices)
			case r.ParentIncidentID != nil && *r.ParentIncidentID == childID:
				r.ParentIncidentID = &parentID
			}
		}
	}
}

// Top returns the facts of incident id as the batch holds them (true to
// the transaction's attachments, Attached -1 as in any candidate read),
// when one of its reads holds it and it has joined no other; ok is false
// otherwise. A storm's incidents join a parent of their service, whose
// facts the batch read with its candidates: read again, each parent was
// a flush of the transaction's attachments and a round trip.
func (b *CandidateBatch) Top(id string) (f Facts, ok bool) {
	for _, p := range b.pools {
		for i := range p.rows {
			if r := &p.rows[i]; r.ID == id {
				if r.ParentIncidentID != nil {
					return Facts{}, false
				}
				f = *r
				f.AffectedServices = slices.Clone(r.AffectedServices)
				return f, true
			}
		}
	}
	return Facts{}, false
}

// Pooled returns the ids of the incidents the batch read.
func (b *CandidateBatch) Pooled() []string {
	var ids []string
	for _, p := range b.pools {
		for _, r := range p.rows {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Parents returns the ids of the incidents that the batch's pooled
// incidents joined, other than those the batch holds as top-level (Top):
// in a storm, the parent of a service's incidents is its earliest, older
// than the newest incidents a pool holds.
func (b *CandidateBatch) Parents() []string {
	seen := map[string]bool{} // top-level in a pool, or already listed
	for _, p := range b.pools {
		for _, r := range p.rows {
			if r.ParentIncidentID == nil {
				seen[r.ID] = true
			}
		}
	}
	var ids []string
	for _, p := range b.pools {
		for _, r := range p.rows {
			if r.ParentIncidentID != nil && !seen[*r.ParentIncidentID] {
				seen[*r.ParentIncidentID] = true
				ids = append(ids, *r.ParentIncidentID)
			}
		}
	}
	return ids
}
