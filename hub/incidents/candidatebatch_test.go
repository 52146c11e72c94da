package incidents_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/incidents"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// TestCandidateBatchMatchesCandidates: for chunks of incidents correlated
// one after another in one transaction, some joining what they match, the
// batch answers exactly what Candidates reads: the same incidents in the
// same order, with their parents and affected services as the transaction
// left them. Services with more incidents than a batch's read holds make it
// fall back to Candidates for the older ones; starts tie often.
func TestCandidateBatchMatchesCandidates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 13))
		const window = time.Hour
		services := []string{"S1", "S1", "S1", "S2", "S2", "S3"}
		var open []string
		for i := range 90 {
			status := "triggered"
			if rng.IntN(8) == 0 {
				status = "resolved"
			}
			mods := []func(*sdk.Incident){onService(services[rng.IntN(len(services))], "svc")}
			if rng.IntN(5) == 0 {
				mods = append(mods, withKey("shared"))
			}
			ext := fmt.Sprintf("P%03d", i)
			when := at(-rng.IntN(100)) // 100 minutes, so starts tie and some fall outside the window
			id, _ := apply(t, db, src1, event("e-"+ext, "incident."+status, when, full(ext, status, mods...)))
			if status == "triggered" {
				open = append(open, id)
			}
		}
		var compared, attached, tops int
		for round := range 8 {
			chunk := make([]string, 0, 12)
			for _, i := range rng.Perm(len(open))[:12] {
				chunk = append(chunk, open[i])
			}
			err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var incs []*incidents.Facts
				for _, id := range chunk {
					incs = append(incs, facts(t, tx, id))
				}
				batch, err := incidents.NewCandidateBatch(ctx, tx, incs, window)
				if err != nil {
					return err
				}
				for _, id := range chunk {
					inc := facts(t, tx, id)
					since := inc.StartedAt.Add(-window)
					want, err := incidents.Candidates(ctx, tx, inc, since, true)
					if err != nil {
						return err
					}
					got, err := batch.Candidates(ctx, inc, since)
					if err != nil {
						return err
					}
					for _, f := range [][]incidents.Facts{want, got} {
						for i := range f {
							f[i].StartedAt = f[i].StartedAt.UTC()
						}
					}
					if (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
						t.Fatalf("round %d, %s: batch answered\n%+v\nCandidates read\n%+v", round, inc.ExternalID, got, want)
					}
					compared++
					if len(want) == 0 || inc.ParentIncidentID != nil || rng.IntN(3) == 0 {
						continue
					}
					parent := &want[rng.IntN(len(want))]
					if parent.ParentIncidentID != nil {
						if *parent.ParentIncidentID == inc.ID {
							continue
						}
						parent = facts(t, tx, *parent.ParentIncidentID)
					}
					services := append(parent.AffectedServices, fmt.Sprintf("from-%s", inc.ExternalID))
					if err := incidents.Attach(ctx, tx, incidents.Attachment{IncidentID: inc.ID, ParentID: parent.ID,
						AffectedServices: services, Parts: "{}", At: at(1)}); err != nil {
						return err
					}
					batch.Attached(inc.ID, parent.ID, services)
					attached++
					// The parent's facts as the batch holds them are what a
					// read finds now (but the count, which the batch leaves out).
					if got, ok := batch.Top(parent.ID); ok {
						want := *facts(t, tx, parent.ID)
						got.StartedAt, want.StartedAt = got.StartedAt.UTC(), want.StartedAt.UTC()
						got.Attached = want.Attached
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("round %d: the batch holds parent %s as\n%+v\na read finds\n%+v", round, parent.ExternalID, got, want)
						}
						tops++
					}
					if _, ok := batch.Top(inc.ID); ok {
						t.Fatalf("round %d: %s joined %s, and the batch still answers it as top-level", round, inc.ExternalID, parent.ExternalID)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%d candidate lists compared, %d attachments, %d parents held by the batch", compared, attached, tops)
		if tops == 0 {
			t.Error("no parent was held by the batch: Top was not compared")
		}
	})
}

