package incidents

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

var bt0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

// eventGen makes random event sequences for a few incidents of a few
// owners: full and partial events, custom fields set and cleared, events
// without ids, events that concern no incident, all at few distinct times
// (so that ties happen).
type eventGen struct {
	r     *rand.Rand
	srcs  []Source
	n     int
	tag   string
	times int
}

func newEventGen(seed int64) *eventGen {
	tag := fmt.Sprintf("s%d", seed)
	return &eventGen{
		r: rand.New(rand.NewSource(seed)), tag: tag, times: 12,
		srcs: []Source{
			{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-" + tag, ConnectionID: "c1"},
			// Same owner through another connection: the same incidents.
			{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-" + tag, ConnectionID: "c2"},
			{Provider: "pagerduty", OwnerKind: "user", OwnerID: "user-" + tag, ConnectionID: "c3"},
			{Provider: "opsgenie", OwnerKind: "user", OwnerID: "user-" + tag, ConnectionID: "c4"},
		},
	}
}

func pick[T any](r *rand.Rand, vs ...T) T { return vs[r.Intn(len(vs))] }

func (g *eventGen) ref(kind string, n int) *sdk.Reference {
	i := g.r.Intn(n)
	return &sdk.Reference{ID: fmt.Sprintf("P%s%d", kind, i), Type: kind + "_reference", Summary: pick(g.r, "", fmt.Sprintf("%s %d", kind, i)),
		HTMLURL: pick(g.r, "", "https://example.com/"+kind)}
}

func (g *eventGen) refs(kind string) []sdk.Reference {
	var out []sdk.Reference
	for range g.r.Intn(3) {
		out = append(out, *g.ref(kind, 3))
	}
	return out
}

func (g *eventGen) fields() []sdk.CustomField {
	var out []sdk.CustomField
	for range g.r.Intn(4) {
		name := pick(g.r, "env", "region", "team", " env ")
		f := sdk.CustomField{ID: "F-" + strings.TrimSpace(name), Name: name, DataType: pick(g.r, "string", "integer"),
			FieldType: "single_value", Namespace: pick(g.r, "", "labels"),
			ValueJSON: []byte(pick(g.r, `"a"`, `"b"`, `null`, ``, `3`, `["x","y"]`, `not json`))}
		switch g.r.Intn(8) {
		case 0:
			f.Name = "" // named by its id
		case 1:
			f.Name, f.ID = "", "" // no name at all: skipped
		}
		out = append(out, f)
	}
	return out
}

func (g *eventGen) event() Item {
	g.n++
	src := pick(g.r, g.srcs...)
	ev := sdk.Event{
		ID: fmt.Sprintf("%s-e%d", g.tag, g.n), ResourceType: "incident",
		OccurredAt: bt0.Add(time.Duration(g.r.Intn(g.times)) * time.Minute),
		Data:       []byte(pick(g.r, `{"n":1}`, `{"n":2}`, ``, `not json`)),
	}
	if g.r.Intn(8) == 0 {
		ev.ID = "" // identified by a digest of its content
	}
	if g.r.Intn(2) == 0 {
		ev.Agent = g.ref("user", 2)
	}
	in := &sdk.Incident{ExternalID: pick(g.r, "P1", "P2", "P3", " P1 ", "P4")}
	switch k := g.r.Intn(20); {
	case k < 9: // full incident
		ev.Type = pick(g.r, "incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.reopened",
			"incident.resolved", "incident.priority_updated", "incident.escalated", "incident.reassigned")
		in.Status = pick(g.r, "", "triggered", "acknowledged", "resolved", "Resolved")
		in.Title = pick(g.r, "", "Disk full", "CPU high")
		in.Number = int64(g.r.Intn(3))
		in.Urgency = pick(g.r, "", "high", " Low ")
		in.Priority = pick(g.r, "", "P1", "P3", "Sev-2 major", " urgent ")
		if g.r.Intn(4) > 0 {
			in.Service = g.ref("service", 3)
		}
		if g.r.Intn(2) == 0 {
			in.EscalationPolicy = g.ref("escalation_policy", 2)
		}
		in.Assignees, in.Teams = g.refs("user"), g.refs("team")
		in.IncidentKey = pick(g.r, "", "k1", "k2")
		in.HTMLURL = pick(g.r, "", "https://example.com/i", " https://example.com/j ")
		if g.r.Intn(3) > 0 {
			in.CreatedAt = bt0.Add(-time.Duration(g.r.Intn(3)) * time.Minute)
		}
		in.ResolveReason = pick(g.r, "", "fixed")
		if g.r.Intn(3) == 0 {
			in.HasCustomFields, in.CustomFields = true, g.fields()
		}
		if g.r.Intn(4) == 0 {
			in.ChangedCustomFields = g.fields()
		}
	case k < 15: // custom fields changed (partial)
		ev.Type = "incident.custom_field_values.updated"
		in.Partial, in.HasCustomFields, in.ChangedCustomFields = true, g.r.Intn(2) == 0, g.fields()
		in.HTMLURL = pick(g.r, "", "https://example.com/p")
		if g.r.Intn(4) == 0 {
			in.CreatedAt = bt0.Add(-time.Minute)
		}
	case k < 18: // a note (partial)
		ev.Type = "incident.annotated"
		in.Partial = true
	case k < 19:
		ev.Type, ev.ResourceType, in = "service.updated", "service", nil
	default:
		ev.Type, in.ExternalID = "incident.annotated", "  "
	}
	ev.Incident = in
	return Item{Src: src, Event: ev}
}

// sequence is n random events, some delivered again, all shuffled.
func (g *eventGen) sequence(n int) []Item {
	items := make([]Item, 0, n+n/3)
	for range n {
		items = append(items, g.event())
	}
	for range g.r.Intn(n/3 + 1) {
		items = append(items, items[g.r.Intn(len(items))])
	}
	g.r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items
}

// snapshot is a database's incidents, timelines and custom fields (with
// tombstones), keyed by what identifies them across databases: ids and the
// times of writing (now) are left out.
type snapshot struct {
	incidents map[string]incidentRow
	timeline  map[string]eventRow
	fields    map[string]fieldRow
	keys      map[string]string // incident id -> key
}

func incidentKeyOf(r *incidentRow) string {
	return strings.Join([]string{r.Provider, r.OwnerKind, r.OwnerID, r.ExternalID}, "|")
}

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func takeSnapshot(t testing.TB, db bun.IDB) snapshot {
	t.Helper()
	ctx := context.Background()
	var incs []incidentRow
	var evs []eventRow
	var fields []fieldRow
	if err := db.NewSelect().Model(&incs).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.NewSelect().Model(&evs).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.NewSelect().Model(&fields).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	s := snapshot{incidents: map[string]incidentRow{}, timeline: map[string]eventRow{}, fields: map[string]fieldRow{}, keys: map[string]string{}}
	for _, r := range incs {
		k := incidentKeyOf(&r)
		s.keys[r.ID] = k
		r.ID, r.CreatedAt, r.UpdatedAt = "", time.Time{}, time.Time{}
		r.StateAt, r.ResolvedAt, r.AnalyzedAt = utcp(r.StateAt), utcp(r.ResolvedAt), utcp(r.AnalyzedAt)
		r.AlertFiredAt, r.StartedAt = r.AlertFiredAt.UTC(), r.StartedAt.UTC()
		s.incidents[k] = r
	}
	for _, e := range evs {
		e.IncidentID = s.keys[e.IncidentID]
		e.RecordedAt, e.OccurredAt = time.Time{}, e.OccurredAt.UTC()
		s.timeline[e.IncidentID+"|"+e.EventID] = e
	}
	for _, f := range fields {
		f.IncidentID = s.keys[f.IncidentID]
		f.SetAt = f.SetAt.UTC()
		s.fields[f.IncidentID+"|"+f.Name] = f
	}
	return s
}

func diffMaps[V any](t testing.TB, what string, want, got map[string]V) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	bad := 0
	for _, k := range sorted {
		w, wok := want[k]
		g, gok := got[k]
		if wok != gok || !reflect.DeepEqual(w, g) {
			if bad++; bad <= 5 {
				t.Errorf("%s %s:\n  one by one: %v %+v\n  batched:    %v %+v", what, k, wok, w, gok, g)
			}
		}
	}
}

func compareSnapshots(t testing.TB, want, got snapshot) {
	t.Helper()
	diffMaps(t, "incident", want.incidents, got.incidents)
	diffMaps(t, "timeline entry", want.timeline, got.timeline)
	diffMaps(t, "custom field", want.fields, got.fields)
}

func runInTx(t testing.TB, db *bun.DB, fn func(ctx context.Context, tx bun.Tx) error) {
	t.Helper()
	if err := db.RunInTx(context.Background(), nil, fn); err != nil {
		t.Fatal(err)
	}
}

// TestApplyBatchMatchesOneByOne applies random event sequences one at a
// time with the reference (Apply as it was) to one database, and through
// ApplyBatch in random chunks to another: results, incidents, timelines and
// custom fields (tombstones included) must be the same.
func TestApplyBatchMatchesOneByOne(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ref, bat := storetest.Open(t, driver).Bun(), storetest.Open(t, driver).Bun()
			for seed := int64(1); seed <= int64(seeds); seed++ {
				g := newEventGen(seed)
				items := g.sequence(10 + g.r.Intn(60))
				want := make([]Result, len(items))
				for i, it := range items {
					runInTx(t, ref, func(ctx context.Context, tx bun.Tx) error {
						id, changed, err := applyReference(ctx, tx, it.Src, it.Event)
						want[i] = Result{IncidentID: id, Changed: changed}
						return err
					})
				}
				var got []Result
				var chunks []int
				for rest := items; len(rest) > 0; {
					n := 1 + g.r.Intn(len(rest))
					if g.r.Intn(2) == 0 {
						n = 1 + g.r.Intn(min(len(rest), 8))
					}
					chunks = append(chunks, n)
					runInTx(t, bat, func(ctx context.Context, tx bun.Tx) error {
						res, err := ApplyBatch(ctx, tx, rest[:n])
						if err == nil && len(res) != n {
							err = fmt.Errorf("%d results for %d items", len(res), n)
						}
						got = append(got, res...)
						return err
					})
					rest = rest[n:]
				}
				ws, gs := takeSnapshot(t, ref), takeSnapshot(t, bat)
				for i := range items {
					w, g := want[i], got[i]
					if w.Changed != g.Changed || ws.keys[w.IncidentID] != gs.keys[g.IncidentID] || (w.IncidentID == "") != (g.IncidentID == "") {
						t.Errorf("seed %d item %d (%s %s): one by one %+v (%s), batched %+v (%s)", seed, i, items[i].Event.Type,
							items[i].Event.ID, w, ws.keys[w.IncidentID], g, gs.keys[g.IncidentID])
					}
				}
				compareSnapshots(t, ws, gs)
				if t.Failed() {
					t.Fatalf("seed %d: %d items in chunks %v", seed, len(items), chunks)
				}
			}
		})
	}
}

