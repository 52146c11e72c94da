package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
)

// BenchmarkEarlyCorrelation: a storm's early correlation on SQLite, as
// its correlate_incidents jobs run once the storm is applied: 2,048 new
// incidents over 20 services, CorrelateBatch per job, IdleCorrelateChunk per
// transaction.
// Reports the time per incident.
func BenchmarkEarlyCorrelation(b *testing.B) {
	const storm, perJob, perTx = 2048, pipeline.CorrelateBatch, pipeline.IdleCorrelateChunk
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		st := storetest.Open(b, "sqlite")
		w := &pipeline.CorrelateIncidentsWorker{Deps: earlyDeps(st)}
		ids := make([]string, 0, storm)
		base := time.Now().UTC().Add(-time.Minute)
		src := incidents.Source{Provider: "pagerduty", OwnerKind: "user", OwnerID: "u1", ConnectionID: "c1"}
		for start := 0; start < storm; start += 256 {
			err := st.Bun().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				for i := start; i < start+256; i++ {
					at := base.Add(time.Duration(i) * time.Millisecond)
					svc := i % 20
					id, _, err := incidents.Apply(ctx, tx, src, sdk.Event{ID: fmt.Sprintf("e%d", i), Type: "incident.triggered", OccurredAt: at,
						Incident: &sdk.Incident{ExternalID: fmt.Sprintf("PSTORM%07d", i), Status: "triggered", Urgency: "high", CreatedAt: at,
							Title:   fmt.Sprintf("Storm: checkout errors on svc-%02d (%d)", svc, i),
							Service: &sdk.Reference{ID: fmt.Sprintf("PSVC%03d", svc), Summary: fmt.Sprintf("svc-%02d", svc)}}})
					ids = append(ids, id)
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		began := time.Now()
		for job := 0; job < storm; job += perJob {
			order, err := w.ByService(ctx, ids[job:job+perJob])
			if err != nil {
				b.Fatal(err)
			}
			for len(order) > 0 {
				n := min(perTx, len(order))
				if err := w.CorrelateEarly(ctx, order[:n]); err != nil {
					b.Fatal(err)
				}
				order = order[n:]
			}
		}
		b.ReportMetric(float64(time.Since(began).Microseconds())/storm, "µs/incident")
		b.StopTimer()
		var attached int
		if err := st.Bun().NewSelect().Table("incidents").ColumnExpr("count(*)").Where("parent_incident_id IS NOT NULL").Scan(ctx, &attached); err != nil {
			b.Fatal(err)
		}
		if attached != storm-20 {
			b.Fatalf("%d of %d incidents attached, want all but the 20 services' first", attached, storm)
		}
		b.StartTimer()
	}
}
