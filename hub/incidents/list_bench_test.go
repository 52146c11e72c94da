package incidents

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/uptrace/bun"
)

// BenchmarkList pages through 10,000 stored incidents on SQLite, 500 a
// page, as a client reading a whole storm does (hubbench's "listed").
func BenchmarkList(b *testing.B) {
	const stored = 10_000
	db := storetest.Open(b, "sqlite").Bun()
	for from := 0; from < stored; from += 1000 {
		runInTx(b, db, func(ctx context.Context, tx bun.Tx) error {
			_, err := ApplyBatch(ctx, tx, benchEvents(from, 1000, stored))
			return err
		})
	}
	owner := hub.Owner{UserID: "bench-user"}
	ctx := context.Background()
	b.ResetTimer()
	listed := 0
	for range b.N {
		cursor := ""
		for {
			items, next, err := List(ctx, db, owner, Filter{Limit: 500, Cursor: cursor, IncludeCorrelated: true})
			if err != nil {
				b.Fatal(err)
			}
			listed += len(items)
			if cursor = next; cursor == "" {
				break
			}
		}
	}
	if listed != stored*b.N {
		b.Fatalf("listed %d, want %d", listed, stored*b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(listed), "ns/incident")
}
