package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
)

// TestEarlyCorrelationMatchesOneByOne: two tenants get the same random
// incidents (six services over ten minutes, incident keys shared across
// services, titles that match or not, starts that tie). One tenant's are
// correlated one incident per transaction, each with reads of its own; the
// other's as the jobs do, IdleCorrelateChunk per transaction with shared reads
// (incidents.CandidateBatch). Every incident ends with the same parent,
// count and affected services.
func TestEarlyCorrelationMatchesOneByOne(t *testing.T) {
	for _, driver := range storetest.Backends(t) {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, driver)
			w := &pipeline.CorrelateIncidentsWorker{Deps: earlyDeps(st)}
			rng := rand.New(rand.NewPCG(11, 17))
			titles := []string{"Connection errors on postgres-primary", "Replication lag on postgres-primary", "Disk almost full on db-7", "Certificate expired for www"}
			base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			const n = 160
			tenants := []string{"one-by-one", "batched"}
			ids := map[string][]string{}
			specs := make([]opened, n)
			for i := range specs {
				specs[i] = opened{at: base.Add(time.Duration(rng.IntN(40*60)) * time.Second / 4), service: fmt.Sprintf("S%d", rng.IntN(6)), title: titles[rng.IntN(len(titles))]}
				if rng.IntN(6) == 0 {
					specs[i].key = fmt.Sprintf("k%d", rng.IntN(3))
				}
			}
			for _, tenant := range tenants {
				src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: tenant, ConnectionID: "c-" + tenant}
				ids[tenant] = openAll(t, st, src, specs)
			}
			// Jobs of 80 in a random order, as apply chunks may open them:
			// each more than one transaction.
			const perJob = 80
			order := rng.Perm(n)
			for job := 0; job < n; job += perJob {
				for _, tenant := range tenants {
					var jobIDs []string
					for _, i := range order[job : job+perJob] {
						jobIDs = append(jobIDs, ids[tenant][i])
					}
					sorted, err := w.ByService(ctx, jobIDs)
					if err != nil {
						t.Fatal(err)
					}
					per := 1
					if tenant == "batched" {
						per = pipeline.IdleCorrelateChunk
					}
					for len(sorted) > 0 {
						k := min(per, len(sorted))
						if err := w.CorrelateEarly(ctx, sorted[:k]); err != nil {
							t.Fatal(err)
						}
						sorted = sorted[k:]
					}
				}
			}
			type state struct {
				Ext      string  `bun:"ext"`
				Parent   *string `bun:"parent"`
				Count    int     `bun:"cnt"`
				Services string  `bun:"services"`
			}
			read := func(tenant string) []state {
				var out []state
				if err := st.Bun().NewRaw("SELECT i.external_id AS ext, p.external_id AS parent, i.correlated_alert_count AS cnt, i.affected_services AS services"+
					" FROM incidents i LEFT JOIN incidents p ON p.id = i.parent_incident_id WHERE i.owner_id = ? ORDER BY i.external_id", tenant).Scan(ctx, &out); err != nil {
					t.Fatal(err)
				}
				return out
			}
			one, batched := read("one-by-one"), read("batched")
			attached := 0
			for i := range one {
				if one[i].Parent != nil {
					attached++
				}
				if !reflect.DeepEqual(one[i], batched[i]) {
					t.Errorf("%s: one by one parent %s count %d services %s; batched parent %s count %d services %s", one[i].Ext,
						deref(one[i].Parent), one[i].Count, one[i].Services, deref(batched[i].Parent), batched[i].Count, batched[i].Services)
				}
			}
			if attached == 0 || attached == n {
				t.Fatalf("%d of %d attached: the input does not exercise both outcomes", attached, n)
			}
			t.Logf("%d of %d incidents attached, the same both ways", attached, n)
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "none"
	}
	return *s
}
