package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/uptrace/bun"
)

// The hub reads River's tables only here and in rescue.go, where River's
// client API has no answer (counts by kind and state, ages); everything
// else goes through the River client.

// Group is a count of River jobs of one kind in one state.
type Group struct {
	Kind, State string
	Count       int64
	// OldestAge is the age of the oldest job, measured from the time that
	// matters in its state (see Count); 0 when there is none.
	OldestAge time.Duration
}

// ageSQL is, per driver, the SQL of "seconds since the oldest of these
// times" (NULL when there are none).
func ageSQL(driver, expr string) string {
	if driver == "postgres" {
		return "extract(epoch from now() - min(" + expr + "))"
	}
	// River stores SQLite times as text; julianday reads every format used.
	return "(julianday('now') - min(julianday(" + expr + "))) * 86400.0"
}

// Count counts River's jobs in states by kind and state, with the age of
// the oldest of each group: from scheduled_at when available, the attempt
// when running or retryable, finalized_at when discarded, created_at
// otherwise.
func Count(ctx context.Context, st *store.Store, states []string) ([]Group, error) {
	since := "CASE state WHEN 'available' THEN scheduled_at WHEN 'running' THEN attempted_at " +
		"WHEN 'retryable' THEN coalesce(attempted_at, created_at) WHEN 'discarded' THEN finalized_at ELSE created_at END"
	q := "SELECT kind, state, count(*), " + ageSQL(st.Driver, since) +
		" FROM river_job WHERE state IN (?) GROUP BY kind, state ORDER BY kind, state"
	rows, err := st.Bun().QueryContext(ctx, q, bun.List(states))
	if err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var oldest sql.NullFloat64
		if err := rows.Scan(&g.Kind, &g.State, &g.Count, &oldest); err != nil {
			return nil, fmt.Errorf("counting jobs: %w", err)
		}
		g.OldestAge = seconds(oldest)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting jobs: %w", err)
	}
	return out, nil
}

// OldestAvailable is how long the oldest job ready to run has waited since
// it was scheduled (0 when none is waiting).
func OldestAvailable(ctx context.Context, st *store.Store) (time.Duration, error) {
	q := "SELECT " + ageSQL(st.Driver, "scheduled_at") + " FROM river_job WHERE state = 'available'"
	var age sql.NullFloat64
	if err := st.Bun().QueryRowContext(ctx, q).Scan(&age); err != nil {
		return 0, fmt.Errorf("reading the oldest job ready to run: %w", err)
	}
	return seconds(age), nil
}

func seconds(f sql.NullFloat64) time.Duration {
	if !f.Valid || f.Float64 < 0 {
		return 0
	}
	return time.Duration(f.Float64 * float64(time.Second))
}

// Replica is a hub process's row in hub_replicas.
type Replica struct {
	bun.BaseModel `bun:"table:hub_replicas"`

	ID          string    `bun:"id,pk"`
	Hostname    string    `bun:"hostname"`
	PID         int       `bun:"pid"`
	HeartbeatAt time.Time `bun:"heartbeat_at"`
}

// ReplicasByID returns the rows of the replicas ids that have one.
func ReplicasByID(ctx context.Context, st *store.Store, ids []string) ([]Replica, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []Replica
	if err := st.Bun().NewSelect().Model(&rows).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading replicas: %w", err)
	}
	return rows, nil
}
