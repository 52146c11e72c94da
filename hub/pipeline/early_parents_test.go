package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// readsOneByID matches a read of one incident by id; writesAttachments
// the statement that writes a transaction's attachments together
// (PostgreSQL).
func readsOneByID(q string) bool {
	return strings.HasPrefix(q, "SELECT") && strings.Contains(q, "FROM incidents WHERE id = ")
}

func writesAttachments(q string) bool {
	return strings.HasPrefix(q, "WITH a AS") && strings.Contains(q, "INSERT INTO incident_correlations")
}

// TestEarlyCorrelationReadsStormParentsTogether: in a storm, the parent of
// a service's incidents is its first, older than the newest incidents that
// a transaction's candidate reads hold. A transaction over four services'
// incidents, started in the same few seconds and handed over in any order,
// reads their parents in one statement before it attaches anything, reads
// no incident on its own, and writes its attachments in one statement.
// Each parent was read on its own when first needed, with the attachments
// gathered so far written before the read: on PostgreSQL, round trips made
// while the tenant's correlation lock is held. Every incident still joins
// its service's first, which counts them all.
func TestEarlyCorrelationReadsStormParentsTogether(t *testing.T) {
	const services, perService, last = 4, 120, 16
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			w := &pipeline.CorrelateIncidentsWorker{Deps: earlyDeps(st)}
			src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}
			base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
			rng := rand.New(rand.NewPCG(3, 5))
			specs := make([]opened, services*perService)
			for i := range specs {
				s := i % services
				specs[i] = opened{at: base.Add(time.Duration(i/100) * time.Second), service: fmt.Sprint(s),
					title: fmt.Sprintf("Storm: checkout errors on svc-%d (%d)", s, i)}
			}
			ids := make([][]string, services)
			for i, id := range openAll(t, st, src, specs) {
				ids[i%services] = append(ids[i%services], id)
			}
			correlate := func(chunk []string) {
				t.Helper()
				chunk = slices.Clone(chunk)
				rng.Shuffle(len(chunk), func(i, j int) { chunk[i], chunk[j] = chunk[j], chunk[i] })
				sorted, err := w.ByService(ctx, chunk)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.CorrelateEarly(ctx, sorted); err != nil {
					t.Fatal(err)
				}
			}
			// All but each service's last 16, as the jobs take them: 64 at a
			// time, in the order they started.
			var earlier, lastChunk []string
			for i := range perService {
				for s := range services {
					if i < perService-last {
						earlier = append(earlier, ids[s][i])
					} else {
						lastChunk = append(lastChunk, ids[s][i])
					}
				}
			}
			for len(earlier) > 0 {
				n := min(pipeline.IdleCorrelateChunk, len(earlier))
				correlate(earlier[:n])
				earlier = earlier[n:]
			}
			byID := storetest.CountQueries(st.Bun(), readsOneByID)
			flushes := storetest.CountQueries(st.Bun(), writesAttachments)
			correlate(lastChunk)
			if st.Bun().Dialect().Name() == dialect.PG {
				if n := byID.Load(); n != 0 {
					t.Errorf("the last transaction read %d incidents one by one, want none (its parents read together)", n)
				}
				if n := flushes.Load(); n != 1 {
					t.Errorf("the last transaction wrote its attachments in %d statements, want 1", n)
				}
			}
			for s := range services {
				var parents []string
				var count int
				if err := st.Bun().NewSelect().Table("incidents").ColumnExpr("DISTINCT parent_incident_id").
					Where("id IN (?)", bun.In(ids[s][1:])).Scan(ctx, &parents); err != nil {
					t.Fatal(err)
				}
				if err := st.Bun().NewSelect().Table("incidents").Column("correlated_alert_count").Where("id = ?", ids[s][0]).Scan(ctx, &count); err != nil {
					t.Fatal(err)
				}
				if len(parents) != 1 || parents[0] != ids[s][0] || count != perService-1 {
					t.Errorf("service %d: its incidents joined %v, its first counts %d, want all %s with %d", s, parents, count, ids[s][0], perService-1)
				}
			}
		})
	}
}

// TestByServiceOrdersTiesByID: a storm's incidents start in the same
// second (providers give seconds), and a job's incidents come in any
// order. ByService puts each service's together, in the order in which
// they may join one another: by start, ties broken by id. Ordered by start
// alone, an incident joined one later in the same transaction, which was
// then read again and moved along when it joined its own parent: in a
// PostgreSQL storm, 2 s of the early correlation's 21.
func TestByServiceOrdersTiesByID(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite")
	w := &pipeline.CorrelateIncidentsWorker{Deps: earlyDeps(st)}
	src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	specs := make([]opened, 90)
	for i := range specs {
		specs[i] = opened{at: at, service: fmt.Sprint(i % 3), title: "Storm"}
	}
	ids := openAll(t, st, src, specs)
	service := map[string]string{}
	for i, id := range ids {
		service[id] = specs[i].service
	}
	rng := rand.New(rand.NewPCG(7, 9))
	for range 5 {
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		got, err := w.ByService(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, id := range got {
			switch s := service[id]; {
			case i > 0 && s == service[got[i-1]]:
				if got[i-1] > id {
					t.Fatalf("%s before %s: ties not in id order", got[i-1], id)
				}
			case seen[s]:
				t.Fatalf("service %s's incidents apart", s)
			default:
				seen[s] = true
			}
		}
	}
}