// TestApplyBatchConcurrent applies the events of several incidents from
// several workers at once, in random chunks, each event four times and in random
// order: no worker fails (on PostgreSQL, a deadlock would fail one) and the
// result is the same as applying them in order once.
func TestApplyBatchConcurrent(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ref, bat := storetest.Open(t, driver).Bun(), storetest.Open(t, driver).Bun()
			src := Source{Provider: "pagerduty", OwnerKind: "org", OwnerID: "org-1", ConnectionID: "c1"}
			var evs []Item
			for inc := range 6 {
				ext := fmt.Sprintf("PC%d", inc)
				ev := func(id, typ string, at time.Time, in *sdk.Incident) {
					evs = append(evs, Item{Src: src, Event: sdk.Event{ID: ext + "-" + id, Type: typ, OccurredAt: at, Incident: in, Data: []byte(`{}`)}})
				}
				// Every full event says the same of what an older event may
				// still fill in (title, creation time), so the result does
				// not depend on the order the workers happen to apply them.
				svc := &sdk.Reference{ID: "PSVC", Summary: "API"}
				ev("trigger", "incident.triggered", bt0, &sdk.Incident{ExternalID: ext, Title: "t", Status: "triggered", Service: svc, CreatedAt: bt0})
				for i := 1; i <= 15; i++ {
					at := bt0.Add(time.Duration(i) * time.Minute)
					status, typ := "acknowledged", "incident.acknowledged"
					if i%2 == 0 {
						status, typ = "triggered", "incident.unacknowledged"
					}
					ev(fmt.Sprintf("state-%d", i), typ, at, &sdk.Incident{ExternalID: ext, Title: "t", Status: status,
						Priority: fmt.Sprintf("P%d", i%4+1), Service: svc, CreatedAt: bt0})
					ev(fmt.Sprintf("field-%d", i), "incident.custom_field_values.updated", at, &sdk.Incident{ExternalID: ext, Partial: true,
						ChangedCustomFields: []sdk.CustomField{{Name: "step", ValueJSON: []byte(fmt.Sprint(i))}, {Name: fmt.Sprint("f", i%3), ValueJSON: []byte(`"x"`)}}})
				}
				ev("resolve", "incident.resolved", bt0.Add(time.Hour), &sdk.Incident{ExternalID: ext, Title: "t", Status: "resolved", Priority: "P1", Service: svc, CreatedAt: bt0})
			}
			for _, it := range evs {
				runInTx(t, ref, func(ctx context.Context, tx bun.Tx) error {
					_, _, err := applyReference(ctx, tx, it.Src, it.Event)
					return err
				})
			}

			var work []Item // each event four times: replays take the locks too
			for range 4 {
				work = append(work, evs...)
			}
			r := rand.New(rand.NewSource(1))
			r.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
			var chunks [][]Item
			for rest := work; len(rest) > 0; {
				n := 1 + r.Intn(min(len(rest), 12))
				chunks, rest = append(chunks, rest[:n]), rest[n:]
			}
			ch := make(chan []Item)
			var (
				wg      sync.WaitGroup
				changes atomic.Int64
				mu      sync.Mutex
				errs    []error
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for c := range ch {
						err := bat.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
							res, err := ApplyBatch(ctx, tx, c)
							for _, r := range res {
								if r.Changed {
									changes.Add(1)
								}
							}
							return err
						})
						if err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
					}
				}()
			}
			for _, c := range chunks {
				ch <- c
			}
			close(ch)
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("%d errors, first: %v", len(errs), errs[0])
			}
			if int(changes.Load()) != len(evs) {
				t.Fatalf("%d changes for %d events", changes.Load(), len(evs))
			}
			compareSnapshots(t, takeSnapshot(t, ref), takeSnapshot(t, bat))
		})
	}
}

