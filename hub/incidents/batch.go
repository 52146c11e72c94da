package incidents

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Item is one event to apply and where it came from.
type Item struct {
	Src   Source
	Event sdk.Event
}

// Result is what applying one item did, as Apply reports it: the incident
// ("" for events that concern none) and whether the event was new.
type Result struct {
	IncidentID string
	Changed    bool
}

// ApplyBatch applies items, in order, exactly as applying each with Apply
// in turn would, in a constant number of statements instead of a few per
// event: it loads the batch's incidents, checks which events their
// timelines already hold, folds the events into the incidents in memory
// (the same merge Apply does), then writes the incidents, the timeline
// entries and the custom fields with one multi-row statement each. Events
// of a batch get one "now" (recordedAt, updatedAt, the time of an event
// without one), as if they had arrived in the same microsecond.
//
// Run it inside a transaction (db is normally a bun.Tx). On PostgreSQL it
// first locks every incident of the batch, creating the unknown ones, with
// one INSERT ... ON CONFLICT DO UPDATE ... RETURNING over the incident keys
// in sorted order: the row locks last until the transaction ends, so
// concurrent workers applying events of one incident serialise on it, and
// always take their locks in the same order, so they cannot deadlock.
// SQLite serialises writers anyway (the store begins write transactions
// IMMEDIATE), so there a plain SELECT loads the incidents.
//
// Applying is idempotent: each event is recorded once per incident (by
// event id) and a replay changes nothing (Changed false). Events that
// arrive out of order never move an incident back: only a full incident
// event at least as new as the newest state already applied changes its
// state. Partial events (notes, custom-field updates, ...) never change
// state; when the incident is unknown they create a placeholder that the
// full event fills later. A custom field takes the newest value set (a
// cleared one is kept as a "null" tombstone, so an older update cannot
// bring it back).
func ApplyBatch(ctx context.Context, db bun.IDB, items []Item) ([]Result, error) {
	results, _, err := ApplyBatchOpened(ctx, db, items)
	return results, err
}

// ApplyBatchOpened is ApplyBatch that also returns the ids of the
// incidents the batch opened: that had no state before it (unknown, or a
// placeholder from a partial event) and have one now.
func ApplyBatchOpened(ctx context.Context, db bun.IDB, items []Item) ([]Result, []string, error) {
	results, lc, err := ApplyBatchLifecycle(ctx, db, items)
	return results, lc.Opened, err
}

// Lifecycle is what a batch did to its incidents' lifecycle.
type Lifecycle struct {
	// Opened: the incidents that had no state before the batch (unknown, or
	// a placeholder from a partial event) and have one now.
	Opened []string
	// Resolved: the incidents that were not resolved before the batch (or
	// had no state) and are resolved now.
	Resolved []string
}

// ApplyBatchLifecycle is ApplyBatch that also says which incidents the
// batch opened and resolved.
func ApplyBatchLifecycle(ctx context.Context, db bun.IDB, items []Item) ([]Result, Lifecycle, error) {
	b, err := newBatch(items, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, Lifecycle{}, err
	}
	if len(b.work) == 0 {
		return b.results, Lifecycle{}, nil
	}
	if err := b.load(ctx, db); err != nil {
		return nil, Lifecycle{}, err
	}
	b.fold()
	if err := b.write(ctx, db); err != nil {
		return nil, Lifecycle{}, err
	}
	return b.results, Lifecycle{Opened: b.opened(), Resolved: b.resolved()}, nil
}

// incidentKey identifies an incident: its owner's and provider's id of it.
type incidentKey struct{ provider, ownerKind, ownerID, externalID string }

func (k incidentKey) compare(o incidentKey) int {
	return cmp.Or(strings.Compare(k.provider, o.provider), strings.Compare(k.ownerKind, o.ownerKind),
		strings.Compare(k.ownerID, o.ownerID), strings.Compare(k.externalID, o.externalID))
}

// pair is an incident's id and an event id (or a custom field's name).
type pair struct{ incidentID, name string }

// batchIncident is one incident of a batch.
type batchIncident struct {
	key   incidentKey
	first *step // the batch's first event of the incident
	// row is the incident: loaded (and on PostgreSQL locked), or nil until
	// the fold creates it. inserted: PostgreSQL's lock statement inserted
	// it, as first describes it.
	row      *incidentRow
	inserted bool
	// wasOpen: the incident had a state before this batch (it existed and
	// was not a placeholder made from a partial event).
	wasOpen bool
	// wasResolved: the incident was resolved before this batch.
	wasResolved bool
	dirty       bool // row must be written
}

