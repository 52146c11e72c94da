package incidents

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Facts are what the pipeline reads of an incident to enrich, correlate
// and analyse it: a column subset of the incidents model.
type Facts struct {
	ID           string
	Provider     string
	OwnerKind    string
	OwnerID      string
	ConnectionID string
	ExternalID   string
	Title        string
	Status       string
	ServiceID    string
	ServiceName  string
	IncidentKey  string
	StartedAt    time.Time
	// ParentIncidentID is set once the incident joined another.
	ParentIncidentID *string
	// AffectedServices as stored (nil when none were recorded).
	AffectedServices []string
	// Attached is how many incidents joined it (correlated_alert_count)
	// when the facts were read by id (LoadFacts, LoadFactsOf); -1 from the
	// candidate reads, which leave it out (a batch's attachments would have
	// to keep it true).
	Attached int
}

// factsColumns are the columns Facts are read from.
var factsColumns = []string{"id", "provider", "owner_kind", "owner_id", "connection_id", "external_id", "title", "status",
	"service_id", "service_name", "incident_key", "started_at", "parent_incident_id", "affected_services"}

// factsByIDColumns are factsColumns and the count of incidents attached.
var factsByIDColumns = append(slices.Clip(factsColumns), "correlated_alert_count")

func (r *incidentRow) facts() Facts {
	f := Facts{
		ID: r.ID, Provider: r.Provider, OwnerKind: r.OwnerKind, OwnerID: r.OwnerID, ConnectionID: r.ConnectionID,
		ExternalID: r.ExternalID, Title: r.Title, Status: r.Status, ServiceID: r.ServiceID, ServiceName: r.ServiceName,
		IncidentKey: r.IncidentKey, StartedAt: r.StartedAt, ParentIncidentID: r.ParentIncidentID,
		Attached: -1,
	}
	if r.AffectedServices != "" && r.AffectedServices != "[]" { // most have none: no decoding per candidate
		_ = json.Unmarshal([]byte(r.AffectedServices), &f.AffectedServices)
	}
	return f
}

// factsByID is facts for a row read with factsByIDColumns.
func (r *incidentRow) factsByID() *Facts {
	f := r.facts()
	f.Attached = r.CorrelatedAlertCount
	return &f
}