// TestApplyBatchLarge applies one batch larger than any chunk the pipeline
// uses, and its replay.
func TestApplyBatchLarge(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, driver).Bun()
			items := benchEvents(0, 3000, 1000)
			for _, want := range []bool{true, false} {
				runInTx(t, db, func(ctx context.Context, tx bun.Tx) error {
					res, err := ApplyBatch(ctx, tx, items)
					for i, r := range res {
						if r.Changed != want || r.IncidentID == "" {
							return fmt.Errorf("item %d: %+v", i, r)
						}
					}
					return err
				})
			}
			if s := takeSnapshot(t, db); len(s.incidents) != 1000 || len(s.timeline) != 3000 {
				t.Fatalf("%d incidents, %d timeline entries", len(s.incidents), len(s.timeline))
			}
		})
	}
}

// benchEvents are events like hubbench's webhooks: n events over incidents
// incidents, each triggered, acknowledged then resolved, starting at event
// number from.
func benchEvents(from, n, incidents int) []Item {
	src := Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "bench-user", ConnectionID: "c1"}
	types := []string{"incident.triggered", "incident.acknowledged", "incident.resolved"}
	statuses := []string{"triggered", "acknowledged", "resolved"}
	items := make([]Item, n)
	for j := range items {
		i := from + j
		ext := fmt.Sprintf("PBENCH%04d", i%incidents)
		k := (i / incidents) % 3
		items[j] = Item{Src: src, Event: sdk.Event{
			ID: fmt.Sprintf("01BENCH%019d", i), Type: types[k], ResourceType: "incident",
			OccurredAt: bt0.Add(time.Duration(i) * time.Millisecond),
			Agent:      &sdk.Reference{ID: "PU1", Type: "user_reference", Summary: "Jane"},
			Data:       []byte(fmt.Sprintf(`{"id":%q,"type":"incident","status":%q}`, ext, statuses[k])),
			Incident: &sdk.Incident{
				ExternalID: ext, Number: int64(i%incidents + 1), Title: "Bench incident " + ext, Status: statuses[k], Urgency: "high",
				Service:  &sdk.Reference{ID: "PSVC001", Type: "service_reference", Summary: "payments-api"},
				Priority: "P1", HTMLURL: "https://acme.pagerduty.com/incidents/" + ext, CreatedAt: bt0,
			},
		}}
	}
	return items
}