// step is an item that concerns an incident.
type step struct {
	item  int
	inc   *batchIncident
	at    time.Time
	evID  string
	extID string
}

type batch struct {
	items   []Item
	now     time.Time
	results []Result
	work    []step
	incs    []*batchIncident // sorted by key
	known   map[pair]bool    // (incident, event id) pairs applied

	// What the fold produced.
	timeline []eventRow
	fields   []fieldRow
}

func newBatch(items []Item, now time.Time) (*batch, error) {
	b := &batch{items: items, now: now, results: make([]Result, len(items))}
	byKey := map[incidentKey]*batchIncident{}
	for i := range items {
		it := &items[i]
		in := it.Event.Incident
		if in == nil {
			continue
		}
		extID := strings.TrimSpace(in.ExternalID)
		if extID == "" {
			continue
		}
		if it.Src.Provider == "" || it.Src.OwnerKind == "" || it.Src.OwnerID == "" {
			return nil, errors.New("incidents: source needs a provider and an owner")
		}
		k := incidentKey{it.Src.Provider, it.Src.OwnerKind, it.Src.OwnerID, extID}
		inc := byKey[k]
		if inc == nil {
			inc = &batchIncident{key: k}
			byKey[k] = inc
			b.incs = append(b.incs, inc)
		}
		b.work = append(b.work, step{item: i, inc: inc, at: eventTime(it.Event, now), evID: eventID(it.Event), extID: extID})
	}
	for i := range b.work {
		if s := &b.work[i]; s.inc.first == nil {
			s.inc.first = s
		}
	}
	slices.SortFunc(b.incs, func(x, y *batchIncident) int { return x.key.compare(y.key) })
	return b, nil
}

// load reads (and on PostgreSQL locks, creating the unknown ones) the
// batch's incidents, then which of the batch's events they already hold.
func (b *batch) load(ctx context.Context, db bun.IDB) error {
	var rows []incidentRow
	if db.Dialect().Name() == dialect.PG {
		// As Apply always did, but for every incident at once: insert each
		// unknown incident as its first event describes it, and take the
		// row lock of the known ones with a no-op update. Rows are locked in
		// the order of the VALUES list: by key.
		news := make([]incidentRow, len(b.incs))
		for i, inc := range b.incs {
			s := inc.first
			ev := b.items[s.item]
			news[i] = *newRow(ev.Src, s.extID, ev.Event.Incident, ev.Event, s.at, b.now, newIncidentID())
		}
		_, err := db.NewInsert().Model(&news).
			On("CONFLICT (provider, owner_kind, owner_id, external_id) DO UPDATE").
			Set("external_id = EXCLUDED.external_id").
			Returning("*").
			Exec(ctx, &rows)
		if err != nil {
			return fmt.Errorf("locking %d incidents: %w", len(news), err)
		}
		ids := make(map[incidentKey]string, len(news))
		for i := range news {
			ids[b.incs[i].key] = news[i].ID
		}
		if err := b.attach(rows); err != nil {
			return err
		}
		for _, inc := range b.incs {
			if inc.row == nil {
				return fmt.Errorf("locking incidents: no row for %s", inc.key.externalID)
			}
			inc.inserted = inc.row.ID == ids[inc.key]
		}
	} else if ex := store.SQLiteConn(db); ex != nil {
		if err := b.loadSQLite(ctx, db, ex, &rows); err != nil {
			return err
		}
		if err := b.attach(rows); err != nil {
			return err
		}
	} else {
		keys := make([]bun.TupleValues, len(b.incs))
		for i, inc := range b.incs {
			keys[i] = bun.Tuple([]string{inc.key.provider, inc.key.ownerKind, inc.key.ownerID, inc.key.externalID})
		}
		err := db.NewSelect().Model(&rows).
			Where("(i.provider, i.owner_kind, i.owner_id, i.external_id) IN (VALUES ?)", bun.List(keys)).
			Scan(ctx)
		if err != nil {
			return fmt.Errorf("loading %d incidents: %w", len(keys), err)
		}
		if err := b.attach(rows); err != nil {
			return err
		}
	}

	// Which events the incidents that existed before the batch hold.
	b.known = make(map[pair]bool, len(b.work))
	var pairs []bun.TupleValues
	var plain []pair // the same, for SQLite
	for _, s := range b.work {
		if inc := s.inc; inc.row != nil && !inc.inserted {
			if k := (pair{inc.row.ID, s.evID}); !b.known[k] {
				b.known[k] = true // only to list each pair once
				pairs = append(pairs, bun.Tuple([]string{k.incidentID, k.name}))
				plain = append(plain, k)
			}
		}
	}
	clear(b.known)
	if len(pairs) == 0 {
		return nil
	}
	if ex := store.SQLiteConn(db); ex != nil {
		return b.loadHeldSQLite(ctx, ex, plain)
	}
	var held []eventRow
	err := db.NewSelect().Model(&held).Column("e.incident_id", "e.event_id").
		Where("(e.incident_id, e.event_id) IN (VALUES ?)", bun.List(pairs)).
		Scan(ctx)
	if err != nil {
		return fmt.Errorf("loading applied events of %d incidents: %w", len(b.incs), err)
	}
	for _, e := range held {
		b.known[pair{e.IncidentID, e.EventID}] = true
	}
	return nil
}