// readsIncidents matches the statements that read incidents (alone, or
// a UNION ALL of parenthesized reads).
func readsIncidents(q string) bool {
	q = strings.TrimLeft(q, "(")
	return strings.HasPrefix(q, "SELECT") && strings.Contains(q, "FROM incidents")
}

// TestCandidateBatchReadsOnFromItsPool: a chunk's incidents of one service
// are one in ten of the service's (other chunks hold the rest, as in a
// storm applied by several workers), so the batch's first read holds the
// candidates of its newest few only. The others are answered from reads
// that continue the pool where it stopped, a few for the chunk, where each
// read its own candidates before (20 reads, a round trip each on
// PostgreSQL), and the answers are still what Candidates reads.
func TestCandidateBatchReadsOnFromItsPool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		var chunk []string
		for i := range 200 {
			ext := fmt.Sprintf("P%03d", i)
			id, _ := apply(t, db, src1, event("e-"+ext, "incident.triggered", at(i), full(ext, "triggered", onService("S1", "svc"), withKey(""))))
			if i%10 == 0 {
				chunk = append(chunk, id)
			}
		}
		_, reads := batchAnswers(t, db, chunk, 24*time.Hour)
		if db.Dialect().Name() == dialect.PG && reads > 5 {
			t.Errorf("the batch read incidents %d times for %d incidents of one service, want at most 5", reads, len(chunk))
		} else {
			t.Logf("%d reads for %d incidents", reads, len(chunk))
		}
	})
}

// TestCandidateBatchReadsItsPoolsTogether: a transaction's incidents of
// four services have their pools read in one statement on PostgreSQL (a
// read each was a round trip made under the tenant's correlation lock),
// and every incident is answered what Candidates reads.
func TestCandidateBatchReadsItsPoolsTogether(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *bun.DB) {
		var chunk []string
		for i := range 80 {
			ext := fmt.Sprintf("P%03d", i)
			id, _ := apply(t, db, src1, event("e-"+ext, "incident.triggered", at(i), full(ext, "triggered", onService(fmt.Sprintf("S%d", i%4), "svc"), withKey(""))))
			if i >= 60 {
				chunk = append(chunk, id)
			}
		}
		if reads, _ := batchAnswers(t, db, chunk, 24*time.Hour); db.Dialect().Name() == dialect.PG && reads != 1 {
			t.Errorf("the pools of 4 services read in %d statements, want 1", reads)
		}
	})
}

// batchAnswers builds a CandidateBatch over chunk's incidents in one
// transaction and checks that it answers each what Candidates reads. It
// returns how many times building the batch read incidents, and how many
// times building and answering did: counted on PostgreSQL only, SQLite's
// reads of candidates run on the connection's prepared statements, past
// Bun's hooks.
func batchAnswers(t *testing.T, db *bun.DB, chunk []string, window time.Duration) (built, answered int64) {
	t.Helper()
	ctx := context.Background()
	reads := storetest.CountQueries(db, readsIncidents)
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var incs []*incidents.Facts
		want := map[string][]incidents.Facts{}
		for _, id := range chunk {
			inc := facts(t, tx, id)
			incs = append(incs, inc)
			w, err := incidents.Candidates(ctx, tx, inc, inc.StartedAt.Add(-window), true)
			if err != nil {
				return err
			}
			want[id] = w
		}
		before := reads.Load()
		batch, err := incidents.NewCandidateBatch(ctx, tx, incs, window)
		if err != nil {
			return err
		}
		built = reads.Load() - before
		for _, inc := range incs {
			got, err := batch.Candidates(ctx, inc, inc.StartedAt.Add(-window))
			if err != nil {
				return err
			}
			if w := want[inc.ID]; !reflect.DeepEqual(ids(got), ids(w)) {
				t.Errorf("%s: batch answered %v, Candidates read %v", inc.ExternalID, ids(got), ids(w))
			}
		}
		answered = reads.Load() - before
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return built, answered
}