type countHook struct{ n atomic.Int64 }

func (h *countHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (h *countHook) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	switch e.Operation() {
	case "BEGIN", "COMMIT", "ROLLBACK":
	default:
		h.n.Add(1)
	}
}

// BenchmarkApplyBatch applies hubbench-like events on SQLite, a chunk per
// transaction as the pipeline does: lifecycle events of 1,000 known
// incidents, one by one with the reference (Apply as it was) or with
// ApplyBatch, and a storm's (every event a new incident, 20,000 stored
// before) with ApplyBatch.
func BenchmarkApplyBatch(b *testing.B) {
	for _, bc := range []struct {
		name  string
		chunk int
		batch bool
		storm bool
	}{
		{"one-by-one/chunk=16", 16, false, false},
		{"batch/chunk=1", 1, true, false},
		{"batch/chunk=16", 16, true, false},
		{"batch/chunk=32", 32, true, false},
		{"batch/chunk=64", 64, true, false},
		{"batch/chunk=128", 128, true, false},
		{"storm/chunk=8", 8, true, true},
		{"storm/chunk=32", 32, true, true},
		{"storm/chunk=256", 256, true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := storetest.Open(b, "sqlite").Bun()
			ctx := context.Background()
			incidents, stored := 1000, 1000
			if bc.storm {
				incidents, stored = math.MaxInt32, 20_000
			}
			warm := benchEvents(0, stored, incidents)
			for len(warm) > 0 {
				c := warm[:min(1000, len(warm))]
				warm = warm[len(c):]
				runInTx(b, db, func(ctx context.Context, tx bun.Tx) error {
					_, err := ApplyBatch(ctx, tx, c)
					return err
				})
			}
			items := benchEvents(stored, b.N, incidents)
			hook := &countHook{}
			db.AddQueryHook(hook)
			b.ResetTimer()
			for rest := items; len(rest) > 0; {
				c := rest[:min(bc.chunk, len(rest))]
				rest = rest[len(c):]
				err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					if bc.batch {
						_, err := ApplyBatch(ctx, tx, c)
						return err
					}
					for _, it := range c {
						if _, _, err := applyReference(ctx, tx, it.Src, it.Event); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
			b.ReportMetric(float64(hook.n.Load())/float64(b.N), "stmts/event")
		})
	}
}