// attach gives the batch's incidents their loaded rows.
func (b *batch) attach(rows []incidentRow) error {
	for i := range rows {
		r := &rows[i]
		k := incidentKey{r.Provider, r.OwnerKind, r.OwnerID, r.ExternalID}
		j, ok := slices.BinarySearchFunc(b.incs, k, func(inc *batchIncident, k incidentKey) int { return inc.key.compare(k) })
		if !ok || b.incs[j].row != nil {
			return fmt.Errorf("loading incidents: unexpected row for %s", r.ExternalID)
		}
		b.incs[j].row = r
	}
	return nil
}

// fold applies the batch's events to its incidents in memory, in order, as
// Apply applies each to the database: it touches no database, and leaves
// the rows to write in b.incs (dirty), b.timeline and b.fields.
// Opened returns the ids of the incidents that got their first state in
// this batch: new to the hub, or placeholders the batch filled.
func (b *batch) opened() []string {
	var out []string
	for _, inc := range b.incs {
		if !inc.wasOpen && inc.row != nil && inc.row.StateAt != nil {
			out = append(out, inc.row.ID)
		}
	}
	return out
}

// resolved returns the ids of the incidents the batch resolved.
func (b *batch) resolved() []string {
	var out []string
	for _, inc := range b.incs {
		if !inc.wasResolved && inc.row != nil && inc.row.StateAt != nil && inc.row.Status == hub.IncidentResolved {
			out = append(out, inc.row.ID)
		}
	}
	return out
}

func (b *batch) fold() {
	for _, inc := range b.incs {
		inc.wasOpen = inc.row != nil && !inc.inserted && inc.row.StateAt != nil
		inc.wasResolved = inc.wasOpen && inc.row.Status == hub.IncidentResolved
	}
	fieldIndex := map[pair]int{} // by incident id and field name
	for i := range b.work {
		s := &b.work[i]
		inc := s.inc
		ev := b.items[s.item].Event
		switch {
		case inc.row == nil:
			// Unknown incident: this event creates it.
			it := b.items[s.item]
			inc.row = newRow(it.Src, s.extID, ev.Incident, ev, s.at, b.now, newIncidentID())
			inc.dirty = true
		case inc.inserted && s == inc.first:
			// Created by the lock statement, as this event describes it.
		default:
			if b.known[pair{inc.row.ID, s.evID}] {
				b.results[s.item] = Result{IncidentID: inc.row.ID}
				continue // already applied
			}
			if m := (&merger{r: inc.row}); m.merge(ev.Incident, ev, s.at) {
				inc.row.UpdatedAt = b.now
				inc.dirty = true
			}
		}
		b.known[pair{inc.row.ID, s.evID}] = true
		b.timeline = append(b.timeline, *timelineRow(inc.row.ID, ev, s.at, b.now))
		// A field takes the newest value: of two set at the same time, the
		// later (as the database's "set_at <= EXCLUDED.set_at" does).
		for _, f := range fieldRows(inc.row.ID, ev.Incident, s.at) {
			k := pair{f.IncidentID, f.Name}
			if j, ok := fieldIndex[k]; !ok {
				fieldIndex[k] = len(b.fields)
				b.fields = append(b.fields, f)
			} else if !f.SetAt.Before(b.fields[j].SetAt) {
				b.fields[j] = f
			}
		}
		b.results[s.item] = Result{IncidentID: inc.row.ID, Changed: true}
	}
}