// LoadFacts returns the facts of incident id, of any owner (the pipeline's
// jobs name incidents by id).
func LoadFacts(ctx context.Context, db bun.IDB, id string) (*Facts, error) {
	var rows []incidentRow
	if err := store.Select(ctx, db, &rows, factsByIDSelect+" WHERE id = ?", id); err != nil {
		return nil, fmt.Errorf("loading incident %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("loading incident %s: %w", id, sql.ErrNoRows)
	}
	return rows[0].factsByID(), nil
}

// factsSelect reads Facts' columns of incidents; the correlation's
// statements are written out with "?" for their values (store.Select), so
// SQLite keeps each compiled: compiling was a third of a storm's early
// correlation.
var factsSelect = "SELECT " + strings.Join(factsColumns, ", ") + " FROM incidents"

// factsByIDSelect reads factsByIDColumns; factsByIDs those of the
// incidents whose ids are in a JSON array (SQLite).
var (
	factsByIDSelect = "SELECT " + strings.Join(factsByIDColumns, ", ") + " FROM incidents"
	factsByIDs      = factsByIDSelect + " WHERE id IN (SELECT value FROM json_each(?))"
)

// LoadFactsOf returns the facts of those of ids that exist, by id.
func LoadFactsOf(ctx context.Context, db bun.IDB, ids []string) (map[string]*Facts, error) {
	out := make(map[string]*Facts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []incidentRow
	var err error
	if store.SQLiteConn(db) != nil {
		// One statement text whatever the ids (a JSON array): SQLite keeps
		// it compiled (store.Select); a list inlined by Bun was compiled
		// again for every early-correlation transaction.
		var list []byte
		if list, err = json.Marshal(ids); err == nil {
			err = store.Select(ctx, db, &rows, factsByIDs, string(list))
		}
	} else {
		err = db.NewSelect().Model(&rows).Column(factsByIDColumns...).Where("id IN (?)", bun.In(ids)).Scan(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %d incidents: %w", len(ids), err)
	}
	for i := range rows {
		out[rows[i].ID] = rows[i].factsByID()
	}
	return out, nil
}

// LockCorrelation serialises, on PostgreSQL, the correlation decisions of
// one tenant until db's transaction ends (across replicas too), so two new
// incidents cannot each pick the other. Only for PostgreSQL: SQLite's
// single writer gives the same order.
func LockCorrelation(ctx context.Context, tx bun.IDB, ownerKind, ownerID string) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", "aurora-correlate:"+ownerKind+":"+ownerID); err != nil {
		return fmt.Errorf("locking the tenant's correlation: %w", err)
	}
	return nil
}

// Candidates returns the open incidents (investigating or analysed) of
// inc's tenant that inc may join: started at or after since and before inc
// (ties broken by id, so two incidents never choose each other). narrow
// reads only incidents of the same service or incident key, attached ones
// included, the most recent narrowCandidates (an index range read
// backwards, a few rows however large a storm); otherwise the oldest 500
// top-level ones.
func Candidates(ctx context.Context, db bun.IDB, inc *Facts, since time.Time, narrow bool) ([]Facts, error) {
	if !narrow {
		var rows []incidentRow
		if err := store.Select(ctx, db, &rows, openTopLevel, openBeforeArgs(inc, since)...); err != nil {
			return nil, fmt.Errorf("loading open incidents: %w", err)
		}
		return factsOf(rows), nil
	}
	service, err := readNarrow(ctx, db, inc, since, narrowByService, inc.ServiceID, narrowCandidates)
	if err != nil {
		return nil, err
	}
	return withSameKey(ctx, db, inc, since, service)
}

// withSameKey adds to the candidates of inc's service those of its incident
// key (one query per index: with "service_id = ? OR incident_key = ?"
// SQLite read and sorted every incident of the service, 2,500 rows per new
// incident in a storm of 20 services) and keeps the most recent
// narrowCandidates.
func withSameKey(ctx context.Context, db bun.IDB, inc *Facts, since time.Time, service []Facts) ([]Facts, error) {
	key, err := readNarrow(ctx, db, inc, since, narrowByKey, inc.IncidentKey, narrowCandidates)
	if err != nil {
		return nil, err
	}
	all := service
	if len(key) > 0 {
		all = slices.Concat(service, key)
		slices.SortFunc(all, newestFirst)
		all = slices.CompactFunc(all, func(a, b Facts) bool { return a.ID == b.ID })
	}
	return all[:min(len(all), narrowCandidates)], nil
}

// readNarrow reads, newest first, up to limit open incidents of inc's
// tenant that started since and before inc, with value in the column that
// query (narrowByService or narrowByKey) matches; none when value is empty.
func readNarrow(ctx context.Context, db bun.IDB, inc *Facts, since time.Time, query, value string, limit int) ([]Facts, error) {
	if value == "" {
		return nil, nil
	}
	var rows []incidentRow
	if err := store.Select(ctx, db, &rows, query, append(openBeforeArgs(inc, since), value, limit)...); err != nil {
		return nil, fmt.Errorf("loading open incidents of the same service or key: %w", err)
	}
	return factsOf(rows), nil
}

// openBeforeArgs are the arguments of openBefore's placeholders.
func openBeforeArgs(inc *Facts, since time.Time) []any {
	start := inc.StartedAt.UTC()
	return []any{inc.OwnerKind, inc.OwnerID, inc.ID, since.UTC(), start, start, start, inc.ID}
}

// before reports whether a started before b (ties broken by id): the
// order in which incidents may join one another.
func before(a, b *Facts) bool { return StartOrder(a, b) < 0 }

// StartOrder orders incidents as they may join one another: by when they
// started, ties (providers give seconds) broken by id.
func StartOrder(a, b *Facts) int {
	if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// newestFirst orders candidates as the narrow reads return them.
func newestFirst(a, b Facts) int {
	if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// narrowCandidates is how many of the most recent incidents of a service
// (or key) a new one is scored against before enrichment. In a storm they
// are the storm's latest children, which all lead to its parent: 50 cost
// about 2.3 ms of reading and scoring per new incident, for the same
// decision.
const narrowCandidates = 16

// Candidates' reads: openBefore selects the open incidents of a tenant
// that started at or after a time and before an incident (ties broken by
// id); narrowByService and narrowByKey read backwards along an index
// (incidents_service_started, incidents_key_started), openTopLevel
// forwards along incidents_owner_started. "started_at <= ?" repeats what
// the OR after it implies: with the values as arguments SQLite's planner
// bounds the range by it, and without it read every newer incident of the
// service first (thousands in a storm whose correlation lags behind).
var (
	openBefore = factsSelect + " WHERE owner_kind = ? AND owner_id = ? AND id <> ?" +
		" AND status IN ('" + hub.IncidentInvestigating + "', '" + hub.IncidentAnalyzed + "')" +
		" AND started_at >= ? AND started_at <= ? AND (started_at < ? OR (started_at = ? AND id < ?))"
	narrowOrder     = " ORDER BY started_at DESC, id DESC LIMIT ?"
	narrowByService = openBefore + " AND service_id = ?" + narrowOrder
	narrowByKey     = openBefore + " AND incident_key = ? AND incident_key <> ''" + narrowOrder
	openTopLevel    = openBefore + " AND parent_incident_id IS NULL ORDER BY started_at, id LIMIT 500"
)

func factsOf(rows []incidentRow) []Facts {
	out := make([]Facts, len(rows))
	for i := range rows {
		out[i] = rows[i].facts()
	}
	return out
}

// Attachment is a correlation decision: IncidentID joins ParentID.
type Attachment struct {
	IncidentID, ParentID string
	// AffectedServices are the parent's once the incident joined it.
	AffectedServices []string
	// Score and Parts (JSON object text) explain the decision.
	Score float64
	Parts string
	At    time.Time
	// NoneAttached: the caller read, under the correlation's lock, that no
	// incident has joined IncidentID (Facts.Attached is 0), so there is
	// nothing to move with it. Every attachment and merge keeps that count;
	// a storm's children have none, and the move's statement was a tenth
	// of an attachment.
	NoneAttached bool
}

// The statements of an attachment that Attach and AttachBatch share.
const (
	updateParent      = "UPDATE incidents SET correlated_alert_count = correlated_alert_count + ?, affected_services = ?, updated_at = ? WHERE id = ?"
	insertCorrelation = "INSERT INTO incident_correlations (incident_id, parent_incident_id, score, parts, created_at)" +
		" VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO NOTHING"
)

// Attach makes a.IncidentID a child of a.ParentID and records why.
// Incidents that had already joined the incident (it was still top-level
// when they were correlated) move with it, so parents are always top-level
// and counts add up. A second attachment of the same incident keeps the
// first correlation record.
func Attach(ctx context.Context, db bun.IDB, a Attachment) error {
	services, err := json.Marshal(a.AffectedServices)
	if err != nil {
		return fmt.Errorf("encoding affected services: %w", err)
	}
	var n int64
	if !a.NoneAttached {
		var err error
		if n, err = moveAttached(ctx, db, a.IncidentID, a.ParentID, a.At); err != nil {
			return err
		}
	}
	steps := []struct {
		what, query string
		args        []any
	}{
		{"attaching incident", "UPDATE incidents SET parent_incident_id = ?, correlated_alert_count = 0, updated_at = ? WHERE id = ?",
			[]any{a.ParentID, a.At, a.IncidentID}},
		{"updating the parent incident", updateParent, []any{1 + n, string(services), a.At, a.ParentID}},
		{"recording correlation", insertCorrelation, []any{a.IncidentID, a.ParentID, a.Score, a.Parts, a.At}},
	}
	if db.Dialect().Name() == dialect.PG {
		// The three as one statement (data-modifying CTEs): on PostgreSQL
		// each is a round trip made while the tenant's correlation lock is
		// held, and every other correlation of the tenant waits for it.
		q := "WITH child AS (" + steps[0].query + "), parent AS (" + steps[1].query + ") " + steps[2].query
		args := slices.Concat(steps[0].args, steps[1].args, steps[2].args)
		if _, err := store.Exec(ctx, db, q, args...); err != nil {
			return fmt.Errorf("attaching incident: %w", err)
		}
		return nil
	}
	for _, st := range steps {
		if _, err := store.Exec(ctx, db, st.query, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// moveAttached moves the incidents attached to fromID, and their
// correlation records, to toID, and returns how many moved.
func moveAttached(ctx context.Context, db bun.IDB, fromID, toID string, at time.Time) (int64, error) {
	moved, err := store.Exec(ctx, db, "UPDATE incidents SET parent_incident_id = ?, updated_at = ? WHERE parent_incident_id = ?", toID, at, fromID)
	if err != nil {
		return 0, fmt.Errorf("moving attached incidents: %w", err)
	}
	n, _ := moved.RowsAffected()
	if n == 0 {
		// A record's parent is its incident's (Attach, merges and this
		// move write both): none moved, none to move. Skipping the
		// statement saves a tenth of an attachment in a storm.
		return 0, nil
	}
	if _, err := store.Exec(ctx, db, "UPDATE incident_correlations SET parent_incident_id = ? WHERE parent_incident_id = ?", toID, fromID); err != nil {
		return 0, fmt.Errorf("moving correlation records: %w", err)
	}
	return n, nil
}

// flushPGNoMoves and flushPGMoves are AttachBatch.Flush on PostgreSQL,
// one statement: the attachments and the parents' new counts, affected
// services and update times as JSON arrays of records. Its parts never
// update one row twice (which PostgreSQL does not allow in one statement):
// the attached incidents are top-level and each is attached once; a parent
// is top-level and not attached in the same batch (correlation follows an
// attached candidate to its parent); the incidents that move had joined an
// attached one, so they are neither.
var (
	flushPGNoMoves = pgBatchInputs + pgAttachChildren + pgUpdateParents("") + pgInsertRecords
	flushPGMoves   = pgBatchInputs + pgMoveAttached + pgAttachChildren +
		pgUpdateParents(" + (SELECT count(*) FROM moved WHERE moved.parent = p.id)") + pgInsertRecords
)

// The parts of the flush's statement.
const (
	pgBatchInputs = "WITH a AS (SELECT * FROM jsonb_to_recordset(?::jsonb)" +
		" AS a(incident_id text, parent_incident_id text, score double precision, parts text, created_at timestamptz))," +
		" p AS (SELECT * FROM jsonb_to_recordset(?::jsonb) AS p(id text, n integer, services text, at timestamptz)),"
	// The incidents that had joined an attached one move to its parent, and
	// their records with them (a record's parent is its incident's:
	// moveAttached). The attached ones whose children move are named by an
	// array too: joined with the batch's records alone, the planner read
	// the whole incidents_parent index (80 ms in a PostgreSQL storm of
	// 50,000) and every correlation record (16 ms) to find them.
	pgMoveAttached = " moved AS (UPDATE incidents i SET parent_incident_id = a.parent_incident_id, updated_at = a.created_at" +
		" FROM a WHERE i.parent_incident_id = a.incident_id AND i.parent_incident_id = ANY (?::text[])" +
		" RETURNING i.id, a.parent_incident_id AS parent)," +
		" records AS (UPDATE incident_correlations c SET parent_incident_id = moved.parent FROM moved WHERE c.incident_id = moved.id),"
	pgAttachChildren = " children AS (UPDATE incidents i SET parent_incident_id = a.parent_incident_id, correlated_alert_count = 0, updated_at = p.at" +
		" FROM a JOIN p ON p.id = a.parent_incident_id WHERE i.id = a.incident_id),"
	pgInsertRecords = " INSERT INTO incident_correlations (incident_id, parent_incident_id, score, parts, created_at)" +
		" SELECT incident_id, parent_incident_id, score, parts, created_at FROM a ON CONFLICT (incident_id) DO NOTHING"
)

// pgUpdateParents adds to each parent's count its new children and moved,
// the count expression added to p.n.
func pgUpdateParents(moved string) string {
	return " parents AS (UPDATE incidents i SET correlated_alert_count = i.correlated_alert_count + p.n" + moved +
		", affected_services = p.services, updated_at = p.at FROM p WHERE i.id = p.id)"
}

type pgAttachmentRow struct {
	IncidentID string  `json:"incident_id"`
	ParentID   string  `json:"parent_incident_id"`
	Score      float64 `json:"score"`
	Parts      string  `json:"parts"`
	At         string  `json:"created_at"`
}

type pgParentRow struct {
	ID       string `json:"id"`
	N        int    `json:"n"`
	Services string `json:"services"`
	At       string `json:"at"`
}

func flushPG(ctx context.Context, db bun.IDB, pending []Attachment, parents []pgParentRow) error {
	rows := make([]pgAttachmentRow, len(pending))
	var moving []string // attached incidents whose children move with them
	for i, a := range pending {
		rows[i] = pgAttachmentRow{IncidentID: a.IncidentID, ParentID: a.ParentID, Score: a.Score, Parts: a.Parts, At: pgTime(a.At)}
		if !a.NoneAttached {
			moving = append(moving, a.IncidentID)
		}
	}
	attachments, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encoding attachments: %w", err)
	}
	ps, err := json.Marshal(parents)
	if err != nil {
		return fmt.Errorf("encoding parents: %w", err)
	}
	q, args := flushPGNoMoves, []any{string(attachments), string(ps)}
	if len(moving) > 0 {
		q, args = flushPGMoves, append(args, pgdialect.Array(moving))
	}
	if _, err := store.Exec(ctx, db, q, args...); err != nil {
		return fmt.Errorf("attaching %d incidents: %w", len(pending), err)
	}
	return nil
}

// pgTime is t as Bun writes it to PostgreSQL: UTC, to the microsecond
// (truncated, not rounded).
func pgTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}

// Correlation explains why an incident was attached to another.
type Correlation struct {
	IncidentID       string
	ParentIncidentID string
	Score            float64
	// Parts are the score's components as stored (JSON object text).
	Parts     string
	CreatedAt time.Time
}

// CorrelationOf returns how incident id was correlated, or nil when it
// was not.
func CorrelationOf(ctx context.Context, db bun.IDB, id string) (*Correlation, error) {
	r := &correlationRow{}
	err := db.NewSelect().Model(r).Where("incident_id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading correlation: %w", err)
	}
	return &Correlation{IncidentID: r.IncidentID, ParentIncidentID: r.ParentIncidentID, Score: r.Score, Parts: r.Parts, CreatedAt: r.CreatedAt}, nil
}

// AttachBatch gathers one transaction's attachments and writes them
// together (Flush): each parent's count, affected services and update time
// once, where Attach rewrites the parent's row for every child (in a
// storm, thousands of times per parent). On SQLite a parent's children
// join in one statement: early correlation's attachments took 34% of its
// CPU one by one, 25% gathered, and early correlation 18% less in all
// (BenchmarkEarlyCorrelation's CPU profile; docs/performance-history.md,
// round 11). On PostgreSQL the whole batch is one statement: each is a round
// trip made while the tenant's correlation lock is held (round 13). The
// children's update time is the latest attachment's of their parent in
// the batch (one transaction's moments apart).
//
// Until Flush the database does not show them: flush before reading
// incidents or their correlations in the same transaction.
type AttachBatch struct {
	pending []Attachment
	// joined: the parents this batch attached incidents to, written or not.
	joined map[string]bool
}

// Add attaches a.IncidentID to a.ParentID, now or at Flush. An incident
// with incidents attached to it (not a.NoneAttached, or attached by this
// batch) moves them along: the batch's own are written first (the move
// reads them), and on SQLite the incident is attached at once.
func (b *AttachBatch) Add(ctx context.Context, db bun.IDB, a Attachment) error {
	if b.joined == nil {
		b.joined = map[string]bool{}
	}
	// Incidents this batch attached to a.IncidentID move with it.
	joined := b.joined[a.IncidentID]
	b.joined[a.ParentID] = true
	if joined {
		if err := b.Flush(ctx, db); err != nil {
			return err
		}
		a.NoneAttached = false
	}
	if !a.NoneAttached && db.Dialect().Name() != dialect.PG {
		if err := b.Flush(ctx, db); err != nil {
			return err
		}
		return Attach(ctx, db, a)
	}
	b.pending = append(b.pending, a)
	return nil
}

// Flush writes the attachments added since the last Flush, as Attach
// would have one by one: per parent, its children in one statement, then
// its count, and the affected services and time of its last attachment.
func (b *AttachBatch) Flush(ctx context.Context, db bun.IDB) error {
	if len(b.pending) == 0 {
		return nil
	}
	type group struct {
		children []string
		last     Attachment
	}
	groups := map[string]*group{}
	var parents []string // first attached first
	for _, a := range b.pending {
		g := groups[a.ParentID]
		if g == nil {
			g = &group{}
			groups[a.ParentID] = g
			parents = append(parents, a.ParentID)
		}
		g.children = append(g.children, a.IncidentID)
		g.last = a
	}
	if db.Dialect().Name() == dialect.PG {
		parentRows := make([]pgParentRow, 0, len(parents))
		for _, id := range parents {
			g := groups[id]
			services, err := json.Marshal(g.last.AffectedServices)
			if err != nil {
				return fmt.Errorf("encoding affected services: %w", err)
			}
			parentRows = append(parentRows, pgParentRow{ID: id, N: len(g.children), Services: string(services), At: pgTime(g.last.At)})
		}
		if err := flushPG(ctx, db, b.pending, parentRows); err != nil {
			return err
		}
		b.pending = b.pending[:0]
		return nil
	}
	for _, id := range parents {
		g := groups[id]
		children, err := json.Marshal(g.children)
		if err != nil {
			return fmt.Errorf("encoding attached incidents: %w", err)
		}
		services, err := json.Marshal(g.last.AffectedServices)
		if err != nil {
			return fmt.Errorf("encoding affected services: %w", err)
		}
		if _, err := store.Exec(ctx, db, "UPDATE incidents SET parent_incident_id = ?, correlated_alert_count = 0, updated_at = ?"+
			" WHERE id IN (SELECT value FROM json_each(?))", id, g.last.At, string(children)); err != nil {
			return fmt.Errorf("attaching incidents: %w", err)
		}
		if _, err := store.Exec(ctx, db, updateParent, len(g.children), string(services), g.last.At, id); err != nil {
			return fmt.Errorf("updating the parent incident: %w", err)
		}
	}
	for _, a := range b.pending {
		if _, err := store.Exec(ctx, db, insertCorrelation, a.IncidentID, a.ParentID, a.Score, a.Parts, a.At); err != nil {
			return fmt.Errorf("recording correlation: %w", err)
		}
	}
	b.pending = b.pending[:0]
	return nil
}