// write stores what fold produced: one statement each for the incidents,
// the timeline entries and the custom fields (none when there is nothing).
func (b *batch) write(ctx context.Context, db bun.IDB) error {
	var rows []*incidentRow
	for _, inc := range b.incs {
		if inc.dirty {
			rows = append(rows, inc.row)
		}
	}
	if ex := store.SQLiteConn(db); ex != nil {
		return b.writeSQLite(ctx, db, ex, rows)
	}
	if len(rows) > 0 {
		// New incidents are inserted whole; known ones get the columns
		// Apply owns (analysis and correlation columns are left alone).
		// Returning("NULL"): Bun would otherwise read back the columns it
		// sends as DEFAULT (nil pointers), a query instead of an exec.
		q := db.NewInsert().Model(&rows).On("CONFLICT (id) DO UPDATE").Returning("NULL")
		for _, c := range updateColumns {
			q = q.Set(c + " = EXCLUDED." + c)
		}
		if _, err := q.Exec(ctx); err != nil {
			return fmt.Errorf("writing %d incidents: %w", len(rows), err)
		}
	}
	if len(b.timeline) > 0 {
		_, err := db.NewInsert().Model(&b.timeline).
			On("CONFLICT (incident_id, event_id) DO NOTHING").
			Returning("NULL").
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("recording %d events: %w", len(b.timeline), err)
		}
	}
	if len(b.fields) > 0 {
		_, err := db.NewInsert().Model(&b.fields).
			On("CONFLICT (incident_id, name) DO UPDATE").
			Set("field_id = EXCLUDED.field_id").
			Set("namespace = EXCLUDED.namespace").
			Set("data_type = EXCLUDED.data_type").
			Set("field_type = EXCLUDED.field_type").
			Set("value_json = EXCLUDED.value_json").
			Set("set_at = EXCLUDED.set_at").
			Where("?TableAlias.set_at <= EXCLUDED.set_at").
			Returning("NULL").
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("setting %d custom fields: %w", len(b.fields), err)
		}
	}
	return nil
}

// The statements of write, on SQLite (see sqliteInsert).
var (
	sqliteIncidentUpsert = func() string {
		set := make([]string, len(updateColumns))
		for i, c := range updateColumns {
			set[i] = c + " = EXCLUDED." + c
		}
		return "ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
	}()
	sqliteTimelineInsert = "ON CONFLICT (incident_id, event_id) DO NOTHING"
	sqliteFieldUpsert    = "ON CONFLICT (incident_id, name) DO UPDATE SET field_id = EXCLUDED.field_id, namespace = EXCLUDED.namespace," +
		" data_type = EXCLUDED.data_type, field_type = EXCLUDED.field_type, value_json = EXCLUDED.value_json, set_at = EXCLUDED.set_at" +
		" WHERE f.set_at <= EXCLUDED.set_at"
)

// writeSQLite is write on SQLite: the same rows, a prepared statement per row.
func (b *batch) writeSQLite(ctx context.Context, db bun.IDB, ex store.SQLConn, rows []*incidentRow) error {
	if err := sqliteInsert(ctx, db, ex, rows, sqliteIncidentUpsert); err != nil {
		return fmt.Errorf("writing %d incidents: %w", len(rows), err)
	}
	timeline := make([]*eventRow, len(b.timeline))
	for i := range b.timeline {
		timeline[i] = &b.timeline[i]
	}
	if err := sqliteInsert(ctx, db, ex, timeline, sqliteTimelineInsert); err != nil {
		return fmt.Errorf("recording %d events: %w", len(timeline), err)
	}
	fields := make([]*fieldRow, len(b.fields))
	for i := range b.fields {
		fields[i] = &b.fields[i]
	}
	if err := sqliteInsert(ctx, db, ex, fields, sqliteFieldUpsert); err != nil {
		return fmt.Errorf("setting %d custom fields: %w", len(fields), err)
	}
	return nil
}
